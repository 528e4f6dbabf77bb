//! Partner-produced records on the ingress topic: Confluent-framed Avro
//! decoded against the `ContractEvent` schema (the writer's schema as the
//! registry would return it, here the shipped one), then the terms JSON
//! and signature check the validate stage does next.
//!
//! Oracles: nothing panics; a record that decodes re-encodes and decodes
//! to the same event.
#![no_main]

use std::sync::LazyLock;

use apache_avro::Schema;
use libfuzzer_sys::fuzz_target;
use moneta_avro::{ContractEvent, ParseSchema, SchemaName, decode_framed};

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    SchemaName::ContractEvent
        .parse()
        .expect("the shipped schema parses")
});

fuzz_target!(|data: &[u8]| {
    let schema = &*SCHEMA;
    let Ok(event) = decode_framed::<ContractEvent>(SchemaName::ContractEvent, schema, schema, data)
    else {
        return;
    };
    let value = apache_avro::to_value(&event).expect("an event converts");
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .expect("an event encodes");
    let mut framed = vec![0, 0, 0, 0, 1];
    framed.extend_from_slice(&datum);
    let back: ContractEvent =
        decode_framed(SchemaName::ContractEvent, schema, schema, &framed).expect("decodes again");
    assert_eq!(back, event);

    // What the validate stage does with it next.
    let Ok(attributes) = serde_json::from_str::<serde_json::Value>(&event.contract.terms_json)
    else {
        return;
    };
    let terms = moneta_domain::ContractTerms {
        contract_id: event.contract.contract_id.clone(),
        contract_type: event.contract.contract_type.clone(),
        template_name: event.contract.template_name.clone(),
        template_version: u32::try_from(event.contract.template_version).unwrap_or_default(),
        mo_id: event.contract.mo_id.clone(),
        publisher_id: event.contract.publisher_id.clone(),
        mpass_id: event.contract.mpass_id.clone(),
        description: event.contract.description.clone(),
        terms: attributes,
    };
    if let Ok(input) = terms.signing_input() {
        let key = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        let _ = moneta_signing::verify_ed25519(key, &input, &event.signature.signature);
    }
});

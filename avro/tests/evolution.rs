//! Schema evolution of Moneta's own schemas against the embedded registry
//! on a real broker: a BACKWARD-compatible change to the contract event
//! registers as a new version, an incompatible one is refused, clearly.

use moneta_avro::SchemaName;
use moneta_schema_registry::{RegistryError, SchemaRegistry, register_all};

/// The shipped contract event with one more field appended before the end.
fn with_field(field: &str) -> String {
    let text = SchemaName::ContractEvent.text();
    let end = text.rfind(']').expect("fields array");
    format!("{}, {field}\n  ]\n}}\n", text[..end].trim_end())
}

#[tokio::test(flavor = "multi_thread")]
async fn compatible_changes_register_and_incompatible_ones_are_refused() -> anyhow::Result<()> {
    let kafka = moneta_kafka::KafkaConfig {
        bootstrap_servers: moneta_testkit::kafka()?,
        ..Default::default()
    };
    let registry =
        SchemaRegistry::start(&kafka, &moneta_testkit::unique("_evolution_schemas")).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(registry.serve_on(listener, std::future::pending()));
    let subject = "moneta.contracts.ingest-value".to_owned();

    let v1 = register_all(
        &url,
        &[(subject.clone(), SchemaName::ContractEvent.text().into())],
    )
    .await?;
    let compatible = with_field(
        r#"{"name": "channel", "type": ["null", "string"], "default": null, "doc": "added later"}"#,
    );
    let v2 = register_all(&url, &[(subject.clone(), compatible)]).await?;
    assert_ne!(v1, v2, "a compatible change is a new schema");
    moneta_tls::install_crypto_provider();
    let versions: Vec<u32> = reqwest::get(format!("{url}/subjects/{subject}/versions"))
        .await?
        .json()
        .await?;
    assert_eq!(versions, [1, 2]);

    let incompatible = with_field(r#"{"name": "priority", "type": "int"}"#);
    match register_all(&url, &[(subject.clone(), incompatible)]).await {
        Err(RegistryError::Incompatible {
            subject: s,
            message,
        }) => {
            assert_eq!(s, subject);
            assert!(message.contains("priority"), "names the field: {message}");
        }
        other => panic!("an incompatible change must be refused, got {other:?}"),
    }
    Ok(())
}

/// A record an older producer wrote, without a field the shipped schema
/// has (with its default), decodes to the shipped type with the default:
/// the value is resolved against the reader's schema. One written with the
/// shipped schema itself decodes unresolved, to the same value.
#[tokio::test(flavor = "multi_thread")]
async fn an_older_writers_record_is_resolved_to_the_readers_schema() -> anyhow::Result<()> {
    use moneta_avro::{
        AvroCodec, ContractEvent, ContractTerms, ParseSchema, Party, PartySignature, Source,
    };

    let kafka = moneta_kafka::KafkaConfig {
        bootstrap_servers: moneta_testkit::kafka()?,
        ..Default::default()
    };
    let registry = SchemaRegistry::start(&kafka, &moneta_testkit::unique("_older_writer")).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(registry.serve_on(listener, std::future::pending()));

    // The shipped contract event without its `source` field (default KAFKA).
    let mut older: serde_json::Value = serde_json::from_str(SchemaName::ContractEvent.text())?;
    let fields = older["fields"].as_array_mut().expect("fields");
    fields.retain(|f| f["name"] != "source");
    let older_text = older.to_string();
    let ids = register_all(
        &url,
        &[
            ("older-value".to_owned(), older_text.clone()),
            (
                "shipped-value".to_owned(),
                SchemaName::ContractEvent.text().into(),
            ),
        ],
    )
    .await?;

    let event = ContractEvent {
        event_id: "ev-older".into(),
        contract: ContractTerms {
            contract_id: "c-older".into(),
            contract_type: "subscription_charge".into(),
            template_name: "subscription-charge".into(),
            template_version: 1,
            mo_id: "mo-acme".into(),
            publisher_id: "pub-globe".into(),
            mpass_id: None,
            description: String::new(),
            terms_json: "{}".into(),
        },
        signature: PartySignature {
            party: Party::Publisher,
            key_id: "key-globe-1".into(),
            signature: "AA==".into(),
            signed_at: 1,
        },
        source: Source::Http,
        submitted_by: None,
        received_at_ms: Some(5),
    };
    let framed = |schema: &apache_avro::Schema, id: u32, value| -> anyhow::Result<Vec<u8>> {
        let mut bytes = vec![0];
        bytes.extend_from_slice(&id.to_be_bytes());
        let writer = apache_avro::writer::datum::GenericDatumWriter::builder(schema).build()?;
        bytes.extend(writer.write_value_to_vec(value)?);
        Ok(bytes)
    };
    let codec = AvroCodec::new(&url)?;

    let shipped = SchemaName::ContractEvent.parse()?;
    let same = framed(&shipped, ids[1], apache_avro::to_value(&event)?)?;
    let back: ContractEvent = codec.decode(SchemaName::ContractEvent, &same).await?;
    assert_eq!(back, event);

    let older = apache_avro::Schema::parse_str(&older_text)?;
    let apache_avro::types::Value::Record(mut fields) = apache_avro::to_value(&event)? else {
        panic!("a record");
    };
    fields.retain(|(name, _)| name != "source");
    let old = framed(&older, ids[0], apache_avro::types::Value::Record(fields))?;
    let back: ContractEvent = codec.decode(SchemaName::ContractEvent, &old).await?;
    assert_eq!(back.source, Source::Kafka, "the reader's default");
    assert_eq!(back.event_id, event.event_id);
    Ok(())
}

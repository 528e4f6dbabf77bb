//! Criterion micro-benchmarks of the signing path's building blocks:
//! canonical JSON (RFC 8785) and ed25519 over contract terms, RFC 9421
//! request signing, Avro encode/decode of a contract event, template
//! validation, and state-store reads and compare-and-set writes.
//!
//! `cargo bench -p moneta-load-tests --bench micro`; see load-tests/README.md.

#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use moneta_avro::ParseSchema;
use moneta_avro::{ContractEvent, Party, PartySignature, SchemaName, Source};
use moneta_domain::{ContractTemplate, ContractTerms, MPass};
use moneta_signing::SigningKey;
use moneta_state::{ContractKeys, ContractWrite, EmbeddedStore, Registry, StateStore};
use serde_json::json;

const TEMPLATE: &str = include_str!("../../schemas/templates/subscription-charge.yaml");

fn terms() -> ContractTerms {
    ContractTerms {
        contract_id: "bench-contract-000000001".into(),
        contract_type: "subscription_charge".into(),
        template_name: "subscription-charge".into(),
        template_version: 1,
        mo_id: "mo-lt-001".into(),
        publisher_id: "pub-lt-001".into(),
        mpass_id: Some("mp-lt-001".into()),
        description: "load test subscription charge".into(),
        terms: json!({
            "subscription_id": "sub-1",
            "mpass_number": "0001",
            "amount_minor": 999,
            "currency": "EUR",
            "period_start": "2026-11-01",
            "period_end": "2026-11-30",
            "charged_at": "2026-11-01T00:00:00Z",
        }),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn signing(c: &mut Criterion) {
    let terms = terms();
    let document = terms.document();
    let key = SigningKey::from_bytes(&[7; 32]);
    let public = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes())
    };
    let input = terms.signing_input().expect("canonical terms");
    let signature = moneta_signing::sign_ed25519(&key, &input);
    let mut group = c.benchmark_group("signing");
    group.bench_function("canonical_json_rfc8785", |b| {
        b.iter(|| moneta_signing::canonicalize(black_box(&document)))
    });
    group.bench_function("ed25519_sign", |b| {
        b.iter(|| moneta_signing::sign_ed25519(&key, black_box(&input)))
    });
    group.bench_function("ed25519_verify", |b| {
        b.iter(|| moneta_signing::verify_ed25519(&public, black_box(&input), &signature))
    });
    // What verifying saves by keeping decoded keys (moneta_signing::public_key).
    let raw = key.verifying_key().to_bytes();
    group.bench_function("ed25519_decode_public_key", |b| {
        b.iter(|| moneta_signing::VerifyingKey::from_bytes(black_box(&raw)))
    });
    group.bench_function("canonicalize_sign_verify", |b| {
        b.iter(|| {
            let input = terms.signing_input().expect("canonical terms");
            let signature = moneta_signing::sign_ed25519(&key, &input);
            moneta_signing::verify_ed25519(&public, &input, &signature)
        })
    });
    let client = moneta_ingest::PartnerClient::new("http://127.0.0.1:1", "key-1", key.clone());
    let body = serde_json::to_vec(&document).expect("JSON");
    group.bench_function("rfc9421_sign_request", |b| {
        b.iter(|| client.sign_request("POST", "/v1/events/subscription_charges", black_box(&body)))
    });
    group.finish();
}

fn event() -> ContractEvent {
    let t = terms();
    ContractEvent {
        event_id: "bench-contract-000000001-publisher".into(),
        contract: moneta_avro::ContractTerms {
            contract_id: t.contract_id,
            contract_type: t.contract_type,
            template_name: t.template_name,
            template_version: 1,
            mo_id: t.mo_id,
            publisher_id: t.publisher_id,
            mpass_id: t.mpass_id,
            description: t.description,
            terms_json: t.terms.to_string(),
        },
        signature: PartySignature {
            party: Party::Publisher,
            key_id: "key-pub-lt-001".into(),
            signature: "A".repeat(86),
            signed_at: 1_790_000_000,
        },
        source: Source::Http,
        submitted_by: Some("pub-lt-001".into()),
        received_at_ms: Some(1_790_000_000_000),
    }
}

/// What the registry-backed encoder does once it knows the schema id:
/// the datum, behind the Confluent framing (magic byte, 4-byte id).
fn encode_framed(schema: &apache_avro::Schema, event: &ContractEvent) -> Vec<u8> {
    let value = apache_avro::to_value(event).expect("an Avro value");
    let value = value.resolve(schema).expect("resolves to the schema");
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(schema)
        .build()
        .expect("a writer")
        .write_value_to_vec(value)
        .expect("a datum");
    let mut framed = vec![0, 0, 0, 0, 1];
    framed.extend_from_slice(&datum);
    framed
}

/// What the decoder does once it has the writer's schema: strip the
/// framing, read the datum, resolve it to the reader schema, deserialize.
fn decode_framed(schema: &apache_avro::Schema, bytes: &[u8]) -> ContractEvent {
    let mut datum = &bytes[5..];
    let value = apache_avro::reader::datum::GenericDatumReader::builder(schema)
        .reader_schema(schema)
        .build()
        .expect("a reader")
        .read_value(&mut datum)
        .expect("a value");
    apache_avro::from_value(&value).expect("a contract event")
}

fn avro(c: &mut Criterion) {
    let schema = SchemaName::ContractEvent
        .parse()
        .expect("the shipped schema");
    let event = event();
    let bytes = encode_framed(&schema, &event);
    let mut group = c.benchmark_group("avro");
    group.bench_function("contract_event_encode", |b| {
        b.iter(|| encode_framed(&schema, black_box(&event)))
    });
    group.bench_function("contract_event_decode", |b| {
        b.iter(|| decode_framed(&schema, black_box(&bytes)))
    });
    group.finish();
}

fn templates(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("a store"));
    let registry = Registry::new(store);
    rt.block_on(registry.create(&ContractTemplate::new(
        "subscription-charge",
        1,
        "bench",
        0,
        true,
        TEMPLATE,
    )))
    .expect("the template stored");
    let cache = moneta_processors::templates::TemplateCache::new(registry);
    let template = rt
        .block_on(cache.get("subscription-charge", 1))
        .expect("read")
        .expect("present");
    let valid = terms().terms;
    let mut invalid = valid.clone();
    invalid["currency"] = json!("euro");
    invalid["amount_minor"] = json!(-5);
    let mut group = c.benchmark_group("templates");
    group.bench_function("validate_valid_terms", |b| {
        b.iter(|| template.payload_errors(black_box(&valid)))
    });
    group.bench_function("validate_invalid_terms", |b| {
        b.iter(|| template.payload_errors(black_box(&invalid)))
    });
    group.bench_function("cache_hit_and_validate", |b| {
        b.iter(|| {
            rt.block_on(async {
                let t = cache
                    .get("subscription-charge", 1)
                    .await
                    .expect("read")
                    .expect("present");
                t.payload_errors(&valid)
            })
        })
    });
    group.bench_function("parse_template_yaml", |b| {
        b.iter(|| moneta_domain::TemplateDocument::parse(black_box(TEMPLATE)))
    });
    group.finish();
}

fn state(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("a store"));
    let registry = Registry::new(store.clone());
    let mpass: MPass = serde_json::from_value(json!({
        "id": "mp-lt-001", "mpass_number": "0001", "mo_id": "mo-lt-001",
        "billing_account_id": "ba-1", "user_id_internal": "u-1", "status": "active",
        "tier": "Gold", "active_public_key_id": null, "created_at": 0, "updated_at": 0,
        "expires_at": 1_893_456_000, "metadata": {}
    }))
    .expect("an mPass");
    rt.block_on(registry.create(&mpass)).expect("stored");
    let keys = ContractKeys {
        mo_id: "mo-lt-001".into(),
        publisher_id: "pub-lt-001".into(),
        mpass_id: Some("mp-lt-001".into()),
        contract_type: "subscription_charge".into(),
        created_at: 1_790_000_000,
    };
    let body = serde_json::to_vec(&terms().document()).expect("JSON");
    let write = |contract: String, event: String, expected: u64| ContractWrite {
        contract_id: contract,
        event_id: event,
        expected_version: expected,
        body: body.clone(),
        keys: keys.clone(),
    };
    rt.block_on(store.apply_contract(write("c-replayed".into(), "e-replayed".into(), 0)))
        .expect("applied");
    let mut group = c.benchmark_group("state");
    group.bench_function("registry_get_mpass", |b| {
        b.iter(|| rt.block_on(registry.get::<MPass>(black_box("mp-lt-001"))))
    });
    group.bench_function("get_contract", |b| {
        b.iter(|| rt.block_on(store.get_contract(black_box("c-replayed"))))
    });
    let next = AtomicU64::new(0);
    group.bench_function("apply_contract_new_cas", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            rt.block_on(store.apply_contract(write(format!("c-{n}"), format!("e-{n}"), 0)))
        })
    });
    // What the stages pay: writes durable at the next flush, which the
    // runtime does once per batch (here every 100 writes, its cost included).
    let deferred = store.deferred();
    group.bench_function("apply_contract_new_cas_deferred_batch100", |b| {
        b.iter(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let applied =
                rt.block_on(deferred.apply_contract(write(format!("c-{n}"), format!("e-{n}"), 0)));
            if n % 100 == 99 {
                rt.block_on(deferred.flush()).expect("flushed");
            }
            applied
        })
    });
    rt.block_on(deferred.flush()).expect("flushed");
    group.bench_function("apply_contract_replayed_event", |b| {
        b.iter(|| {
            rt.block_on(store.apply_contract(write("c-replayed".into(), "e-replayed".into(), 0)))
        })
    });
    group.bench_function("apply_contract_conflict", |b| {
        b.iter(|| {
            rt.block_on(store.apply_contract(write("c-replayed".into(), "e-other".into(), 7)))
        })
    });
    group.finish();
}

criterion_group!(benches, signing, avro, templates, state);
criterion_main!(benches);

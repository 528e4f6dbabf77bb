//! A standard Confluent client (`schema_registry_converter`) registers,
//! encodes and decodes through this registry.

#![allow(clippy::unwrap_used)]

mod common;

use apache_avro::types::Value;
use common::{Server, broker, call, record};
use schema_registry_converter::async_impl::easy_avro::{EasyAvroDecoder, EasyAvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::schema_registry_common::{
    SchemaType, SubjectNameStrategy, SuppliedSchema,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_registry_converter_encodes_and_decodes_through_the_registry() {
    let broker = broker();
    let server = Server::start(&broker.kafka, &broker.topic).await;
    let schema = record(r#"{"name":"id","type":"string"},{"name":"amount","type":"long"}"#);

    let encoder = EasyAvroEncoder::new(SrSettings::new(server.url.clone()));
    let strategy = SubjectNameStrategy::TopicNameStrategyWithSchema(
        "payments".into(),
        false,
        SuppliedSchema::new(
            Some("moneta.Payment".into()),
            SchemaType::Avro,
            schema.clone(),
        ),
    );
    let bytes = encoder
        .encode(
            vec![
                ("id", Value::String("p-1".into())),
                ("amount", Value::Long(1250)),
            ],
            strategy,
        )
        .await
        .expect("encodes");
    assert_eq!(bytes[0], 0, "Confluent magic byte");
    assert_eq!(
        u32::from_be_bytes(bytes[1..5].try_into().unwrap()),
        1,
        "schema id 1"
    );

    // The client registered the schema under the topic-name subject.
    assert_eq!(
        call("GET", &format!("{}/subjects", server.url), None).await,
        (200, json!(["payments-value"]))
    );

    // A decoder that knows nothing fetches the writer schema by id.
    let decoder = EasyAvroDecoder::new(SrSettings::new(server.url.clone()));
    let decoded = decoder.decode(Some(&bytes)).await.expect("decodes");
    assert_eq!(
        decoded.value,
        Value::Record(vec![
            ("id".into(), Value::String("p-1".into())),
            ("amount".into(), Value::Long(1250)),
        ])
    );

    // Encoding by subject alone (latest version) works too.
    let latest = EasyAvroEncoder::new(SrSettings::new(server.url.clone()));
    let again = latest
        .encode(
            vec![
                ("id", Value::String("p-2".into())),
                ("amount", Value::Long(1)),
            ],
            SubjectNameStrategy::TopicNameStrategy("payments".into(), false),
        )
        .await
        .expect("encodes with the latest schema");
    assert_eq!(again[1..5], bytes[1..5]);
    server.stop().await;
}

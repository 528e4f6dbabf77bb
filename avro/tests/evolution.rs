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

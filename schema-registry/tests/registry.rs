//! The REST API end to end, persisted on the real Kafka broker over TCP.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Server, broker, call, record, schema_body};
use moneta_schema_registry::{RegistryError, register_all};
use serde_json::json;

const V1: &str = r#"{"name":"id","type":"string"},{"name":"amount","type":"long"}"#;
const V2: &str = r#"{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"currency","type":"string","default":"EUR"}"#;
const NO_DEFAULT: &str = r#"{"name":"id","type":"string"},{"name":"amount","type":"long"},{"name":"payer","type":"string"}"#;
const NEW_TYPE: &str = r#"{"name":"id","type":"string"},{"name":"amount","type":"string"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_fetches_lists_and_dedupes() {
    let broker = broker();
    let server = Server::start(&broker.kafka, &broker.topic).await;
    let url = &server.url;

    assert_eq!(
        call("GET", &format!("{url}/subjects"), None).await,
        (200, json!([]))
    );
    let (status, body) = call(
        "POST",
        &format!("{url}/subjects/pay-value/versions"),
        Some(schema_body(&record(V1))),
    )
    .await;
    assert_eq!((status, &body), (200, &json!({"id": 1})));

    // Same schema, reformatted: same id, no new version.
    let spaced = record(V1).replace(',', " , ");
    let again = call(
        "POST",
        &format!("{url}/subjects/pay-value/versions"),
        Some(schema_body(&spaced)),
    )
    .await;
    assert_eq!(again, (200, json!({"id": 1})));
    assert_eq!(
        call("GET", &format!("{url}/subjects/pay-value/versions"), None).await,
        (200, json!([1]))
    );

    // Same schema under another subject: same id, version 1 there.
    let other = call(
        "POST",
        &format!("{url}/subjects/other-value/versions"),
        Some(schema_body(&record(V1))),
    )
    .await;
    assert_eq!(other, (200, json!({"id": 1})));
    assert_eq!(
        call("GET", &format!("{url}/subjects"), None).await,
        (200, json!(["other-value", "pay-value"]))
    );

    let (status, by_id) = call("GET", &format!("{url}/schemas/ids/1"), None).await;
    assert_eq!(status, 200);
    assert_eq!(by_id["schema"], json!(record(V1)));
    assert_eq!(
        call("GET", &format!("{url}/schemas/ids/1/versions"), None).await,
        (
            200,
            json!([{"subject": "other-value", "version": 1}, {"subject": "pay-value", "version": 1}])
        )
    );
    let missing = call("GET", &format!("{url}/schemas/ids/99"), None).await;
    assert_eq!((missing.0, &missing.1["error_code"]), (404, &json!(40403)));

    let (status, latest) = call(
        "GET",
        &format!("{url}/subjects/pay-value/versions/latest"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        latest,
        json!({"subject": "pay-value", "version": 1, "id": 1, "schema": record(V1)})
    );
    let (status, raw) = call(
        "GET",
        &format!("{url}/subjects/pay-value/versions/1/schema"),
        None,
    )
    .await;
    assert_eq!(
        (status, raw),
        (200, serde_json::from_str(&record(V1)).unwrap())
    );

    let (status, looked_up) = call(
        "POST",
        &format!("{url}/subjects/pay-value"),
        Some(schema_body(&record(V1))),
    )
    .await;
    assert_eq!(
        (
            status,
            looked_up["version"].clone(),
            looked_up["id"].clone()
        ),
        (200, json!(1), json!(1))
    );
    let (status, body) = call(
        "POST",
        &format!("{url}/subjects/pay-value"),
        Some(schema_body(&record(V2))),
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (404, json!(40403)));

    let (status, body) = call("GET", &format!("{url}/subjects/nope/versions"), None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 40401, "message": "Subject 'nope' not found."})
        )
    );
    let (status, body) = call("GET", &format!("{url}/subjects/pay-value/versions/7"), None).await;
    assert_eq!((status, body["error_code"].clone()), (404, json!(40402)));
    let (status, body) = call(
        "GET",
        &format!("{url}/subjects/pay-value/versions/zero"),
        None,
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (422, json!(42202)));

    let (status, body) = call(
        "POST",
        &format!("{url}/subjects/bad/versions"),
        Some(schema_body(r#"{"type":"record","name":"X"}"#)),
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
    let (status, body) = call(
        "POST",
        &format!("{url}/subjects/proto/versions"),
        Some(json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"})),
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (422, json!(42201)));
    assert!(body["message"].as_str().unwrap().contains("PROTOBUF"));

    // Bodies are accepted whatever JSON-ish content type they declare.
    for media in ["application/json", "application/octet-stream"] {
        let reply = reqwest::Client::new()
            .post(format!("{url}/subjects/pay-value/versions"))
            .header("content-type", media)
            .body(schema_body(&record(V1)).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200, "{media}");
    }

    // A version can be soft-deleted; it is then hidden unless `deleted=true`.
    assert_eq!(
        call(
            "DELETE",
            &format!("{url}/subjects/other-value/versions/1"),
            None
        )
        .await,
        (200, json!(1))
    );
    assert_eq!(
        call("GET", &format!("{url}/subjects/other-value/versions"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        call(
            "GET",
            &format!("{url}/subjects/other-value/versions?deleted=true"),
            None
        )
        .await,
        (200, json!([1]))
    );

    // The start-up helper registers and reports ids.
    let ids = register_all(
        url,
        &[
            ("pay-value".into(), record(V1)),
            ("third-value".into(), record(V2)),
        ],
    )
    .await
    .expect("registers");
    assert_eq!(ids, [1, 2]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evolution_follows_the_compatibility_level() {
    let broker = broker();
    let server = Server::start(&broker.kafka, &broker.topic).await;
    let url = &server.url;
    let versions = format!("{url}/subjects/pay-value/versions");

    assert_eq!(
        call("GET", &format!("{url}/config"), None).await,
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_eq!(
        call("POST", &versions, Some(schema_body(&record(V1)))).await,
        (200, json!({"id": 1}))
    );
    // Adding a field with a default is backward compatible: version 2.
    assert_eq!(
        call("POST", &versions, Some(schema_body(&record(V2)))).await,
        (200, json!({"id": 2}))
    );
    assert_eq!(call("GET", &versions, None).await, (200, json!([1, 2])));

    // A new field without a default, or a changed type, is refused.
    let (status, body) = call("POST", &versions, Some(schema_body(&record(NO_DEFAULT)))).await;
    assert_eq!(
        (status, body["error_code"].clone()),
        (409, json!(409)),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("version 2")
            && message.contains("'payer'")
            && message.contains("no default"),
        "{message}"
    );
    let (status, body) = call("POST", &versions, Some(schema_body(&record(NEW_TYPE)))).await;
    assert_eq!(status, 409);
    assert!(
        body["message"].as_str().unwrap().contains("field 'amount'"),
        "{body}"
    );
    assert_eq!(call("GET", &versions, None).await, (200, json!([1, 2])));

    let check = format!("{url}/compatibility/subjects/pay-value/versions/latest");
    let (status, body) = call("POST", &check, Some(schema_body(&record(NO_DEFAULT)))).await;
    assert_eq!((status, body["is_compatible"].clone()), (200, json!(false)));
    assert!(
        body["messages"][0].as_str().unwrap().contains("'payer'"),
        "{body}"
    );
    let ok = call("POST", &check, Some(schema_body(&record(V1)))).await;
    assert_eq!(ok, (200, json!({"is_compatible": true})));
    let (_, all) = call(
        "POST",
        &format!("{url}/compatibility/subjects/pay-value/versions"),
        Some(schema_body(&record(NEW_TYPE))),
    )
    .await;
    assert_eq!(all["is_compatible"], json!(false));

    // The client helper names the subject and the registry's reason.
    let refused = register_all(url, &[("pay-value".into(), record(NO_DEFAULT))]).await;
    match refused {
        Err(e @ RegistryError::Incompatible { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("'pay-value'") && text.contains("version 2"),
                "{text}"
            );
        }
        other => panic!("expected an incompatibility, got {other:?}"),
    }

    // Levels: per subject, with 40408 when none is set.
    let subject_config = format!("{url}/config/pay-value");
    let (status, body) = call("GET", &subject_config, None).await;
    assert_eq!((status, body["error_code"].clone()), (404, json!(40408)));
    assert_eq!(
        call(
            "GET",
            &format!("{subject_config}?defaultToGlobal=true"),
            None
        )
        .await,
        (200, json!({"compatibilityLevel": "BACKWARD"}))
    );
    assert_eq!(
        call(
            "PUT",
            &subject_config,
            Some(json!({"compatibility": "FORWARD"}))
        )
        .await,
        (200, json!({"compatibility": "FORWARD"}))
    );
    let (status, body) = call(
        "PUT",
        &subject_config,
        Some(json!({"compatibility": "SIDEWAYS"})),
    )
    .await;
    assert_eq!((status, body["error_code"].clone()), (422, json!(42203)));
    // Forward: the latest version can read data without a default for `payer`.
    assert_eq!(
        call("POST", &versions, Some(schema_body(&record(NO_DEFAULT)))).await,
        (200, json!({"id": 3}))
    );
    assert_eq!(
        call(
            "PUT",
            &format!("{url}/config"),
            Some(json!({"compatibility": "NONE"}))
        )
        .await,
        (200, json!({"compatibility": "NONE"}))
    );
    assert_eq!(
        call("GET", &format!("{url}/config"), None).await,
        (200, json!({"compatibilityLevel": "NONE"}))
    );
    // The subject's own FORWARD still applies: dropping `amount` (no default) is refused.
    let dropped = record(r#"{"name":"id","type":"string"}"#);
    assert_eq!(
        call("POST", &versions, Some(schema_body(&dropped))).await.0,
        409
    );
    assert_eq!(
        call("DELETE", &subject_config, None).await,
        (200, json!({"compatibilityLevel": "FORWARD"}))
    );
    assert_eq!(
        call("POST", &versions, Some(schema_body(&dropped))).await,
        (200, json!({"id": 4}))
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_on_the_same_topic() {
    let broker = broker();
    let topic = broker.topic.as_str();
    let server = Server::start(&broker.kafka, topic).await;
    assert_eq!(cleanup_policy(&broker.kafka, topic).await, "compact");
    let url = server.url.clone();
    let versions = format!("{url}/subjects/pay-value/versions");
    assert_eq!(
        call("POST", &versions, Some(schema_body(&record(V1)))).await,
        (200, json!({"id": 1}))
    );
    assert_eq!(
        call("POST", &versions, Some(schema_body(&record(V2)))).await,
        (200, json!({"id": 2}))
    );
    assert_eq!(
        call(
            "POST",
            &format!("{url}/subjects/gone-value/versions"),
            Some(schema_body("\"string\""))
        )
        .await,
        (200, json!({"id": 3}))
    );
    assert_eq!(
        call("DELETE", &format!("{url}/subjects/gone-value"), None).await,
        (200, json!([1]))
    );
    call(
        "PUT",
        &format!("{url}/config"),
        Some(json!({"compatibility": "FULL"})),
    )
    .await;
    call(
        "PUT",
        &format!("{url}/config/pay-value"),
        Some(json!({"compatibility": "BACKWARD_TRANSITIVE"})),
    )
    .await;
    server.stop().await;

    let server = Server::start(&broker.kafka, topic).await;
    let url = server.url.clone();
    let versions = format!("{url}/subjects/pay-value/versions");
    assert_eq!(
        call("GET", &format!("{url}/subjects"), None).await,
        (200, json!(["pay-value"]))
    );
    assert_eq!(
        call("GET", &format!("{url}/subjects?deleted=true"), None).await,
        (200, json!(["gone-value", "pay-value"]))
    );
    assert_eq!(call("GET", &versions, None).await, (200, json!([1, 2])));
    let (_, latest) = call("GET", &format!("{versions}/latest"), None).await;
    assert_eq!(
        (latest["version"].clone(), latest["id"].clone()),
        (json!(2), json!(2))
    );
    assert_eq!(
        call("GET", &format!("{url}/schemas/ids/3"), None).await,
        (200, json!({"schema": "\"string\""}))
    );
    assert_eq!(
        call("GET", &format!("{url}/config"), None).await,
        (200, json!({"compatibilityLevel": "FULL"}))
    );
    assert_eq!(
        call("GET", &format!("{url}/config/pay-value"), None).await,
        (200, json!({"compatibilityLevel": "BACKWARD_TRANSITIVE"}))
    );
    // Re-registering a known schema keeps its id; a new one continues after the max.
    assert_eq!(
        call("POST", &versions, Some(schema_body(&record(V2)))).await,
        (200, json!({"id": 2}))
    );
    let v3 = record(&format!(
        r#"{V2},{{"name":"note","type":["null","string"],"default":null}}"#
    ));
    assert_eq!(
        call("POST", &versions, Some(schema_body(&v3))).await,
        (200, json!({"id": 4}))
    );
    assert_eq!(call("GET", &versions, None).await, (200, json!([1, 2, 3])));

    // A permanent delete is persisted too.
    assert_eq!(
        call(
            "DELETE",
            &format!("{url}/subjects/gone-value?permanent=true"),
            None
        )
        .await,
        (200, json!([1]))
    );
    server.stop().await;
    let server = Server::start(&broker.kafka, topic).await;
    assert_eq!(
        call(
            "GET",
            &format!("{}/subjects?deleted=true", server.url),
            None
        )
        .await,
        (200, json!(["pay-value"]))
    );
    assert_eq!(
        call(
            "GET",
            &format!("{}/subjects/pay-value/versions", server.url),
            None
        )
        .await,
        (200, json!([1, 2, 3]))
    );
    server.stop().await;
}

/// The topic's `cleanup.policy` as the broker describes it.
async fn cleanup_policy(kafka: &moneta_kafka::KafkaConfig, topic: &str) -> String {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        kafka.client_config().create().unwrap();
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new())
        .await
        .unwrap();
    let config = described.into_iter().next().unwrap().unwrap();
    config
        .get("cleanup.policy")
        .and_then(|e| e.value.clone())
        .unwrap_or_default()
}

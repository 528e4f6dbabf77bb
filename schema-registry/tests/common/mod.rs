//! Shared harness: the test run's Kafka broker with a schema topic of the
//! test's own, a registry served on a free port, and a tiny JSON HTTP caller.

#![allow(dead_code, clippy::unwrap_used)]

use moneta_kafka::KafkaConfig;
use moneta_schema_registry::SchemaRegistry;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The Kafka settings of the shared broker and a schema topic no other
/// test uses.
pub struct Broker {
    pub kafka: KafkaConfig,
    pub topic: String,
}

/// The test run's broker and a fresh topic name.
pub fn broker() -> Broker {
    let kafka = KafkaConfig {
        bootstrap_servers: moneta_testkit::kafka().expect("the test run's Kafka broker"),
        ..KafkaConfig::default()
    };
    Broker {
        kafka,
        topic: moneta_testkit::unique("_schemas"),
    }
}

/// A registry serving HTTP on 127.0.0.1.
pub struct Server {
    pub url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Server {
    /// Starts a registry on `topic` and serves it on a free port.
    pub async fn start(kafka: &KafkaConfig, topic: &str) -> Self {
        moneta_tls::install_crypto_provider();
        let registry = SchemaRegistry::start(kafka, topic)
            .await
            .expect("registry starts");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binds");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            registry
                .serve_on(listener, async move {
                    let _ = stopped.await;
                })
                .await
                .expect("serves");
        });
        Self { url, stop, task }
    }

    /// Stops serving and waits for the server task.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("server task");
    }
}

/// Calls `method url` with an optional JSON body; returns status and JSON reply.
pub async fn call(method: &str, url: &str, body: Option<Value>) -> (u16, Value) {
    moneta_tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = client.request(method, url);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/vnd.schemaregistry.v1+json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("reply");
    let status = response.status().as_u16();
    let media = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(media, "application/vnd.schemaregistry.v1+json", "{url}");
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `{"schema": schema}`.
pub fn schema_body(schema: &str) -> Value {
    serde_json::json!({ "schema": schema })
}

/// A record schema `R` with the given JSON fields.
pub fn record(fields: &str) -> String {
    format!(r#"{{"type":"record","name":"Payment","namespace":"moneta","fields":[{fields}]}}"#)
}

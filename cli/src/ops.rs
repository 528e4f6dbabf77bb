//! What every `moneta` process serves for operators on `[metrics] listen`:
//! `/metrics` (Prometheus text), `/healthz` (alive) and `/readyz` (the
//! broker answers and the state store reads).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moneta_domain::Kind;
use moneta_kafka::{KafkaConfig, LoginWatch};
use moneta_state::StateStore;
use prometheus::{Encoder, Registry, TextEncoder};
use rdkafka::consumer::BaseConsumer;
use serde_json::json;

/// What the operations endpoints look at.
#[derive(Clone)]
pub struct Ops {
    /// Every metric of this process.
    pub registry: Registry,
    /// How to reach Kafka (the first bootstrap server is probed).
    pub kafka: KafkaConfig,
    /// The state store, if this process uses one.
    pub store: Option<Arc<dyn StateStore>>,
}

async fn metrics(State(ops): State<Ops>) -> Response {
    let mut text = Vec::new();
    match TextEncoder::new().encode(&ops.registry.gather(), &mut text) {
        Ok(()) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Whether the first bootstrap broker answers: a plaintext `ApiVersions`
/// probe, or, on a TLS or SASL listener, a metadata request of a client
/// that logs in as every client does.
fn broker_answers(kafka: &KafkaConfig) -> Result<(), String> {
    let timeout = Duration::from_secs(2);
    let first = kafka
        .bootstrap_servers
        .split(',')
        .next()
        .unwrap_or_default();
    let protocol = kafka
        .client
        .get("security.protocol")
        .map_or("plaintext", String::as_str);
    if protocol.eq_ignore_ascii_case("plaintext") {
        return moneta_kafka::probe_apis(first, timeout)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    let mut config = kafka.client_config();
    config.set("bootstrap.servers", first);
    let client: BaseConsumer<LoginWatch> = config
        .create_with_context(LoginWatch::default())
        .map_err(|e| e.to_string())?;
    moneta_kafka::fetch_metadata(&client, timeout)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn ready(State(ops): State<Ops>) -> Response {
    let kafka = ops.kafka.clone();
    let broker = tokio::task::spawn_blocking(move || broker_answers(&kafka))
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
    let state = match &ops.store {
        Some(store) => store
            .get(Kind::Organization, "__readyz")
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        None => Ok(()),
    };
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.clone(),
    };
    let status = if broker.is_ok() && state.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(json!({"broker": show(&broker), "state": show(&state)})),
    )
        .into_response()
}

/// The operations routes.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(ops)
}

/// Serves the operations routes on `listener` until `stop` resolves.
pub async fn serve(
    ops: Ops,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listen = listener.local_addr()?;
    tracing::info!(%listen, "metrics and health listening");
    axum::serve(listener, router(ops))
        .with_graceful_shutdown(stop)
        .await
}

/// Binds `listen` for `what` before anything is served: a port already
/// taken fails the start, naming the listener, instead of leaving a process
/// that runs without answering there.
pub async fn bind(what: &str, listen: &str) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the {what} to {listen}"))
}

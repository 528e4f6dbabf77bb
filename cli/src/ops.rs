//! What every `moneta` process serves for operators on `[metrics] listen`:
//! `/metrics` (Prometheus text), `/healthz` (alive) and `/readyz` (the
//! broker answers and the state store reads).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use moneta_domain::Kind;
use moneta_state::StateStore;
use prometheus::{Encoder, Registry, TextEncoder};
use serde_json::json;

/// What the operations endpoints look at.
#[derive(Clone)]
pub struct Ops {
    /// Every metric of this process.
    pub registry: Registry,
    /// `host:port` of the Kafka bootstrap servers (first one is probed).
    pub bootstrap: String,
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

async fn ready(State(ops): State<Ops>) -> Response {
    let bootstrap = ops
        .bootstrap
        .split(',')
        .next()
        .unwrap_or_default()
        .to_owned();
    let broker = tokio::task::spawn_blocking(move || {
        moneta_kafka::probe_apis(&bootstrap, Duration::from_secs(2))
    })
    .await
    .map_err(|e| e.to_string())
    .and_then(|r| r.map(|_| ()).map_err(|e| e.to_string()));
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

/// Serves the operations routes on `listen` until `stop` resolves.
pub async fn serve(
    ops: Ops,
    listen: &str,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(%listen, "metrics and health listening");
    axum::serve(listener, router(ops))
        .with_graceful_shutdown(stop)
        .await
}

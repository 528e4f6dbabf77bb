//! The partner-facing ingest edge.
//!
//! - `POST /v1/events/{domain}`: submit a signed contract event ([`submit`]).
//! - `GET /v1/events/{id}`, `GET /v1/contracts/{id}`: follow it ([`status`]).
//! - `GET /v1/contracts`: search the caller's own contracts ([`search`]).
//! - `GET /v1/keys`: Moneta's public countersigning keys.
//! - `GET /v1/openapi.json`: the edge's OpenAPI document ([`OPENAPI`]).
//!
//! Requests are authenticated with RFC 9421 signatures ([`auth`]); errors
//! are RFC 9457 problem+json with a stable `code`.

pub mod admission;
pub mod auth;
pub mod client;
mod config;
pub mod idempotency;
pub mod metrics;
pub mod pipeline;
mod replay;
pub mod search;
pub mod status;
pub mod submit;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use moneta_avro::{AvroCodec, ContractEvent};
use moneta_domain::EventRecord;
use moneta_kafka::{INGESTED_AT_HEADER, KafkaConfig};
use moneta_problem::Problem;
use moneta_signing::KeyRing;
use moneta_state::{EventLog, Registry, StateStore};
use moneta_telemetry::TraceContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use sha2::{Digest, Sha256};

pub use client::{PartnerClient, Reply};
pub use config::IngestConfig;
pub use replay::ReplayCache;

use crate::admission::{Admission, Refusal};
use crate::auth::internal;
use crate::idempotency::Idempotency;

/// The edge's shared state.
pub struct Ingest {
    config: IngestConfig,
    store: Arc<dyn StateStore>,
    registry: Registry,
    events: EventLog,
    idempotency: Idempotency,
    replays: ReplayCache,
    codec: Arc<AvroCodec>,
    producer: FutureProducer,
    topic: String,
    keys: Arc<KeyRing>,
    admission: Admission,
}

/// Errors starting the edge.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The Kafka producer could not be created.
    #[error("ingest producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// A metric could not be created or registered.
    #[error("ingest metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The listener could not be bound or failed.
    #[error("ingest listener on {listen}: {source}")]
    Listen {
        /// The address.
        listen: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `[ingest.tls]` could not be loaded.
    #[error("ingest TLS: {0}")]
    Tls(#[from] moneta_tls::TlsError),
}

impl Ingest {
    /// An edge writing to `topic` with an idempotent, `acks=all` producer.
    pub fn new(
        config: IngestConfig,
        kafka: &KafkaConfig,
        store: Arc<dyn StateStore>,
        codec: Arc<AvroCodec>,
        topic: &str,
        keys: Arc<KeyRing>,
    ) -> Result<Self, IngestError> {
        let producer: FutureProducer = kafka
            .producer_config("moneta-ingest")
            .set("linger.ms", "1")
            .set("message.timeout.ms", config.produce_timeout_ms.to_string())
            .set(
                "queue.buffering.max.messages",
                config.producer_queue_max_messages.max(1).to_string(),
            )
            .create()?;
        // The edge's own writes are made durable on a timer, not one by one.
        let writes = moneta_state::flushed_every(
            &store,
            Duration::from_millis(config.state_flush_ms),
            "ingest",
        );
        let idempotency = Idempotency::new(
            writes.clone(),
            config.idempotency_ttl_s,
            config.in_flight_timeout_s,
            config.claim_lease_s,
        );
        idempotency.spawn_heartbeat();
        idempotency.spawn_sweeper();
        Ok(Self {
            admission: Admission::new(&config)?,
            idempotency,
            registry: Registry::new(store.clone()),
            events: EventLog::new(writes),
            store,
            replays: ReplayCache::default(),
            codec,
            producer,
            topic: topic.to_owned(),
            keys,
            config,
        })
    }

    /// Refuses new submissions (`503 overloaded`) while one of `stages` is
    /// over `ingest.max_pipeline_lag` (unless that is 0).
    pub fn watch_pipeline(
        mut self,
        kafka: &KafkaConfig,
        stages: Vec<pipeline::WatchedStage>,
    ) -> Result<Self, IngestError> {
        if self.config.max_pipeline_lag > 0 && !stages.is_empty() {
            let watch =
                pipeline::PipelineWatch::start(kafka, stages, self.config.max_pipeline_lag)?;
            self.admission.watch(watch);
        }
        Ok(self)
    }

    /// Produces `event` and waits for the broker's acknowledgement; a full
    /// producer queue is `503 overloaded` at once, not a wait.
    async fn produce(&self, event: &ContractEvent, record: &EventRecord) -> Result<(), Problem> {
        let (key, value) = submit::encode(self, event).await?;
        let context = moneta_telemetry::current().unwrap_or_else(|| TraceContext {
            traceparent: traceparent(record),
            tracestate: None,
        });
        let accepted_at = now_ms().to_string();
        let mut headers = OwnedHeaders::new();
        for (key, value) in context.headers() {
            headers = headers.insert(Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        let headers = headers.insert(Header {
            key: INGESTED_AT_HEADER,
            value: Some(accepted_at.as_bytes()),
        });
        let delivery = self
            .producer
            .send(
                FutureRecord::to(&self.topic)
                    .key(&key)
                    .payload(&value)
                    .headers(headers),
                Duration::ZERO,
            )
            .await;
        delivery.map(|_| ()).map_err(|(e, _)| {
            if e == KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) {
                self.admission.count(Refusal::QueueFull, &record.partner_id);
                return admission::overloaded("the edge's queue to the broker is full");
            }
            let problem = internal(&e);
            Problem::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "Broker unavailable",
                problem.detail,
            )
        })
    }
}

/// A W3C `traceparent` derived from the event's identity, so every retry
/// of one event carries the same trace: the record's trace context when
/// spans are not exported (with them, the `submit` span's).
fn traceparent(record: &EventRecord) -> String {
    let hash = Sha256::digest(format!("{}/{}", record.partner_id, record.event_id));
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{}-01", &hex[..32], &hex[32..48])
}

/// Milliseconds since the Unix epoch, by the edge's clock.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Seconds since the Unix epoch, by the edge's clock.
pub(crate) fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The edge's routes.
pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        // One path, two meanings: POST takes a domain, GET an event id.
        .route("/v1/events/{key}", post(submit::submit).get(status::event))
        .route("/v1/contracts", get(search::contracts))
        .route("/v1/contracts/{id}", get(status::contract))
        .route("/v1/keys", get(status::keys))
        .route("/v1/openapi.json", get(openapi))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async {
            Problem::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "Not found",
                "no such route; see /v1/openapi.json",
            )
        })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
                "this route does not accept that method; see /v1/openapi.json",
            )
        })
        .layer(axum::middleware::map_response(
            moneta_problem::ensure_problem,
        ))
        .with_state(ingest)
}

/// The OpenAPI document of the edge (`ingest/openapi.json`).
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `GET /v1/openapi.json`.
async fn openapi() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI,
    )
}

/// The edge's routes with request metrics registered in `registry`.
pub fn router_with_metrics(
    ingest: Arc<Ingest>,
    registry: &prometheus::Registry,
) -> Result<Router, prometheus::Error> {
    let metrics = metrics::HttpMetrics::new(registry)?;
    ingest.admission.register(registry)?;
    Ok(router(ingest).layer(axum::middleware::from_fn_with_state(
        metrics,
        metrics::track,
    )))
}

/// Binds `listen` and serves the edge's `app` (see [`router`]) on it, over
/// TLS if `tls` is set, until `shutdown` resolves.
pub async fn serve(
    app: Router,
    listen: &str,
    tls: Option<&moneta_tls::ServerTls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| IngestError::Listen {
            listen: listen.to_owned(),
            source,
        })?;
    serve_on(app, listener, tls, shutdown).await
}

/// Serves the edge's `app` on an already bound `listener`, over TLS if
/// `tls` is set, until `shutdown` resolves.
pub async fn serve_on(
    app: Router,
    listener: tokio::net::TcpListener,
    tls: Option<&moneta_tls::ServerTls>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), IngestError> {
    let tls = tls.map(moneta_tls::server_config).transpose()?;
    let listen = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    if let Some(tls) = tls {
        tracing::info!(%listen, "ingest edge listening (TLS)");
        moneta_tls::serve(listener, app, tls, shutdown).await;
        return Ok(());
    }
    tracing::info!(%listen, "ingest edge listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| IngestError::Listen { listen, source })
}

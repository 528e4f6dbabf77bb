//! `[ingest]`: the HTTP ingest edge's settings.

use serde::{Deserialize, Serialize};

/// `[ingest]`: the partner-facing HTTP edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// Whether `moneta up` serves it.
    pub enabled: bool,
    /// Address to listen on (HTTP/1.1 and HTTP/2; cleartext unless `tls`).
    pub listen: String,
    /// `[ingest.tls]`: serve HTTPS with this certificate and key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<moneta_tls::ServerTls>,
    /// Largest accepted request body, bytes (larger: 413).
    pub max_body_bytes: usize,
    /// How far a signature's `created` may be from the edge's clock, seconds.
    pub max_clock_skew_s: i64,
    /// How long an `Idempotency-Key`'s first response is replayed, seconds.
    pub idempotency_ttl_s: i64,
    /// After this many seconds an unfinished request no longer holds its
    /// `Idempotency-Key`, whatever happened to it.
    pub in_flight_timeout_s: i64,
    /// An unfinished request's `Idempotency-Key` is free this many seconds
    /// after its edge instance stopped renewing its lease (it died).
    pub claim_lease_s: i64,
    /// How long to wait for the broker to acknowledge a submission, ms.
    pub produce_timeout_ms: u64,
    /// Most messages the edge's producer holds unacknowledged; past it a
    /// submission is `503 overloaded` at once.
    pub producer_queue_max_messages: u32,
    /// Most submissions inside the edge at once; past it `503 overloaded`
    /// at once, before the body is read.
    pub max_in_flight: usize,
    /// How long a submission's body may take to arrive, ms (slower: `408
    /// body_timeout`), so slow clients cannot hold the edge's places.
    pub body_timeout_ms: u64,
    /// A partner's sustained submissions per second, per edge instance,
    /// unless the registry gives it its own (`429 rate_limited` past it).
    pub rate_per_s: u32,
    /// A partner's submissions at once (its token bucket's size), unless
    /// the registry gives it its own.
    pub burst: u32,
    /// Most records a stage of the pipeline may have left to process
    /// (its consumer-group lag, summed over its inputs) before the edge
    /// refuses new submissions with `503 overloaded`; 0: never.
    pub max_pipeline_lag: i64,
    /// The stages whose lag the edge watches (their consumer groups,
    /// wherever they run): by default the signing path.
    pub watch_stages: Vec<String>,
    /// How often the edge makes its state writes durable, ms (0: each
    /// before its answer). A crash loses at most this much of them:
    /// Idempotency-Key claims and stored answers, `accepted` steps; the
    /// log holds every accepted event, so a retry goes to the log again
    /// and the event id deduplicates it.
    pub state_flush_ms: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8080".into(),
            tls: None,
            max_body_bytes: 1024 * 1024,
            max_clock_skew_s: 300,
            idempotency_ttl_s: 24 * 3600,
            in_flight_timeout_s: 60,
            claim_lease_s: 5,
            produce_timeout_ms: 10_000,
            producer_queue_max_messages: 100_000,
            max_in_flight: 1024,
            body_timeout_ms: 10_000,
            rate_per_s: 5000,
            burst: 10_000,
            max_pipeline_lag: 1_000,
            watch_stages: ["validate", "template-check", "countersign"]
                .map(String::from)
                .to_vec(),
            state_flush_ms: 100,
        }
    }
}

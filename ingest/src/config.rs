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
    /// `Idempotency-Key` (the edge died mid-request).
    pub in_flight_timeout_s: i64,
    /// How long to wait for the broker to acknowledge a submission, ms.
    pub produce_timeout_ms: u64,
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
            produce_timeout_ms: 10_000,
        }
    }
}

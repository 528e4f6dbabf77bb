//! `[webhooks]`: the delivery worker's settings.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::schedule::RetrySchedule;

/// `[webhooks]`: delivery to partners' endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhooksConfig {
    /// Whether `moneta up` runs the delivery worker.
    pub enabled: bool,
    /// Allow endpoints on loopback addresses (tests, local demos).
    pub allow_loopback: bool,
    /// Allow endpoints on private networks (RFC 1918, fc00::/7, CGNAT).
    pub allow_private: bool,
    /// Allow cleartext `http://` endpoints (tests, local demos); `false`
    /// (production) refuses them at registration and at delivery.
    pub allow_http: bool,
    /// CA certificates (PEM file) trusted for `https` endpoints besides the
    /// system roots, e.g. a deployment's private CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<PathBuf>,
    /// Per-attempt timeout, ms.
    pub timeout_ms: u64,
    /// The default retry schedule (an endpoint may ask for more attempts).
    pub retry: RetrySchedule,
    /// Consecutive failures that open an endpoint's circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit waits before a half-open probe, ms.
    pub breaker_cool_down_ms: u64,
    /// Attempts in flight at once, across endpoints.
    pub concurrency: usize,
    /// Attempts in flight at once to one endpoint: a slow or dead endpoint
    /// holds at most this many of `concurrency`.
    pub per_endpoint_concurrency: usize,
    /// How often the retry queue is scanned for due deliveries, ms.
    pub poll_interval_ms: u64,
    /// How often the worker's state writes (attempts, delivery states) are
    /// made durable, ms; 0: each one before the worker goes on. A crash
    /// loses at most this much of them: a webhook may then be sent again,
    /// with the same `webhook-id`.
    pub state_flush_ms: u64,
    /// Topic of deliveries given up on.
    pub dead_letter: String,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_loopback: false,
            allow_private: false,
            allow_http: false,
            ca_bundle: None,
            timeout_ms: 15_000,
            retry: RetrySchedule::default(),
            breaker_threshold: 5,
            breaker_cool_down_ms: 30_000,
            concurrency: 64,
            per_endpoint_concurrency: 8,
            poll_interval_ms: 100,
            state_flush_ms: 100,
            dead_letter: "moneta.webhooks.dlq".into(),
        }
    }
}

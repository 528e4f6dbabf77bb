//! The delivery worker's Prometheus metrics.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Attempts, their latency, and each endpoint's circuit state.
#[derive(Clone)]
pub struct WebhookMetrics {
    /// `moneta_webhook_attempts_total{endpoint, outcome}`.
    pub attempts: IntCounterVec,
    /// `moneta_webhook_attempt_seconds{endpoint}`.
    pub latency: HistogramVec,
    /// `moneta_webhook_circuit_state{endpoint}`: 0 closed, 1 half-open, 2 open.
    pub circuit: IntGaugeVec,
    /// `moneta_webhook_dead_lettered_total{endpoint}`.
    pub dead_lettered: IntCounterVec,
}

impl WebhookMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let attempts = IntCounterVec::new(
            Opts::new(
                "moneta_webhook_attempts_total",
                "Webhook delivery attempts by outcome",
            ),
            &["endpoint", "outcome"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("moneta_webhook_attempt_seconds", "Webhook attempt latency")
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0,
                ]),
            &["endpoint"],
        )?;
        let circuit = IntGaugeVec::new(
            Opts::new(
                "moneta_webhook_circuit_state",
                "Circuit per endpoint: 0 closed, 1 half-open, 2 open",
            ),
            &["endpoint"],
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "moneta_webhook_dead_lettered_total",
                "Deliveries given up on",
            ),
            &["endpoint"],
        )?;
        registry.register(Box::new(attempts.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(circuit.clone()))?;
        registry.register(Box::new(dead_lettered.clone()))?;
        Ok(Self {
            attempts,
            latency,
            circuit,
            dead_lettered,
        })
    }
}

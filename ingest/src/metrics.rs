//! The edge's request metrics: by route and status, with latency.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// `moneta_http_requests_total` and `moneta_http_request_seconds`.
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl HttpMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "moneta_http_requests_total",
                "Ingest edge requests by route and status.",
            ),
            &["route", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "moneta_http_request_seconds",
                "Ingest edge request latency.",
            )
            .buckets(prometheus::exponential_buckets(0.000_25, 2.0, 14)?),
            &["route"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        Ok(Self { requests, latency })
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let route = format!("{method} {route}");
    metrics
        .latency
        .with_label_values(&[route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[route.as_str(), response.status().as_str()])
        .inc();
    response
}

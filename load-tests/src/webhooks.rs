//! `webhooks`: does a dead endpoint delay a healthy one?
//!
//! The delivery worker runs against the embedded state store and two local
//! receivers: `healthy` answers 204 at once, `dead` never answers (every
//! attempt runs into the timeout). Deliveries are scheduled at a constant
//! rate; a delivery's latency is from when it became due to when the
//! healthy receiver got it. Scenario `alone` schedules only healthy
//! deliveries; `with_dead_neighbour` schedules as many to the dead endpoint
//! too. The figure that matters is the ratio of the two latencies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use moneta_domain::{Delivery, DeliveryState, WebhookEndpoint};
use moneta_signing::{KeyRing, SigningKey};
use moneta_state::{Deliveries, EmbeddedStore, Registry, StateStore};
use moneta_webhooks::{WebhookMetrics, WebhooksConfig, Worker};
use serde::Serialize;

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Deliveries per second to each endpoint.
    pub rate: u32,
    /// How long deliveries are scheduled, seconds.
    pub seconds: u64,
    /// The per-attempt timeout, ms (the dead endpoint costs this much each).
    pub timeout_ms: u64,
}

/// Healthy-endpoint latency in one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Scenario name.
    pub scenario: String,
    /// Healthy deliveries scheduled.
    pub scheduled: usize,
    /// Healthy deliveries received.
    pub received: usize,
    /// Percentiles of due → received, ms.
    pub p50_ms: u64,
    /// 95th percentile, ms.
    pub p95_ms: u64,
    /// 99th percentile, ms.
    pub p99_ms: u64,
    /// Worst, ms.
    pub max_ms: u64,
}

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn ok(State(arrivals): State<Arrivals>, headers: HeaderMap) -> StatusCode {
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok())
        && let Ok(mut a) = arrivals.lock()
    {
        a.entry(id.to_owned()).or_insert_with(Instant::now);
    }
    StatusCode::NO_CONTENT
}

async fn dead() -> StatusCode {
    tokio::time::sleep(Duration::from_secs(3600)).await;
    StatusCode::NO_CONTENT
}

fn delivery(id: String, endpoint: &str, now_ms: i64) -> Delivery {
    Delivery {
        id,
        endpoint_id: endpoint.into(),
        organization_id: "org-bench".into(),
        contract_id: format!("c-{endpoint}"),
        contract_version: 1,
        event_type: "contract.countersigned".into(),
        payload: r#"{"type":"contract.countersigned","data":{}}"#.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at_ms: now_ms,
        created_at_ms: now_ms,
        last_status: None,
        last_error: None,
        finished_at_ms: None,
        total_attempts: 0,
        event_key: None,
        traceparent: None,
        parked: false,
    }
}

fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Runs one scenario; `with_dead` adds the dead neighbour's load.
pub async fn scenario(settings: Settings, with_dead: bool) -> anyhow::Result<Latency> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path())?);
    let arrivals: Arrivals = Arc::default();
    let app = Router::new()
        .route("/ok", post(ok))
        .route("/dead", post(dead))
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let registry = Registry::new(store.clone());
    for (id, path) in [("healthy", "ok"), ("dead", "dead")] {
        registry
            .create(&WebhookEndpoint {
                id: id.into(),
                organization_id: "org-bench".into(),
                url: format!("http://{addr}/{path}"),
                event_types: vec!["contract.countersigned".into()],
                enabled: true,
                secret: None,
                created_at: 0,
                max_attempts: None,
                timeout_ms: None,
                previous_secret: None,
                previous_secret_until: None,
            })
            .await?;
    }
    let mut config = WebhooksConfig {
        allow_loopback: true,
        allow_http: true,
        timeout_ms: settings.timeout_ms,
        poll_interval_ms: 10,
        ..WebhooksConfig::default()
    };
    config.retry.attempts = 1_000_000;
    let keys = Arc::new(KeyRing::new("bench", SigningKey::from_bytes(&[7; 32]))?);
    let kafka = moneta_kafka::KafkaConfig::default();
    let metrics = WebhookMetrics::new(&prometheus::Registry::new())?;
    let worker = Worker::new(config, &kafka, store.clone(), keys, metrics)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn({
        let worker = worker.clone();
        async move {
            worker
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });

    let deliveries = Deliveries::new(store);
    let mut due: HashMap<String, Instant> = HashMap::new();
    let interval = Duration::from_secs(1) / settings.rate.max(1);
    let total = settings.rate as u64 * settings.seconds;
    let start = Instant::now();
    for n in 0..total {
        let at = start + interval * n as u32;
        tokio::time::sleep_until(at.into()).await;
        let id = format!("msg_healthy_{n:08}");
        deliveries
            .schedule(&delivery(id.clone(), "healthy", unix_ms()))
            .await?;
        due.insert(id, Instant::now());
        if with_dead {
            deliveries
                .schedule(&delivery(format!("msg_dead_{n:08}"), "dead", unix_ms()))
                .await?;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().map(|a| a.len()).unwrap_or(0) < due.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    run.await.context("worker")?;
    server.abort();
    let arrived = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    let mut latencies: Vec<u64> = due
        .iter()
        .filter_map(|(id, at)| {
            arrived
                .get(id)
                .map(|r| r.duration_since(*at).as_millis() as u64)
        })
        .collect();
    latencies.sort_unstable();
    let pct = |p: f64| -> u64 {
        if latencies.is_empty() {
            return 0;
        }
        let rank = ((p / 100.0) * latencies.len() as f64).ceil() as usize;
        latencies[rank.clamp(1, latencies.len()) - 1]
    };
    Ok(Latency {
        scenario: if with_dead {
            "with_dead_neighbour"
        } else {
            "alone"
        }
        .into(),
        scheduled: due.len(),
        received: latencies.len(),
        p50_ms: pct(50.0),
        p95_ms: pct(95.0),
        p99_ms: pct(99.0),
        max_ms: latencies.last().copied().unwrap_or(0),
    })
}

//! The delivery worker: drains the durable retry queue (pending deliveries
//! in the state store) and makes each attempt.
//!
//! - Every attempt runs in its own task under a global concurrency limit,
//!   so a slow or dead endpoint only ever occupies its own attempts.
//! - Per contract and endpoint, versions go in order: only the lowest
//!   pending version is attempted.
//! - An open circuit parks the endpoint's due deliveries for its cool-down;
//!   a retry due more than [`PARK_BEYOND`] away is parked too. Parked
//!   deliveries stay out of the frequent scan (which then costs nothing for
//!   a dead endpoint) and a slower scan brings them back when due.
//! - The scan of pending deliveries (each decoded) is kept: later ticks
//!   start deliveries from it while it has due ones, for [`RESCAN_EVERY`]
//!   at most, so a backlog costs one scan per second, not one per tick. An attempt
//!   re-reads its delivery first and leaves it if it changed since.
//! - Each attempt is recorded (the delivery log) before the delivery's state
//!   changes; a crash in between repeats the attempt with the same
//!   `webhook-id`. These writes are made durable every `state_flush_ms`
//!   (100 ms), not one by one: a crash loses at most that much of them,
//!   which only repeats attempts, with the same `webhook-id`. Given-up
//!   deliveries go to the dead-letter topic first, then are marked failed.
//! - Error classes: a fault of the state store or the broker is transient.
//!   The attempt ends with an error, the delivery stays pending as it was
//!   and a later scan repeats it; such a fault never counts against the
//!   retry schedule and never dead-letters. Corrupt data is permanent: a
//!   stored endpoint that does not decode is given up as `endpoint_corrupt`
//!   with the reason (codes: `docs/errors.md`).

mod config;
mod metrics;

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moneta_domain::{
    Delivery, DeliveryAttempt, DeliveryState, EventState, EventStep, WebhookEndpoint,
};
use moneta_kafka::KafkaConfig;
use moneta_signing::KeyRing;
use moneta_state::{
    Deliveries, DeliveryError, EventLog, Registry, RegistryError, StateStore, StoreError,
    StoredDelivery,
};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::Semaphore;
use tracing::Instrument;

pub use config::WebhooksConfig;
pub use metrics::WebhookMetrics;

use crate::breaker::{BreakerState, Breakers};
use crate::deliver::{AttemptResult, Deliverer, DelivererConfig};
use crate::schedule::RetrySchedule;
use crate::ssrf::SsrfPolicy;
use crate::standard::{HmacSecret, WebhookMessage, headers};

/// Retries due further away than this are parked.
pub const PARK_BEYOND: Duration = Duration::from_secs(1);

/// How often parked deliveries are checked for being due again.
const UNPARK_EVERY: Duration = Duration::from_millis(500);

/// Longest a scan of pending deliveries is used before the next one.
pub const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// Errors starting the worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The HTTP client could not be built.
    #[error(transparent)]
    Client(#[from] crate::deliver::DelivererError),
    /// The dead-letter producer could not be created.
    #[error("webhook dead-letter producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
}

/// The delivery worker.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    config: WebhooksConfig,
    deliveries: Deliveries,
    registry: Registry,
    events: EventLog,
    keys: Arc<KeyRing>,
    deliverer: Deliverer,
    breakers: Breakers,
    producer: FutureProducer,
    metrics: WebhookMetrics,
    in_flight: Mutex<InFlight>,
    permits: Arc<Semaphore>,
    scan: tokio::sync::Mutex<Scan>,
}

/// The deliveries the last scan found pending (each the lowest pending
/// version of its contract and endpoint), by due time, not yet started.
#[derive(Default)]
struct Scan {
    due: VecDeque<StoredDelivery>,
    at: Option<Instant>,
}

/// Attempts running now: by delivery id, and how many per endpoint.
#[derive(Default)]
struct InFlight {
    ids: HashSet<String>,
    per_endpoint: HashMap<String, usize>,
}

impl Worker {
    /// A worker on `store`, signing with `keys`, dead-lettering through `kafka`.
    pub fn new(
        config: WebhooksConfig,
        kafka: &KafkaConfig,
        store: Arc<dyn StateStore>,
        keys: Arc<KeyRing>,
        metrics: WebhookMetrics,
    ) -> Result<Self, WorkerError> {
        let deliverer = Deliverer::new(DelivererConfig {
            timeout: Duration::from_millis(config.timeout_ms),
            policy: SsrfPolicy {
                allow_loopback: config.allow_loopback,
                allow_private: config.allow_private,
            },
            allow_http: config.allow_http,
            ca_bundle: config.ca_bundle.clone(),
            ..DelivererConfig::default()
        })?;
        let producer: FutureProducer = kafka.producer_config("moneta-webhooks").create()?;
        // Durable on a timer: a write lost in a crash only repeats an attempt.
        let store = moneta_state::flushed_every(
            &store,
            Duration::from_millis(config.state_flush_ms),
            "webhooks",
        );
        Ok(Self {
            inner: Arc::new(Inner {
                breakers: Breakers::new(
                    config.breaker_threshold,
                    Duration::from_millis(config.breaker_cool_down_ms),
                ),
                permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
                config,
                deliveries: Deliveries::new(store.clone()),
                registry: Registry::new(store.clone()),
                events: EventLog::new(store),
                keys,
                deliverer,
                producer,
                metrics,
                in_flight: Mutex::new(InFlight::default()),
                scan: tokio::sync::Mutex::new(Scan::default()),
            }),
        })
    }

    /// Runs until `shutdown` resolves; attempts in flight finish on their own.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let interval = Duration::from_millis(self.inner.config.poll_interval_ms.max(1));
        tokio::pin!(shutdown);
        // The slow scan runs beside the fast one, never delaying it.
        let unparker = self.clone();
        let unparking = tokio::spawn(async move {
            loop {
                tokio::time::sleep(UNPARK_EVERY).await;
                if let Err(e) = unparker.unpark().await {
                    tracing::warn!(error = %e, "webhook parked-queue scan failed");
                }
            }
        });
        loop {
            if let Err(e) = self.tick().await {
                tracing::warn!(error = %e, "webhook retry queue scan failed");
            }
            tokio::select! {
                _ = &mut shutdown => {
                    unparking.abort();
                    return;
                }
                _ = tokio::time::sleep(interval) => {}
            }
        }
    }

    /// Starts an attempt for every due delivery that may go now; returns how many.
    pub async fn tick(&self) -> Result<usize, DeliveryError> {
        let mut scan = self.inner.scan.lock().await;
        let nothing_due = scan
            .due
            .front()
            .is_none_or(|s| s.delivery.next_attempt_at_ms > now_ms());
        if nothing_due || scan.at.is_none_or(|at| at.elapsed() >= RESCAN_EVERY) {
            scan.due = self.scan().await?;
            scan.at = Some(Instant::now());
        }
        let now = now_ms();
        let mut started = 0;
        let mut to_park = Vec::new();
        while let Some(stored) = scan.due.pop_front() {
            let d = &stored.delivery;
            if d.next_attempt_at_ms > now {
                // By due time: nothing after it is due either.
                scan.due.push_front(stored);
                break;
            }
            if !self.may_start(d) {
                // Busy or at its endpoint's limit: the next scan sees it.
                continue;
            }
            let Ok(permit) = self.inner.permits.clone().try_acquire_owned() else {
                scan.due.push_front(stored);
                break;
            };
            if !self.inner.breakers.allow(&d.endpoint_id, Instant::now()) {
                drop(permit);
                to_park.push(stored);
                continue;
            }
            self.set_in_flight(&d.id, Some(&d.endpoint_id), true);
            let inner = self.inner.clone();
            let worker = self.clone();
            // The partner event the delivery reports (`partner/event_id`).
            let event_id = d
                .event_key
                .as_deref()
                .and_then(|k| k.split_once('/'))
                .map_or("", |(_, event_id)| event_id);
            let span = tracing::info_span!(
                "deliver",
                webhook_id = %d.id,
                contract_id = %d.contract_id,
                event_id,
                partner = %d.organization_id,
            );
            moneta_telemetry::continue_trace(&span, d.traceparent.as_deref(), None);
            tokio::spawn(async move {
                let delivery = stored.delivery.clone();
                if let Err(e) = inner.attempt_current(stored).instrument(span).await {
                    tracing::warn!(webhook_id = %delivery.id, error = %e, "delivery attempt not recorded; it will be repeated");
                }
                worker.set_in_flight(&delivery.id, Some(&delivery.endpoint_id), false);
                drop(permit);
            });
            started += 1;
        }
        if !to_park.is_empty() {
            // Off the scan's path: parking writes must not delay other endpoints.
            let until = now + i64::try_from(self.inner.config.breaker_cool_down_ms).unwrap_or(0);
            let worker = self.clone();
            let ids: Vec<String> = to_park.iter().map(|s| s.delivery.id.clone()).collect();
            for id in &ids {
                self.set_in_flight(id, None, true);
            }
            tokio::spawn(async move {
                for stored in to_park {
                    worker.park(stored, until).await;
                }
                for id in &ids {
                    worker.set_in_flight(id, None, false);
                }
            });
        }
        Ok(started)
    }

    /// Pending deliveries by due time, each the lowest pending version of
    /// its contract and endpoint (versions go in order).
    async fn scan(&self) -> Result<VecDeque<StoredDelivery>, DeliveryError> {
        let mut pending = self.inner.deliveries.pending().await?;
        pending.sort_by_key(|s| s.delivery.next_attempt_at_ms);
        fn key(d: &Delivery) -> (&str, &str) {
            (d.contract_id.as_str(), d.endpoint_id.as_str())
        }
        let mut lowest: HashMap<(&str, &str), u64> = HashMap::new();
        for s in &pending {
            let version = lowest
                .entry(key(&s.delivery))
                .or_insert(s.delivery.contract_version);
            *version = (*version).min(s.delivery.contract_version);
        }
        let first: Vec<bool> = pending
            .iter()
            .map(|s| {
                lowest
                    .get(&key(&s.delivery))
                    .is_none_or(|v| *v == s.delivery.contract_version)
            })
            .collect();
        Ok(pending
            .into_iter()
            .zip(first)
            .filter_map(|(s, first)| first.then_some(s))
            .collect())
    }

    /// Parks a due delivery whose endpoint's circuit is open until `until_ms`.
    async fn park(&self, stored: StoredDelivery, until_ms: i64) {
        let parked = Delivery {
            parked: true,
            next_attempt_at_ms: until_ms,
            ..stored.delivery
        };
        match self.inner.deliveries.update(&parked, stored.revision).await {
            // A conflict means someone else changed it; the next scan sees that.
            Ok(_) | Err(DeliveryError::Store(StoreError::Conflict { .. })) => {}
            // Still pending and unparked: the next scan parks it again.
            Err(e) => {
                tracing::warn!(webhook_id = %parked.id, error = %e, "could not park a delivery");
            }
        }
    }

    /// Brings parked deliveries due within [`PARK_BEYOND`] back to the queue.
    pub async fn unpark(&self) -> Result<usize, DeliveryError> {
        let soon = now_ms() + i64::try_from(PARK_BEYOND.as_millis()).unwrap_or(0);
        let mut count = 0;
        for stored in self.inner.deliveries.parked().await? {
            if stored.delivery.next_attempt_at_ms > soon {
                continue;
            }
            let ready = Delivery {
                parked: false,
                ..stored.delivery
            };
            match self.inner.deliveries.update(&ready, stored.revision).await {
                Ok(_) => count += 1,
                // Someone else changed it; the next scan sees that.
                Err(DeliveryError::Store(StoreError::Conflict { .. })) => {}
                // Still parked: the next slow scan tries again.
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }

    /// Whether `d` is not running and its endpoint has room for one more.
    fn may_start(&self, d: &Delivery) -> bool {
        let limit = self.inner.config.per_endpoint_concurrency.max(1);
        self.inner.in_flight.lock().is_ok_and(|f| {
            !f.ids.contains(&d.id)
                && f.per_endpoint.get(&d.endpoint_id).copied().unwrap_or(0) < limit
        })
    }

    /// Marks delivery `id` busy (or free); an attempt also counts against
    /// its `endpoint`, a parking write does not.
    fn set_in_flight(&self, id: &str, endpoint: Option<&str>, on: bool) {
        if let Ok(mut f) = self.inner.in_flight.lock() {
            if let Some(endpoint) = endpoint {
                let count = f.per_endpoint.entry(endpoint.to_owned()).or_insert(0);
                *count = if on {
                    *count + 1
                } else {
                    count.saturating_sub(1)
                };
            }
            if on {
                f.ids.insert(id.to_owned());
            } else {
                f.ids.remove(id);
            }
        }
    }

    /// Each endpoint's circuit state, for the delivery log and metrics.
    pub fn circuits(&self) -> Vec<(String, BreakerState)> {
        self.inner.breakers.states()
    }
}

impl Inner {
    /// [`Inner::attempt`] if `scanned` is still the delivery as stored (a
    /// scan may be up to [`RESCAN_EVERY`] old); else nothing.
    async fn attempt_current(&self, scanned: StoredDelivery) -> Result<(), DeliveryError> {
        match self.deliveries.get(&scanned.delivery.id).await? {
            Some(current)
                if current.revision == scanned.revision
                    && current.delivery.state == DeliveryState::Pending
                    && !current.delivery.parked =>
            {
                self.attempt(current).await
            }
            _ => Ok(()),
        }
    }

    async fn attempt(&self, stored: StoredDelivery) -> Result<(), DeliveryError> {
        let StoredDelivery {
            revision,
            delivery: d,
        } = stored;
        let endpoint = match self.registry.get::<WebhookEndpoint>(&d.endpoint_id).await {
            Ok(found) => found.map(|v| v.entity).filter(|e| e.enabled),
            // Corrupt data: permanent, whatever the schedule says.
            Err(e @ RegistryError::Decode { .. }) => {
                return self
                    .give_up(d, revision, "endpoint_corrupt", &e.to_string())
                    .await;
            }
            // A store fault is transient: the delivery stays pending, as
            // it was, and the next scan makes the attempt again. It counts
            // against neither the retry schedule nor the endpoint's circuit.
            Err(RegistryError::Store(e)) => return Err(DeliveryError::Store(e)),
        };
        let Some(endpoint) = endpoint else {
            return self
                .give_up(
                    d,
                    revision,
                    "endpoint_disabled",
                    "the endpoint is disabled or gone",
                )
                .await;
        };
        let at_ms = now_ms();
        let secrets: Vec<HmacSecret> = endpoint
            .signing_secrets(at_ms.div_euclid(1000))
            .into_iter()
            .filter_map(|s| HmacSecret::parse(s).ok())
            .collect();
        let message = WebhookMessage {
            id: &d.id,
            timestamp: at_ms.div_euclid(1000),
            body: d.payload.as_bytes(),
        };
        let mut sent = headers(&message, &self.keys, &secrets);
        // The delivery span's own context when spans are exported, else
        // the one the delivery was scheduled with.
        let traceparent = moneta_telemetry::current()
            .map(|context| context.traceparent)
            .or_else(|| d.traceparent.clone());
        if let Some(traceparent) = traceparent {
            sent.push((moneta_telemetry::TRACEPARENT, traceparent));
        }
        let timeout = Duration::from_millis(endpoint.timeout_ms.unwrap_or(self.config.timeout_ms));
        let outcome = self
            .deliverer
            .attempt_with_timeout(
                &endpoint.url,
                &sent,
                d.payload.clone().into_bytes(),
                timeout,
            )
            .await;
        match outcome.result {
            AttemptResult::Delivered => self.breakers.on_success(&d.endpoint_id),
            AttemptResult::Retry { .. } => self.breakers.on_failure(&d.endpoint_id, Instant::now()),
            AttemptResult::Gone | AttemptResult::Refused => {}
        }
        let label = match outcome.result {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Retry { .. } => "retry",
            AttemptResult::Gone => "gone",
            AttemptResult::Refused => "refused",
        };
        let circuit = self.breakers.state(&d.endpoint_id);
        self.observe(&d.endpoint_id, label, outcome.latency, circuit);
        let attempts = d.attempts + 1;
        let total = d.total_attempts + 1;
        self.deliveries
            .record_attempt(&DeliveryAttempt {
                id: format!("{}/{total:04}", d.id),
                delivery_id: d.id.clone(),
                endpoint_id: d.endpoint_id.clone(),
                contract_id: d.contract_id.clone(),
                attempt: total,
                at_ms,
                status: outcome.status,
                latency_ms: u64::try_from(outcome.latency.as_millis()).unwrap_or(u64::MAX),
                error: outcome.error.clone(),
                outcome: format!("{label} (circuit {})", circuit.as_str()),
                response: outcome.response.clone(),
            })
            .await?;
        let d = Delivery {
            attempts,
            total_attempts: total,
            last_status: outcome.status,
            last_error: outcome.error.clone(),
            ..d
        };
        match outcome.result {
            AttemptResult::Delivered => {
                let event_key = d.event_key.clone();
                let delivered = Delivery {
                    state: DeliveryState::Delivered,
                    finished_at_ms: Some(now_ms()),
                    ..d
                };
                self.deliveries.update(&delivered, revision).await?;
                self.mark_event_delivered(event_key.as_deref(), &delivered.organization_id, at_ms)
                    .await;
                Ok(())
            }
            AttemptResult::Retry { after } => {
                let schedule = RetrySchedule {
                    attempts: self
                        .config
                        .retry
                        .attempts
                        .max(endpoint.max_attempts.unwrap_or(0)),
                    ..self.config.retry
                };
                match schedule.next_delay(attempts, RetrySchedule::seed_for(&d.id), after) {
                    Some(delay) => {
                        let next = Delivery {
                            next_attempt_at_ms: now_ms()
                                + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2),
                            parked: delay > PARK_BEYOND,
                            ..d
                        };
                        self.deliveries.update(&next, revision).await.map(|_| ())
                    }
                    None => {
                        let why = format!("no 2xx after {attempts} attempts");
                        self.give_up(d, revision, "retries_exhausted", &why).await
                    }
                }
            }
            AttemptResult::Gone => {
                // The delivery is over either way; a store fault only means
                // the endpoint stays enabled until its next 410.
                let why = match self.disable(&endpoint).await {
                    Ok(()) => "the endpoint answered 410 Gone and is disabled",
                    Err(e) => {
                        tracing::warn!(error = %e, endpoint = %endpoint.id, "could not disable a gone endpoint");
                        "the endpoint answered 410 Gone; disabling it failed (see the log)"
                    }
                };
                self.give_up(d, revision, "endpoint_gone", why).await
            }
            AttemptResult::Refused => {
                let why = outcome.error.unwrap_or_else(|| "refused".into());
                self.give_up(d, revision, "refused", &why).await
            }
        }
    }

    fn observe(&self, endpoint: &str, outcome: &str, latency: Duration, circuit: BreakerState) {
        let m = &self.metrics;
        m.attempts.with_label_values(&[endpoint, outcome]).inc();
        m.latency
            .with_label_values(&[endpoint])
            .observe(latency.as_secs_f64());
        let level = match circuit {
            BreakerState::Closed => 0,
            BreakerState::HalfOpen => 1,
            BreakerState::Open => 2,
        };
        m.circuit.with_label_values(&[endpoint]).set(level);
    }

    /// Dead-letters the delivery (waiting for the broker), then marks it failed.
    async fn give_up(
        &self,
        d: Delivery,
        revision: u64,
        code: &str,
        message: &str,
    ) -> Result<(), DeliveryError> {
        tracing::warn!(code, reason = message, "delivery given up; dead-lettered");
        let body = serde_json::json!({"delivery": d, "code": code, "message": message}).to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "moneta.dlq.error.code",
                value: Some(code),
            })
            .insert(Header {
                key: "moneta.dlq.error.message",
                value: Some(message),
            })
            .insert(Header {
                key: "moneta.dlq.processor",
                value: Some("webhook-delivery"),
            });
        let record = FutureRecord::to(&self.config.dead_letter)
            .key(&d.endpoint_id)
            .payload(&body)
            .headers(headers);
        if let Err((e, _)) = self.producer.send(record, Duration::from_secs(30)).await {
            return Err(DeliveryError::Store(moneta_state::StoreError::Backend(
                format!("dead-letter topic {}: {e}", self.config.dead_letter),
            )));
        }
        self.metrics
            .dead_lettered
            .with_label_values(&[d.endpoint_id.as_str()])
            .inc();
        let failed = Delivery {
            state: DeliveryState::Failed,
            finished_at_ms: Some(now_ms()),
            last_error: Some(format!("{code}: {message}")),
            ..d
        };
        self.deliveries.update(&failed, revision).await.map(|_| ())
    }

    /// Disables a gone endpoint (one no longer stored needs nothing).
    async fn disable(&self, endpoint: &WebhookEndpoint) -> Result<(), RegistryError> {
        let Some(current) = self.registry.get::<WebhookEndpoint>(&endpoint.id).await? else {
            return Ok(());
        };
        let disabled = WebhookEndpoint {
            enabled: false,
            ..current.entity
        };
        self.registry.update(&disabled, current.revision).await?;
        Ok(())
    }

    /// Adds the `delivered` step of the organization that received the
    /// contract to the event that completed it (one step per party).
    async fn mark_event_delivered(&self, event_key: Option<&str>, organization: &str, at_ms: i64) {
        let Some((partner, event_id)) = event_key.and_then(|k| k.split_once('/')) else {
            return;
        };
        let step = EventStep {
            state: EventState::Delivered,
            stage: format!("webhook-delivery:{organization}"),
            at_ms,
            code: None,
            message: None,
            source: None,
        };
        if let Err(e) = self.events.advance(partner, event_id, step).await {
            tracing::warn!(error = %e, "could not mark the event delivered");
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

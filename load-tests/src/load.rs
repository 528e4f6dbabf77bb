//! The open-loop load generator against a running `moneta up`.
//!
//! A signer thread prepares every request in schedule order (RFC 8785 +
//! ed25519 over the terms, RFC 9421 over the request), a little ahead of
//! time; the scheduler sends each at its intended time on its own task,
//! whatever happened to the ones before (open loop). A request that would
//! exceed `max_in_flight` is not sent and counts as an error. Latency runs
//! from the intended time to the last byte of the answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use moneta_ingest::PartnerClient;
use serde::Serialize;
use tokio::sync::{Semaphore, mpsc};

use crate::hub::{Hub, TOKEN, metric_sum};
use crate::network::{self, Admin, Pair, SignedRequest};
use crate::procstat::{Usage, Watched};
use crate::schedule::{Arrival, Phase, Role, arrivals};
use crate::tracker::{ACCEPTED, FAILED, Percentiles, Tracker};

/// The stages of the chain `moneta up` runs, in order.
pub const STAGES: [&str; 7] = [
    "validate",
    "template-check",
    "countersign",
    "webhook-dispatch",
    "ledger",
    "settle-aggregate",
    "reconcile-match",
];

/// The countersigned topic (`[contracts.topics] countersigned` default).
const COUNTERSIGNED: &str = "moneta.contracts.countersigned";

/// Options shared by every load scenario.
#[derive(Debug, Clone, Serialize)]
pub struct LoadSettings {
    /// MO–publisher pairs (simulated partners = 2 × pairs).
    pub pairs: usize,
    /// From a publisher's submission to the MO's co-sign, ms.
    pub cosign_delay_ms: u64,
    /// Requests in flight at most; beyond it a request is an error.
    pub max_in_flight: usize,
    /// Per-request timeout, ms.
    pub timeout_ms: u64,
    /// After the last request, how long to wait for the chain to finish, s.
    pub drain_secs: u64,
    /// Stop sending after a phase in which the edge saturated (ramp).
    pub stop_when_edge_saturates: bool,
}

/// A phase saturated the edge: over 5% failed, or p99 over 2 s.
pub fn edge_saturated(sent: u64, errors: u64, edge_p99_ms: f64) -> bool {
    (sent > 0 && errors * 20 > sent) || edge_p99_ms > 2000.0
}

/// One stage's progress over a phase, from `moneta up`'s `/metrics`.
#[derive(Debug, Clone, Serialize)]
pub struct StageProgress {
    /// Stage name.
    pub stage: String,
    /// Input records processed during the phase.
    pub records_in: f64,
    /// Per second.
    pub per_sec: f64,
    /// Consumer lag at the end of the phase (records), if exported.
    pub lag_at_end: Option<f64>,
}

/// What one phase measured.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// Phase label.
    pub label: String,
    /// Offered rate, requests/s.
    pub offered_per_sec: f64,
    /// Length, s.
    pub seconds: f64,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered 202.
    pub accepted: u64,
    /// Accepted requests per second.
    pub accepted_per_sec: f64,
    /// Failed requests (not 202, transport, timeout, not sent).
    pub errors: u64,
    /// Failures by kind.
    pub error_kinds: std::collections::BTreeMap<String, u64>,
    /// Edge latency, intended send → answer.
    pub edge: Percentiles,
    /// Edge latency of the early refusals (`429`, `503`) alone.
    pub refused: Percentiles,
    /// Contracts whose co-sign was accepted in the phase.
    pub contracts: u64,
    /// Co-sign intended time → countersigned record read back.
    pub countersigned: Percentiles,
    /// Co-sign intended time → webhook received (every delivery).
    pub webhook: Percentiles,
    /// Contracts never seen countersigned within the drain.
    pub countersigned_missing: u64,
    /// Webhooks never received within the drain.
    pub webhooks_missing: u64,
    /// CPU and memory of each process over the phase.
    pub processes: Vec<Usage>,
    /// Each stage's throughput over the phase.
    pub stages: Vec<StageProgress>,
}

/// A whole load run.
#[derive(Debug, Clone, Serialize)]
pub struct LoadRun {
    /// Phases, in order.
    pub phases: Vec<PhaseResult>,
    /// The processes after the drain (CPU over the drain).
    pub drain: Vec<Usage>,
    /// Seconds the drain took.
    pub drain_seconds: f64,
    /// WARN/ERROR lines in `moneta up`'s log.
    pub moneta_log_problems: Vec<String>,
}

/// Seeds the network into `hub`, checks one contract goes all the way,
/// then runs `phases` and waits for the chain to drain.
pub async fn run(
    hub: &Hub,
    phases: &[Phase],
    settings: &LoadSettings,
    tag: &str,
) -> anyhow::Result<LoadRun> {
    let pairs = network::network(settings.pairs);
    let slot: crate::observe::Slot = Arc::default();
    let (webhook_base, receiver) = crate::observe::webhook_receiver(slot.clone()).await?;
    eprintln!(
        "seeding {} simulated partners ({} pairs)",
        pairs.len() * 2,
        pairs.len()
    );
    Admin::new(&hub.admin, TOKEN)
        .seed(&pairs, Some(&webhook_base))
        .await
        .context("seeding the partner network")?;
    probe(hub, &pairs[0], tag).await?;

    let schedule = arrivals(phases, Duration::from_millis(settings.cosign_delay_ms));
    // Start a little in the future so the signer is ahead from the first request.
    let start = Instant::now() + Duration::from_secs(2);
    let tracker = Arc::new(Tracker::new(tag, &schedule, phases.len(), start, 2)?);
    let _ = slot.set(tracker.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = crate::observe::watch_countersigned(
        &hub.bootstrap,
        COUNTERSIGNED,
        tracker.clone(),
        stop.clone(),
    )?;

    moneta_tls::install_crypto_provider();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(settings.max_in_flight)
        .timeout(Duration::from_millis(settings.timeout_ms))
        .build()?;
    let mut watched = vec![Watched::new("moneta up", hub.pid())];
    if let Some(pid) = hub.broker_pid() {
        watched.push(Watched::new(crate::procstat::BROKER, pid));
    }
    watched.push(Watched::new("load generator", std::process::id()));
    let abort = Arc::new(AtomicBool::new(false));
    let monitor = tokio::spawn(monitor(
        hub.metrics.clone(),
        http.clone(),
        phases.to_vec(),
        start,
        watched,
        settings
            .stop_when_edge_saturates
            .then(|| (tracker.clone(), abort.clone())),
    ));

    let total = schedule.len();
    eprintln!(
        "sending {total} requests over {:.0} s: {}",
        phases.iter().map(|p| p.seconds).sum::<f64>(),
        phases
            .iter()
            .map(|p| format!("{} {}/s × {} s", p.label, p.rate, p.seconds))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (tx, rx) = mpsc::channel::<(Arrival, SignedRequest)>(4096);
    let signer = spawn_signer(schedule, pairs, tag.to_owned(), hub.base(), tx);
    let in_flight = Arc::new(Semaphore::new(settings.max_in_flight));
    schedule_sends(rx, &http, &hub.base(), &tracker, &in_flight, start, &abort).await;
    if abort.load(Ordering::Relaxed) {
        eprintln!("the edge saturated: the remaining phases are not sent");
    }
    signer
        .join()
        .map_err(|_| anyhow::anyhow!("the signer thread panicked"))??;
    // Every request answered (or timed out).
    let permits = u32::try_from(settings.max_in_flight)?;
    drop(in_flight.acquire_many(permits).await?);
    let mut samples = monitor.await?;

    let drain_start = Instant::now();
    let deadline = drain_start + Duration::from_secs(settings.drain_secs);
    loop {
        let (cosigned, countersigned, webhooks) = tracker.totals();
        if countersigned >= cosigned && webhooks >= 2 * cosigned {
            break;
        }
        if Instant::now() > deadline {
            eprintln!(
                "drain timed out: {countersigned}/{cosigned} countersigned, {webhooks}/{} webhooks",
                2 * cosigned
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drain_seconds = drain_start.elapsed().as_secs_f64();
    let since_last = samples.last.elapsed().as_secs_f64();
    let drain: Vec<Usage> = samples
        .watched
        .iter_mut()
        .map(|w| w.interval(since_last))
        .collect();
    stop.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || watcher.join()).await;
    receiver.abort();

    let results = tracker.each_phase(|i, s| {
        let phase = &phases[i];
        let errors: u64 = s.errors.values().sum();
        let sample = samples.phases.get(i);
        PhaseResult {
            label: phase.label.clone(),
            offered_per_sec: phase.rate,
            seconds: phase.seconds,
            sent: s.sent,
            accepted: s.accepted,
            accepted_per_sec: s.accepted as f64 / phase.seconds,
            errors,
            error_kinds: s.errors.clone(),
            edge: Percentiles::of(&s.edge),
            refused: Percentiles::of(&s.refused),
            contracts: s.cosigned,
            countersigned: Percentiles::of(&s.countersigned),
            webhook: Percentiles::of(&s.webhook),
            countersigned_missing: s.cosigned.saturating_sub(s.countersigned.len()),
            webhooks_missing: (2 * s.cosigned).saturating_sub(s.webhook.len()),
            processes: sample.map(|s| s.usage.clone()).unwrap_or_default(),
            stages: sample.map(|s| s.stages.clone()).unwrap_or_default(),
        }
    });
    let results: Vec<PhaseResult> = results
        .into_iter()
        .filter(|p| p.sent > 0 || p.errors > 0)
        .collect();
    Ok(LoadRun {
        phases: results,
        drain,
        drain_seconds,
        moneta_log_problems: hub.log_problems().into_iter().take(20).collect(),
    })
}

/// Submits one contract and follows it to countersigned: the chain is
/// wired and warm before the clock starts.
async fn probe(hub: &Hub, pair: &Pair, tag: &str) -> anyhow::Result<()> {
    let terms = network::contract(&format!("{tag}probe"), 0, pair);
    for partner in [&pair.publisher, &pair.mo] {
        let client = partner.client(&hub.base());
        let event_id = format!("{}-{}", terms.contract_id, partner.party);
        let body = client.submission(&event_id, &terms, partner.party)?;
        let reply = client
            .submit("subscription_charges", &body, Some(&event_id))
            .await?;
        if reply.status != 202 {
            bail!("probe submission refused: {} {}", reply.status, reply.body);
        }
    }
    let client = pair.mo.client(&hub.base());
    let event = format!("{}-mo", terms.contract_id);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let reply = client.get(&format!("/v1/events/{event}")).await?;
        let steps = &reply.body["steps"];
        if steps
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["state"] == "countersigned"))
        {
            return Ok(());
        }
        if reply.body["status"] == "rejected" {
            bail!("probe contract rejected: {}", reply.body);
        }
        if Instant::now() > deadline {
            bail!(
                "probe contract not countersigned in 90 s: {}\n{}",
                reply.body,
                hub.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Prepares every request in schedule order on its own thread.
fn spawn_signer(
    schedule: Vec<Arrival>,
    pairs: Vec<Pair>,
    tag: String,
    base: String,
    tx: mpsc::Sender<(Arrival, SignedRequest)>,
) -> std::thread::JoinHandle<anyhow::Result<()>> {
    std::thread::spawn(move || {
        let clients: Vec<(PartnerClient, PartnerClient)> = pairs
            .iter()
            .map(|p| (p.publisher.client(&base), p.mo.client(&base)))
            .collect();
        for arrival in schedule {
            let index = (arrival.contract % pairs.len() as u64) as usize;
            let (pair, (publisher, mo)) = (&pairs[index], &clients[index]);
            let terms = network::contract(&tag, arrival.contract, pair);
            let request = match arrival.role {
                Role::Publisher => network::signed_submission(publisher, &pair.publisher, &terms)?,
                Role::Mo => network::signed_submission(mo, &pair.mo, &terms)?,
            };
            if tx.blocking_send((arrival, request)).is_err() {
                break;
            }
        }
        Ok(())
    })
}

/// Sends each request at its intended time on its own task.
async fn schedule_sends(
    mut rx: mpsc::Receiver<(Arrival, SignedRequest)>,
    http: &reqwest::Client,
    base: &str,
    tracker: &Arc<Tracker>,
    in_flight: &Arc<Semaphore>,
    start: Instant,
    abort: &AtomicBool,
) {
    let url = format!("{base}{}", network::DOMAIN_PATH);
    let mut sent = 0u64;
    let mut next_report = start + Duration::from_secs(10);
    while let Some((arrival, request)) = rx.recv().await {
        let due = start + arrival.at;
        tokio::time::sleep_until(due.into()).await;
        if abort.load(Ordering::Relaxed) {
            break;
        }
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            tracker.answered(&arrival, Err("in_flight_cap"), Instant::now());
            continue;
        };
        let (http, url, task_tracker) = (http.clone(), url.clone(), tracker.clone());
        tokio::spawn(async move {
            send(&http, &url, arrival, request, &task_tracker).await;
            drop(permit);
        });
        sent += 1;
        if Instant::now() >= next_report {
            let (cosigned, countersigned, webhooks) = tracker.totals();
            eprintln!(
                "  {:>6.1} s: {sent} requests scheduled; {cosigned} contracts co-signed, {countersigned} countersigned, {webhooks} webhooks",
                arrival.at.as_secs_f64()
            );
            next_report += Duration::from_secs(10);
        }
    }
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    arrival: Arrival,
    request: SignedRequest,
    tracker: &Tracker,
) {
    if arrival.role == Role::Mo {
        // The co-sign must follow the publisher's accepted submission;
        // any wait counts in its latency (measured from the intended time).
        loop {
            match tracker.publisher_state(arrival.contract) {
                ACCEPTED => break,
                FAILED => {
                    tracker.answered(&arrival, Err("publisher_failed"), Instant::now());
                    return;
                }
                _ => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    tracker.sent(&arrival);
    let outcome = match http
        .post(url)
        .headers(request.headers)
        .body(request.body)
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(_) => Ok(status),
                Err(_) => Err("transport"),
            }
        }
        Err(e) if e.is_timeout() => Err("timeout"),
        Err(_) => Err("transport"),
    };
    tracker.answered(&arrival, outcome, Instant::now());
}

/// What the monitor saw at the end of one phase.
struct Sample {
    usage: Vec<Usage>,
    stages: Vec<StageProgress>,
}

/// Every phase's samples, and the watchers to continue from.
struct Samples {
    phases: Vec<Sample>,
    watched: Vec<Watched>,
    last: Instant,
}

/// At every phase boundary: CPU and RSS of each process, each stage's progress.
async fn monitor(
    metrics: String,
    http: reqwest::Client,
    phases: Vec<Phase>,
    start: Instant,
    mut watched: Vec<Watched>,
    early_stop: Option<(Arc<Tracker>, Arc<AtomicBool>)>,
) -> Samples {
    let scrape = |http: reqwest::Client, metrics: String| async move {
        let text = match http
            .get(format!("http://{metrics}/metrics"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let progress: Vec<(f64, Option<f64>)> = STAGES
            .iter()
            .map(|stage| {
                let label = format!("processor=\"{stage}\"");
                let lag = text
                    .contains("moneta_consumer_lag")
                    .then(|| metric_sum(&text, "moneta_consumer_lag", &[&label]));
                (metric_sum(&text, "moneta_records_in_total", &[&label]), lag)
            })
            .collect();
        progress
    };
    tokio::time::sleep_until(start.into()).await;
    for w in &mut watched {
        w.interval(0.0);
    }
    let mut last = Instant::now();
    let mut before = scrape(http.clone(), metrics.clone()).await;
    let mut at = start;
    let mut out = Vec::new();
    for phase in &phases {
        at += Duration::from_secs_f64(phase.seconds);
        tokio::time::sleep_until(at.into()).await;
        let seconds = last.elapsed().as_secs_f64();
        last = Instant::now();
        let usage = watched.iter_mut().map(|w| w.interval(seconds)).collect();
        let now = scrape(http.clone(), metrics.clone()).await;
        let stages = STAGES
            .iter()
            .zip(now.iter().zip(&before))
            .map(|(stage, ((n, lag), (b, _)))| StageProgress {
                stage: (*stage).to_owned(),
                records_in: n - b,
                per_sec: (n - b) / phase.seconds,
                lag_at_end: *lag,
            })
            .collect();
        before = now;
        out.push(Sample { usage, stages });
        if let Some((tracker, abort)) = &early_stop {
            // Answers still in flight land a little later; give them a moment.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let index = out.len() - 1;
            let saturated = tracker.each_phase(|i, s| {
                let errors: u64 = s.errors.values().sum();
                i == index && edge_saturated(s.sent, errors, Percentiles::of(&s.edge).p99_ms)
            });
            if saturated.into_iter().any(|x| x) {
                abort.store(true, Ordering::Relaxed);
                break;
            }
        }
    }
    Samples {
        phases: out,
        watched,
        last,
    }
}

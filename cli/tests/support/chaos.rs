//! The chaos run both `chaos.rs` and `scaled_out.rs` drive: many contracts
//! through the whole topology, `exactly_once` on real Kafka, while Moneta's
//! processes are SIGKILLed every few seconds and restarted (all of `moneta
//! up`, or one stage instance of the scaled-out layout at a time), a broker
//! may be SIGKILLed under the running pipeline and brought back, and the
//! webhook receiver fails a share of its requests. Afterwards everything is
//! checked against a reference computed from the inputs (settlement totals
//! to the minor unit), and the counts are printed.
//!
//! Partners behave like real ones: a submission that fails on the
//! connection or with a 5xx is sent again, freshly signed, with the same
//! `Idempotency-Key`. A run has at least [`MIN_KILLS`] kills; those after
//! everything settled check that a restart recognises what was already
//! applied. `MONETA_CHAOS_CONTRACTS` sets the number of contracts (default
//! 80); `MONETA_CHAOS_SEED` the kill schedule's seed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Layout, Moneta, SCALED_OUT};
use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use moneta_avro::{AvroCodec, SchemaName, Settlement, SettlementKind};
use moneta_domain::ContractTerms;
use moneta_ingest::PartnerClient;
use moneta_testkit::kafka::{client, leader_of, produce_raw, read_topic};
use moneta_topology::demo::{ACME, DemoPartner, GLOBE, subscription_charge};
use rdkafka::message::Message;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{Value, json};

/// Records produced straight to partner ingress that no one can decode.
const GARBAGE: usize = 7;
/// Fewest SIGKILLs of a run.
const MIN_KILLS: usize = 6;
/// Longest the whole run may wait for anything to settle.
const SETTLE: Duration = Duration::from_secs(300);

/// What the receiver saw.
#[derive(Default)]
struct Receiver {
    /// Requests per webhook id.
    requests: Mutex<HashMap<String, usize>>,
    /// Webhook ids answered 2xx, with how often, and the contract each carried.
    delivered: Mutex<BTreeMap<String, (usize, String)>>,
}

/// Fails about a quarter of the requests: by id and attempt, so a retry of
/// a failed request may succeed.
async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> StatusCode {
    let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    let attempt = {
        let Ok(mut requests) = receiver.requests.lock() else {
            return StatusCode::INTERNAL_SERVER_ERROR;
        };
        let n = requests.entry(id.to_owned()).or_default();
        *n += 1;
        *n
    };
    let roll = id.bytes().fold(attempt as u64 * 7919, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 4;
    if roll == 0 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let contract = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["data"]["contract_id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if let Ok(mut delivered) = receiver.delivered.lock() {
        delivered.entry(id.to_owned()).or_insert((0, contract)).0 += 1;
    }
    StatusCode::NO_CONTENT
}

/// A tiny deterministic generator for the kill schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One contract of the run: a charge on a November day.
fn charge(i: usize) -> (ContractTerms, i64) {
    let id = format!("chaos-{i:05}");
    let amount = 100 + (i as i64 * 37) % 900;
    let day = 1 + i % 28;
    let mut terms = subscription_charge(&id);
    terms.terms["subscription_id"] = json!(format!("sub-{i}"));
    terms.terms["amount_minor"] = json!(amount);
    terms.terms["charged_at"] = json!(format!("2026-11-{day:02}T12:00:00Z"));
    (terms, amount)
}

/// A charge whose template version does not exist: rejected after acceptance.
fn invalid(i: usize) -> ContractTerms {
    let (mut terms, _) = charge(i);
    terms.contract_id = format!("chaos-bad-{i:05}");
    terms.template_version = 99;
    terms
}

/// The contract that closes November: charged on 1 December (past November
/// and its grace, and not later than the day it reaches Moneta).
fn closer() -> ContractTerms {
    let mut terms = subscription_charge("chaos-closer");
    terms.terms["subscription_id"] = json!("sub-closer");
    terms.terms["charged_at"] = json!("2026-12-01T12:00:00Z");
    terms
}

/// Submits like a real partner: retries connection failures and 5xx,
/// freshly signed, under the same Idempotency-Key. Returns the final status.
async fn submit(
    client: &PartnerClient,
    partner: DemoPartner,
    event_id: &str,
    terms: &ContractTerms,
    retries: &AtomicUsize,
) -> anyhow::Result<u16> {
    let body = client.submission(event_id, terms, partner.party)?;
    let deadline = Instant::now() + SETTLE;
    loop {
        match client
            .submit("subscription_charges", &body, Some(event_id))
            .await
        {
            // The first attempt's claim outlived a SIGKILL: it is taken
            // over once the killed edge's lease is `claim_lease_s` stale.
            Ok(reply) if reply.body["code"] == "idempotency_key_in_flight" => {
                retries.fetch_add(1, Ordering::Relaxed);
                ensure!(Instant::now() < deadline, "{event_id}: in flight for ever");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(reply) if reply.status < 500 => return Ok(reply.status),
            Ok(_) | Err(_) => {
                retries.fetch_add(1, Ordering::Relaxed);
                ensure!(Instant::now() < deadline, "{event_id}: never accepted");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    }
}

/// Every contract signed by `partner` (event ids `chaos-<n>-<suffix>`),
/// all accepted, then each event in one of `states`.
async fn sign_all(
    client: &Arc<PartnerClient>,
    partner: DemoPartner,
    suffix: &'static str,
    contracts: usize,
    retries: &Arc<AtomicUsize>,
    states: &'static [&'static str],
) -> anyhow::Result<()> {
    let statuses = each((0..contracts).collect(), 8, |i| {
        let (client, retries) = (client.clone(), retries.clone());
        async move {
            let event = format!("chaos-{i:05}-{suffix}");
            submit(&client, partner, &event, &charge(i).0, &retries).await
        }
    })
    .await?;
    ensure!(
        statuses.iter().all(|s| matches!(s, Ok(200..=299))),
        "{suffix} submissions: {statuses:?}"
    );
    let reached = each((0..contracts).collect(), 16, |i| {
        let client = client.clone();
        async move { terminal(&client, &format!("chaos-{i:05}-{suffix}"), states).await }
    })
    .await?;
    ensure!(
        reached.iter().all(Result::is_ok),
        "{suffix} events: {:?}",
        reached.iter().find(|r| r.is_err())
    );
    Ok(())
}

/// Waits until `event_id` is in one of `states`; returns the state.
async fn terminal(
    client: &PartnerClient,
    event_id: &str,
    states: &[&str],
) -> anyhow::Result<String> {
    let deadline = Instant::now() + SETTLE;
    loop {
        if let Ok(reply) = client.get(&format!("/v1/events/{event_id}")).await
            && let Some(status) = reply.body["status"].as_str()
            && states.contains(&status)
        {
            return Ok(status.to_owned());
        }
        ensure!(
            Instant::now() < deadline,
            "{event_id} never reached {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs `f` over `items` with at most `width` at once.
async fn each<T, F, Fut>(items: Vec<T>, width: usize, f: F) -> anyhow::Result<Vec<Fut::Output>>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(width));
    let mut tasks = Vec::new();
    for item in items {
        let permit = gate.clone().acquire_owned().await?;
        let future = f(item);
        tasks.push(tokio::spawn(async move {
            let out = future.await;
            drop(permit);
            out
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await?);
    }
    Ok(out)
}

/// Counts the run prints.
#[derive(Default)]
struct Counts {
    contracts: usize,
    submissions: usize,
    submit_retries: usize,
    kills: usize,
    /// SIGKILLs per process.
    killed: BTreeMap<String, usize>,
    broker_restarts: usize,
    countersigned: usize,
    rejected: usize,
    countersigned_records: usize,
    /// Countersigned records beyond one per contract.
    duplicates: usize,
    /// Contracts accepted and never countersigned.
    lost: usize,
    ledger_entries: usize,
    ledger_duplicates: usize,
    settlements: usize,
    adjustments: usize,
    settled_minor: i64,
    deliveries: usize,
    webhook_requests: usize,
    webhook_repeats: usize,
    dead_letters: usize,
    /// `moneta settlements verify`'s summary line.
    verify: String,
}

impl Counts {
    /// One line per count.
    fn report(&self) -> String {
        [
            ("contracts", self.contracts.to_string()),
            ("submissions", self.submissions.to_string()),
            (
                "submission retries (edge down)",
                self.submit_retries.to_string(),
            ),
            ("SIGKILLs", self.kills.to_string()),
            (
                "  of",
                self.killed
                    .iter()
                    .map(|(name, n)| format!("{name} ×{n}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            ("broker restarts", self.broker_restarts.to_string()),
            ("contracts countersigned", self.countersigned.to_string()),
            ("invalid events rejected", self.rejected.to_string()),
            (
                "countersigned records (with repeats)",
                self.countersigned_records.to_string(),
            ),
            ("countersigned duplicates", self.duplicates.to_string()),
            (
                "accepted, never countersigned (lost)",
                self.lost.to_string(),
            ),
            (
                "ledger records (with repeats)",
                self.ledger_entries.to_string(),
            ),
            (
                "ledger records repeated",
                self.ledger_duplicates.to_string(),
            ),
            ("November settlements", self.settlements.to_string()),
            ("moneta settlements verify", self.verify.clone()),
            ("November adjustments", self.adjustments.to_string()),
            (
                "settled, minor units (= reference)",
                self.settled_minor.to_string(),
            ),
            (
                "webhook deliveries, all delivered",
                self.deliveries.to_string(),
            ),
            (
                "webhook requests received",
                self.webhook_requests.to_string(),
            ),
            (
                "2xx repeats of a delivered id",
                self.webhook_repeats.to_string(),
            ),
            (
                "dead letters (= garbage produced)",
                self.dead_letters.to_string(),
            ),
        ]
        .iter()
        .map(|(name, value)| format!("  {name:<40} {value}"))
        .collect::<Vec<_>>()
        .join("\n")
    }
}

/// The brokers of the run and how one is disturbed.
pub enum Brokers {
    /// A broker of the run's own, SIGKILLed once and restarted.
    One(moneta_testkit::Broker),
    /// Three KRaft nodes; a partition leader is SIGKILLed and restarted.
    Three(moneta_testkit::Cluster),
    /// The test run's shared broker, left alone.
    Shared(String),
}

impl Brokers {
    /// The brokers `MONETA_CHAOS_BROKERS` asks for (1 or 3), started.
    pub fn start() -> anyhow::Result<Self> {
        Ok(match env_usize("MONETA_CHAOS_BROKERS", 1) {
            1 => Brokers::One(moneta_testkit::Broker::start()?),
            3 => Brokers::Three(moneta_testkit::Cluster::start()?),
            n => bail!("MONETA_CHAOS_BROKERS={n}: 1 or 3"),
        })
    }

    fn bootstrap(&self) -> String {
        match self {
            Brokers::One(broker) => broker.bootstrap_servers().to_owned(),
            Brokers::Three(cluster) => cluster.bootstrap_servers().to_owned(),
            Brokers::Shared(bootstrap) => bootstrap.clone(),
        }
    }

    /// Settings `moneta up` needs on these brokers.
    fn settings(&self) -> &'static str {
        match self {
            Brokers::One(_) | Brokers::Shared(_) => "",
            Brokers::Three(_) => "[topics]\nreplication_factor = 3\n",
        }
    }

    /// What the report calls these brokers.
    fn label(&self) -> &'static str {
        match self {
            Brokers::One(_) => "one broker",
            Brokers::Three(_) => "three brokers",
            Brokers::Shared(_) => "the test run's broker",
        }
    }

    /// SIGKILLs a broker under the running pipeline and brings it back:
    /// the only one, or the leader of `topic`'s first partition. Returns
    /// which node was killed (none for the shared broker).
    fn disrupt(&self, topic: &str) -> anyhow::Result<Option<i32>> {
        match self {
            Brokers::One(broker) => {
                broker.kill()?;
                std::thread::sleep(Duration::from_secs(2));
                broker.restart()?;
                Ok(Some(1))
            }
            Brokers::Shared(_) => Ok(None),
            Brokers::Three(cluster) => {
                let leader = leader_of(cluster.bootstrap_servers(), topic, 0)?;
                cluster.kill(leader)?;
                std::thread::sleep(Duration::from_secs(10));
                cluster.restart(leader)?;
                Ok(Some(leader))
            }
        }
    }
}

/// Runs the chaos run on `brokers`, Moneta in `layout` with `settings`
/// (TOML) on top of the run's own.
/// Returns every process's whole log.
pub fn run(brokers: Brokers, layout: Layout, settings: &str) -> anyhow::Result<String> {
    let contracts = env_usize("MONETA_CHAOS_CONTRACTS", 80);
    let seed = env_usize("MONETA_CHAOS_SEED", 20_261_123) as u64;
    let bootstrap = brokers.bootstrap();
    let brokers = Arc::new(brokers);
    let dir = tempfile::tempdir()?;
    let extra = format!(
        "{}[webhooks]\nallow_loopback = true\nallow_http = true\npoll_interval_ms = 50\nbreaker_threshold = 1000\n\n[webhooks.retry]\nattempts = 30\ninitial_ms = 200\nmax_ms = 2000\n",
        brokers.settings()
    );
    let extra = format!("{extra}{settings}");
    let moneta = Moneta::start_as(layout, &bootstrap, dir.path(), "exactly_once", &extra)?;
    moneta.seed()?;
    let ingest = moneta.base();
    let moneta = Arc::new(Mutex::new(moneta));
    let runtime = tokio::runtime::Runtime::new()?;
    let receiver = Arc::new(Receiver::default());
    let mut counts = Counts {
        contracts,
        ..Counts::default()
    };

    // The receiver and the endpoints of both parties.
    let hook = runtime.block_on(async {
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let addr = super::serve(app).await?;
        anyhow::Ok(format!("http://{addr}/hook"))
    })?;
    {
        let guard = moneta.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        for (id, org) in [
            ("wh-chaos-acme", ACME.organization_id),
            ("wh-chaos-globe", GLOBE.organization_id),
        ] {
            runtime.block_on(guard.admin(
                "/webhook-endpoints",
                json!({"id": id, "organization_id": org, "url": hook,
                       "event_types": ["contract.countersigned"], "enabled": true,
                       "secret": null, "created_at": 0}),
            ))?;
        }
    }

    // Chaos: every 2–5 s a SIGKILL (all of `moneta up`, or one stage
    // instance scaled out); a broker of the run's own dies once under the
    // running pipeline.
    let countersigned_topic = {
        let guard = moneta.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        guard.topic("moneta.contracts.countersigned")
    };
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (moneta, stop, killed) = (moneta.clone(), stop.clone(), killed.clone());
        let brokers = brokers.clone();
        std::thread::spawn(move || -> anyhow::Result<(Vec<String>, usize)> {
            let mut rng = Rng(seed | 1);
            let (mut kills, mut restarts) = (Vec::new(), 0);
            while !stop.load(Ordering::Relaxed) {
                let pause = Duration::from_millis(2_000 + rng.next(3_000));
                let until = Instant::now() + pause;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if kills.len() == 3
                    && restarts == 0
                    && let Some(node) = brokers.disrupt(&countersigned_topic)?
                {
                    restarts += 1;
                    eprintln!("chaos: broker {node} SIGKILLed and restarted");
                    continue;
                }
                let victim = victim(layout, kills.len(), &mut rng);
                let mut guard = moneta.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                let mut restart = || match victim {
                    Some(name) => guard.kill_and_restart_one(name),
                    None => guard.kill_and_restart(),
                };
                // Like a supervisor: a start that fails is tried again.
                let mut started = restart();
                for _ in 0..3 {
                    if started.is_ok() {
                        break;
                    }
                    eprintln!("chaos: {victim:?} did not come back; starting it again");
                    started = restart();
                }
                started?;
                kills.push(victim.unwrap_or("moneta up").to_owned());
                killed.store(kills.len(), Ordering::Relaxed);
                eprintln!(
                    "chaos: SIGKILL {} of {}",
                    kills.len(),
                    victim.unwrap_or("moneta up")
                );
            }
            Ok((kills, restarts))
        })
    };

    let retries = Arc::new(AtomicUsize::new(0));
    let outcome = runtime.block_on(async {
        // Publishers sign first, then MOs complete each contract.
        let publisher = Arc::new(GLOBE.client(&ingest));
        let mo = Arc::new(ACME.client(&ingest));
        let invalids = (contracts / 25).max(3);
        sign_all(
            &publisher,
            GLOBE,
            "p",
            contracts,
            &retries,
            &["recorded", "countersigned", "delivered"],
        )
        .await?;
        sign_all(
            &mo,
            ACME,
            "m",
            contracts,
            &retries,
            &["countersigned", "delivered"],
        )
        .await?;
        let mut refused_at_edge = 0;
        for i in 0..invalids {
            let status = submit(
                &mo,
                ACME,
                &format!("chaos-bad-{i:05}"),
                &invalid(i),
                &retries,
            )
            .await?;
            if !(200..=299).contains(&status) {
                refused_at_edge += 1;
            }
        }
        // Garbage straight to partner ingress.
        let partner_ingress = moneta
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .topic("moneta.contracts.partner-ingress");
        let producer: ThreadedProducer<DefaultProducerContext> = client(&bootstrap).create()?;
        for i in 0..GARBAGE {
            let key = format!("garbage-{i}");
            let payload = format!("not avro {i}");
            produce_raw(
                &producer,
                &partner_ingress,
                Some(key.as_bytes()),
                payload.as_bytes(),
            )?;
        }
        producer.flush(Duration::from_secs(10))?;

        let mut rejected = 0;
        for i in 0..invalids - refused_at_edge {
            let state = terminal(
                &mo,
                &format!("chaos-bad-{i:05}"),
                &["rejected", "countersigned"],
            )
            .await?;
            ensure!(state == "rejected", "chaos-bad-{i:05} ended {state}");
            rejected += 1;
        }
        // At least MIN_KILLS kills, the later ones after everything settled:
        // each restart must recognise what it already applied.
        while killed.load(Ordering::Relaxed) < MIN_KILLS {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::Ok((invalids, rejected + refused_at_edge))
    });
    stop.store(true, Ordering::Relaxed);
    let (kills, restarts) = killer
        .join()
        .map_err(|_| anyhow::anyhow!("killer panicked"))??;
    let (invalids, rejected) = outcome?;
    counts.kills = kills.len();
    for name in kills {
        *counts.killed.entry(name).or_default() += 1;
    }
    counts.broker_restarts = restarts;
    counts.submissions = 2 * contracts + invalids;
    counts.submit_retries = retries.load(Ordering::Relaxed);
    counts.rejected = rejected;

    // The closer, undisturbed, closes November for settlement.
    let guard = moneta.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    runtime.block_on(async {
        let (publisher, mo) = (GLOBE.client(&ingest), ACME.client(&ingest));
        let none = AtomicUsize::new(0);
        submit(&publisher, GLOBE, "chaos-closer-p", &closer(), &none).await?;
        terminal(&publisher, "chaos-closer-p", &["recorded"]).await?;
        submit(&mo, ACME, "chaos-closer-m", &closer(), &none).await?;
        terminal(&mo, "chaos-closer-m", &["countersigned", "delivered"]).await?;
        anyhow::Ok(())
    })?;

    verify(&guard, &runtime, &receiver, contracts, &mut counts)
        .with_context(|| guard.log_tail())?;
    eprintln!(
        "chaos run, exactly_once, {layout:?}, {}:\n{}",
        brokers.label(),
        counts.report()
    );
    Ok(guard.full_log())
}

/// The process kill number `kill` takes down: all of `moneta up`, or
/// scaled out one stage instance (countersign's second first, so the
/// partitions of a group with two members move at least once).
fn victim(layout: Layout, kill: usize, rng: &mut Rng) -> Option<&'static str> {
    let stages: Vec<&'static str> = SCALED_OUT
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| name.ends_with("-0") || name.ends_with("-1"))
        .collect();
    match layout {
        Layout::Up => None,
        Layout::ScaledOut if kill == 0 => Some("countersign-1"),
        Layout::ScaledOut => Some(stages[rng.next(stages.len() as u64) as usize]),
    }
}

/// Checks every effect against the reference computed from the inputs.
fn verify(
    moneta: &Moneta,
    runtime: &tokio::runtime::Runtime,
    receiver: &Receiver,
    contracts: usize,
    counts: &mut Counts,
) -> anyhow::Result<()> {
    let expected: BTreeSet<String> = (0..contracts)
        .map(|i| format!("chaos-{i:05}"))
        .chain(["chaos-closer".to_owned()])
        .collect();
    let bootstrap = &moneta.bootstrap;

    // Contracts: each countersigned by all three parties, at version 2.
    let client = GLOBE.client(&moneta.base());
    runtime.block_on(async {
        for id in &expected {
            let reply = client.get(&format!("/v1/contracts/{id}")).await?;
            ensure!(reply.status == 200, "{id}: {} {}", reply.status, reply.body);
            ensure!(reply.body["status"] == "finalized", "{id}: {}", reply.body);
        }
        anyhow::Ok(())
    })?;
    let countersigned = read_topic(
        bootstrap,
        &moneta.topic("moneta.contracts.countersigned"),
        usize::MAX,
        Duration::from_secs(3),
    )?;
    counts.countersigned_records = countersigned.len();
    let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
    let mut ids = BTreeSet::new();
    // Where each contract's records are, to show a duplicate.
    let mut at: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for message in &countersigned {
        let Some(payload) = message.payload() else {
            continue;
        };
        let contract: moneta_avro::Contract =
            runtime.block_on(codec.decode(SchemaName::Contract, payload))?;
        at.entry(contract.contract_id.clone())
            .or_default()
            .push(format!(
                "partition {} offset {} version {}",
                message.partition(),
                message.offset(),
                contract.version
            ));
        ids.insert(contract.contract_id);
    }
    counts.lost = expected.difference(&ids).count();
    counts.duplicates = countersigned.len() - ids.len();
    if counts.duplicates > 0 {
        let log = moneta.full_log();
        for (id, places) in at.iter().filter(|(_, p)| p.len() > 1) {
            eprintln!("duplicate: {id} at {places:?}; its log lines:");
            for line in log.lines().filter(|l| l.contains(id.as_str())).take(60) {
                eprintln!("  {line}");
            }
        }
    }
    ensure!(
        ids == expected,
        "countersigned topic: {} of {} contracts",
        ids.len(),
        expected.len()
    );
    // Exactly once: one countersigned record per contract, however often
    // its stage was killed mid-transaction.
    ensure!(
        counts.duplicates == 0,
        "{} countersigned records for {} contracts",
        countersigned.len(),
        expected.len()
    );
    // The run's contracts, read back from the topic (the closer aside).
    counts.countersigned = ids
        .iter()
        .filter(|id| id.as_str() != "chaos-closer")
        .count();

    // Ledger and settlements: every November charge settled exactly once.
    let ledger = read_topic(
        bootstrap,
        &moneta.topic("moneta.ledger.entries"),
        usize::MAX,
        Duration::from_secs(3),
    )?;
    counts.ledger_entries = ledger.len();
    let reference: i64 = (0..contracts).map(|i| charge(i).1).sum();
    let deadline = Instant::now() + SETTLE;
    let settled = loop {
        let mut by_id: BTreeMap<String, Settlement> = BTreeMap::new();
        for message in read_topic(
            bootstrap,
            &moneta.topic("moneta.settlements"),
            usize::MAX,
            Duration::from_secs(3),
        )? {
            let Some(payload) = message.payload() else {
                continue;
            };
            let s: Settlement = runtime.block_on(codec.decode(SchemaName::Settlement, payload))?;
            if let Some(previous) = by_id.insert(s.settlement_id.clone(), s.clone()) {
                ensure!(
                    previous == s,
                    "{} emitted twice with different content",
                    s.settlement_id
                );
            }
        }
        let total: i64 = by_id
            .values()
            .filter(|s| s.period_start.starts_with("2026-11"))
            .map(|s| s.total_minor)
            .sum();
        if total >= reference || Instant::now() > deadline {
            break by_id;
        }
        std::thread::sleep(Duration::from_secs(1));
    };
    let november: Vec<&Settlement> = settled
        .values()
        .filter(|s| s.period_start.starts_with("2026-11"))
        .collect();
    counts.settlements = november
        .iter()
        .filter(|s| s.kind == SettlementKind::Settlement)
        .count();
    counts.adjustments = november.len() - counts.settlements;
    counts.settled_minor = november.iter().map(|s| s.total_minor).sum();
    ensure!(
        counts.settled_minor == reference,
        "settled {} of {reference}",
        counts.settled_minor
    );
    let mut counted = BTreeMap::new();
    for s in &november {
        ensure!(
            s.publisher_minor + s.mo_minor + s.moneta_fee_minor + s.unallocated_minor
                == s.total_minor,
            "{}: split does not add up",
            s.settlement_id
        );
        for c in &s.contracts {
            *counted.entry(c.clone()).or_insert(0) += 1;
        }
    }
    let twice: Vec<_> = counted.iter().filter(|(_, n)| **n > 1).collect();
    ensure!(
        twice.is_empty(),
        "contracts settled more than once: {twice:?}"
    );
    ensure!(
        counted.len() == contracts,
        "{} of {contracts} contracts settled",
        counted.len()
    );
    let unique_entries: BTreeSet<Vec<u8>> = ledger
        .iter()
        .filter_map(|m| m.payload().map(<[u8]>::to_vec))
        .collect();
    counts.ledger_duplicates = ledger.len() - unique_entries.len();
    // What finance runs: the settlements recomputed from the ledger topic.
    let verified = moneta.command(&[
        "settlements",
        "verify",
        "--period",
        "2026-11-01..2026-11-30",
    ])?;
    ensure!(
        verified.contains("differences: 0"),
        "moneta settlements verify: {verified}"
    );
    counts.verify = verified.trim().to_owned();
    ensure!(
        counts.ledger_duplicates == 0,
        "{} ledger entries more than once",
        counts.ledger_duplicates
    );

    // Webhooks: every delivery delivered, each id received with a 2xx.
    let deadline = Instant::now() + SETTLE;
    // Only the run's endpoints: seed-demo's own endpoint listens nowhere.
    let endpoints = ["wh-chaos-acme", "wh-chaos-globe"];
    let deliveries = loop {
        let mut all = Vec::new();
        for endpoint in endpoints {
            let found = runtime
                .block_on(moneta.admin_get(&format!("/deliveries?endpoint_id={endpoint}")))?;
            all.extend(found["items"].as_array().cloned().unwrap_or_default());
        }
        let open: Vec<&Value> = all.iter().filter(|d| d["state"] != "delivered").collect();
        if open.is_empty() && all.len() >= 2 * expected.len() {
            break all;
        }
        ensure!(
            Instant::now() < deadline,
            "deliveries never settled: {} scheduled, not delivered: {:?}",
            all.len(),
            open.iter().take(3).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    counts.deliveries = deliveries.len();
    ensure!(
        deliveries.len() == 2 * expected.len(),
        "{} deliveries for {} contracts",
        deliveries.len(),
        expected.len()
    );
    let delivered = receiver
        .delivered
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    for d in &deliveries {
        let id = d["id"].as_str().unwrap_or_default();
        let contract = d["contract_id"].as_str().unwrap_or_default();
        match delivered.get(id) {
            Some((_, seen)) if seen == contract => {}
            other => bail!("delivery {id} of {contract}: receiver saw {other:?}"),
        }
    }
    ensure!(
        delivered.len() == deliveries.len(),
        "receiver got {} ids for {} deliveries",
        delivered.len(),
        deliveries.len()
    );
    let requests = receiver
        .requests
        .lock()
        .map_err(|_| anyhow::anyhow!("poisoned"))?;
    counts.webhook_requests = requests.values().sum();
    counts.webhook_repeats = delivered.values().map(|(n, _)| n - 1).sum();

    // Dead letters: exactly the garbage, by key.
    let dlq = read_topic(
        bootstrap,
        &moneta.topic("moneta.validate.dlq"),
        usize::MAX,
        Duration::from_secs(3),
    )?;
    let keys: BTreeSet<String> = dlq
        .iter()
        .filter_map(|m| m.key().map(|k| String::from_utf8_lossy(k).into_owned()))
        .collect();
    let want: BTreeSet<String> = (0..GARBAGE).map(|i| format!("garbage-{i}")).collect();
    ensure!(keys == want, "validate DLQ keys {keys:?}");
    counts.dead_letters = keys.len();
    Ok(())
}

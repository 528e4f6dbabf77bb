//! An `Idempotency-Key` claim does not outlive the `moneta up` that made
//! it: partners submit with keys while `moneta up` is SIGKILLed; the claims
//! the dead edge left in flight (read from its state store while it is
//! down) are retried with the same key after the restart, and each is
//! accepted within `ingest.claim_lease_s` (+1 s) of the edge being back,
//! not after `ingest.in_flight_timeout_s` (60 s).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use moneta_domain::Kind;
use moneta_ingest::PartnerClient;
use moneta_state::{EmbeddedStore, StateStore};
use moneta_topology::demo::{ACME, subscription_charge};
use serde_json::{Value, json};
use support::Moneta;

/// Submitters running at once.
const WIDTH: usize = 12;
/// `ingest.claim_lease_s` of the run.
const LEASE_S: u64 = 3;

/// Submits charges with keys `k-<n>` until a request fails (the kill) or
/// `stop`; every body sent is kept in `bodies`.
async fn submit_until_killed(
    client: Arc<PartnerClient>,
    next: Arc<AtomicUsize>,
    bodies: Arc<Mutex<BTreeMap<String, Value>>>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    while !stop.load(Ordering::Relaxed) {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let mut terms = subscription_charge(&format!("claim-{n:05}"));
        terms.terms["subscription_id"] = json!(format!("sub-{n}"));
        let body = client.submission(&format!("ev-claim-{n:05}"), &terms, ACME.party)?;
        let key = format!("k-{n}");
        bodies
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .insert(key.clone(), body.clone());
        match client
            .submit("subscription_charges", &body, Some(&key))
            .await
        {
            Ok(reply) if reply.status == 202 => {}
            Ok(reply) => anyhow::bail!("{key}: {} {}", reply.status, reply.body),
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

/// The keys of `ACME`'s unfinished claims in the (stopped) edge's store.
fn claims_in_flight(state: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let runtime = tokio::runtime::Runtime::new()?;
    let store = EmbeddedStore::open(&state.join("registry")).context("opening the store")?;
    let stored = runtime.block_on(store.list(Kind::IdempotencyKey, None, 100_000))?;
    let prefix = format!("{}/", ACME.organization_id);
    Ok(stored
        .into_iter()
        .filter_map(|s| {
            let entry: Value = serde_json::from_slice(&s.body).ok()?;
            let key = s.id.strip_prefix(&prefix)?.to_owned();
            entry["response"].is_null().then_some(key)
        })
        .collect())
}

#[test]
fn a_killed_edges_claims_are_taken_over_within_the_lease() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let extra = format!("[ingest]\nclaim_lease_s = {LEASE_S}\n");
    let mut moneta = Moneta::start(&bootstrap, dir.path(), &extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let client = Arc::new(ACME.client(&moneta.base()));
    let bodies = Arc::new(Mutex::new(BTreeMap::new()));
    let next = Arc::new(AtomicUsize::new(0));
    // A kill lands while requests are in the edge; which of them had
    // written their claim is read from the store. Rarely none did: again.
    let mut in_flight = Vec::new();
    for round in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let submitters: Vec<_> = (0..WIDTH)
            .map(|_| {
                runtime.spawn(submit_until_killed(
                    client.clone(),
                    next.clone(),
                    bodies.clone(),
                    stop.clone(),
                ))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(1500));
        let state = dir.path().join("state");
        moneta.kill_then(|| {
            stop.store(true, Ordering::Relaxed);
            in_flight = claims_in_flight(&state)?;
            Ok(())
        })?;
        for submitter in submitters {
            runtime.block_on(submitter)??;
        }
        eprintln!("round {round}: {} claims left in flight", in_flight.len());
        if !in_flight.is_empty() {
            break;
        }
    }
    ensure!(!in_flight.is_empty(), "no kill left a claim in flight");
    // The edge is back (`kill_then` waited until it is ready).
    let back = Instant::now();
    let limit = Duration::from_secs(LEASE_S + 1);
    let bodies = bodies.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    for key in &in_flight {
        let body = bodies.get(key).context("a claim of a body never sent")?;
        let (mut attempts, mut refused) = (0, 0);
        loop {
            attempts += 1;
            let reply = runtime.block_on(client.submit("subscription_charges", body, Some(key)))?;
            if reply.body["code"] == "idempotency_key_in_flight" {
                refused += 1;
                ensure!(
                    back.elapsed() < limit,
                    "{key} still answered 409 {:?} after the restart ({refused} times)",
                    back.elapsed()
                );
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            ensure!(
                reply.status == 202,
                "{key}: {} {}",
                reply.status,
                reply.body
            );
            break;
        }
        eprintln!(
            "{key}: accepted {:?} after the restart, attempt {attempts}",
            back.elapsed()
        );
    }
    moneta.stop()
}

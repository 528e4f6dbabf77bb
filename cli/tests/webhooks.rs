//! Webhook delivery end to end: `moneta up` on a real broker delivers
//! countersigned contracts to real local HTTP receivers.
//!
//! - Every delivery is verified by code that shares nothing with the
//!   sender: `v1a` with ed25519-dalek against the key `GET /v1/keys`
//!   publishes, `v1` with the `hmac` crate, and samples with the official
//!   Python `standardwebhooks` library.
//! - The flaky receiver fails a share of requests (500, 429 with
//!   `Retry-After`, responses slower than the timeout); one endpoint answers
//!   410; one has nothing listening. `moneta up` is SIGKILLed twice while
//!   deliveries are in flight. Every delivery must end delivered or
//!   dead-lettered, and every request must carry the expected `webhook-id`.
//! - Redelivery from the CLI, for one id and for a time range.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};
use hmac::{Hmac, Mac};
use moneta_testkit::kafka::read_topic;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use rdkafka::message::Message;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use support::{Moneta, TOKEN};

mod support;

const SECRET_BYTES: [u8; 32] = [0x5a; 32];

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    id: String,
    timestamp: String,
    signature: String,
    body: Vec<u8>,
    answered: u16,
    traceparent: Option<String>,
}

#[derive(Default)]
struct Receiver {
    seen: Mutex<Vec<Seen>>,
    arrivals: Mutex<HashMap<String, usize>>,
    verify_failures: Mutex<Vec<String>>,
    moneta_keys: Mutex<Vec<VerifyingKey>>,
}

impl Receiver {
    /// Independent Standard Webhooks verification (v1a and, if present, v1).
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(String, String, String), String> {
        let get = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
                .ok_or(format!("no {name}"))
        };
        let (id, ts, sig) = (
            get("webhook-id")?,
            get("webhook-timestamp")?,
            get("webhook-signature")?,
        );
        let mut signed = format!("{id}.{ts}.").into_bytes();
        signed.extend_from_slice(body);
        let keys = self.moneta_keys.lock().map_err(|e| e.to_string())?.clone();
        let mut v1a = false;
        for entry in sig.split(' ') {
            let (version, value) = entry.split_once(',').ok_or("malformed signature entry")?;
            let bytes = STANDARD.decode(value).map_err(|e| e.to_string())?;
            match version {
                "v1a" => {
                    let signature = Signature::from_slice(&bytes).map_err(|e| e.to_string())?;
                    if !keys
                        .iter()
                        .any(|k| k.verify_strict(&signed, &signature).is_ok())
                    {
                        return Err(format!("v1a does not verify for {id}"));
                    }
                    v1a = true;
                }
                "v1" => {
                    let mut mac =
                        Hmac::<Sha256>::new_from_slice(&SECRET_BYTES).map_err(|e| e.to_string())?;
                    mac.update(&signed);
                    mac.verify_slice(&bytes)
                        .map_err(|_| format!("v1 does not verify for {id}"))?;
                }
                other => return Err(format!("unknown signature version {other}")),
            }
        }
        if !v1a {
            return Err("no v1a signature".into());
        }
        Ok((id, ts, sig))
    }
}

/// A deterministic share of failures per request, by id and attempt.
fn flaky_answer(id: &str, attempt: usize) -> (StatusCode, Option<&'static str>, Duration) {
    let roll = id.bytes().fold(attempt as u64 * 7919, |h, b| {
        h.wrapping_mul(31).wrapping_add(u64::from(b))
    }) % 10;
    match roll {
        0..=2 => (StatusCode::INTERNAL_SERVER_ERROR, None, Duration::ZERO),
        3 => (StatusCode::TOO_MANY_REQUESTS, Some("1"), Duration::ZERO),
        4 => (StatusCode::NO_CONTENT, None, Duration::from_millis(1500)),
        _ => (StatusCode::NO_CONTENT, None, Duration::ZERO),
    }
}

async fn flaky(State(r): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let (id, timestamp, signature) = match r.verify(&headers, &body) {
        Ok(parts) => parts,
        Err(why) => {
            if let Ok(mut f) = r.verify_failures.lock() {
                f.push(why);
            }
            return StatusCode::BAD_REQUEST.into_response();
        }
    };
    // Counted on arrival: a request the sender times out on is dropped
    // mid-handler and would otherwise never count.
    let attempt = r
        .arrivals
        .lock()
        .map(|mut a| {
            let n = a.entry(id.clone()).or_insert(0);
            *n += 1;
            *n - 1
        })
        .unwrap_or(0);
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, retry_after, delay) = flaky_answer(&id, attempt);
    tokio::time::sleep(delay).await;
    if let Ok(mut seen) = r.seen.lock() {
        seen.push(Seen {
            id,
            timestamp,
            signature,
            body: body.to_vec(),
            answered: if delay.is_zero() { status.as_u16() } else { 0 },
            traceparent,
        });
    }
    match retry_after {
        Some(after) => (status, [("retry-after", after)]).into_response(),
        None => status.into_response(),
    }
}

async fn gone() -> StatusCode {
    StatusCode::GONE
}

async fn serve_receiver(receiver: Arc<Receiver>) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/flaky", post(flaky))
        .route("/gone", post(gone))
        .with_state(receiver);
    let addr = support::serve(app).await?;
    Ok(addr)
}

fn moneta_cli(moneta: &Moneta, args: &[&str]) -> anyhow::Result<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(&moneta.config)
        .args(args)
        .env("MONETA_ADMIN__TOKEN", TOKEN)
        .output()?;
    ensure!(
        out.status.success(),
        "moneta {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn python_verifies(seen: &Seen) -> anyhow::Result<()> {
    const VERIFY: &str = r#"
import os, sys
from standardwebhooks.webhooks import Webhook
body = sys.stdin.buffer.read()
Webhook(os.environ["WH_SECRET"]).verify(body, {
    "webhook-id": os.environ["WH_ID"],
    "webhook-timestamp": os.environ["WH_TS"],
    "webhook-signature": os.environ["WH_SIG"],
})
print("ok")
"#;
    use std::io::Write as _;
    let mut child = Command::new("python3")
        .args(["-c", VERIFY])
        .env(
            "WH_SECRET",
            format!("whsec_{}", STANDARD.encode(SECRET_BYTES)),
        )
        .env("WH_ID", &seen.id)
        .env("WH_TS", &seen.timestamp)
        .env("WH_SIG", &seen.signature)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    child.stdin.take().context("stdin")?.write_all(&seen.body)?;
    let out = child.wait_with_output()?;
    ensure!(
        String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "standardwebhooks refused {}: {}",
        seen.id,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

async fn submit_contract(moneta: &Moneta, contract_id: &str) -> anyhow::Result<()> {
    let terms = subscription_charge(contract_id);
    for (partner, party) in [(GLOBE, "publisher"), (ACME, "mo")] {
        let client = partner.client(&moneta.base());
        let body = client.submission(&format!("{contract_id}-{party}"), &terms, party)?;
        let reply = client.submit("subscription_charges", &body, None).await?;
        ensure!(
            reply.status == 202,
            "{contract_id}: {} {}",
            reply.status,
            reply.body
        );
        if party == "publisher" {
            // The MO co-signs after the publisher's signature is recorded.
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let status = client
                    .get(&format!("/v1/events/{contract_id}-publisher"))
                    .await?;
                if status.body["steps"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s["state"] == "recorded"))
                {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "{contract_id} never recorded: {}",
                    status.body
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(())
}

async fn register_endpoints(moneta: &Moneta, receiver: SocketAddr) -> anyhow::Result<()> {
    let secret = format!("whsec_{}", STANDARD.encode(SECRET_BYTES));
    for (id, org, path, secret) in [
        ("wh-acme-flaky", ACME.organization_id, "flaky", Some(secret)),
        ("wh-globe-gone", GLOBE.organization_id, "gone", None),
    ] {
        moneta
            .admin(
                "/webhook-endpoints",
                json!({"id": id, "organization_id": org, "url": format!("http://{receiver}/{path}"),
                       "event_types": ["contract.countersigned"], "enabled": true, "secret": secret,
                       "created_at": 0, "timeout_ms": 1000}),
            )
            .await?;
    }
    Ok(())
}

/// Waits until every expected delivery exists and none is pending.
async fn settled(
    moneta: &Moneta,
    contracts: &[String],
    expected: usize,
) -> anyhow::Result<Vec<Value>> {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let mut all = Vec::new();
        for contract in contracts {
            let list = moneta
                .admin_get(&format!("/deliveries?contract_id={contract}"))
                .await?;
            all.extend(list["items"].as_array().cloned().unwrap_or_default());
        }
        let open = all.iter().filter(|d| d["state"] == "pending").count();
        // The gone endpoint is disabled by its first 410: later contracts
        // schedule nothing for it.
        let live = all
            .iter()
            .filter(|d| d["endpoint_id"] != "wh-globe-gone")
            .count();
        if live >= expected && open == 0 {
            return Ok(all);
        }
        ensure!(
            Instant::now() < deadline,
            "{live} of {expected} deliveries to live endpoints scheduled, {open} pending"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[test]
fn deliveries_survive_failures_and_sigkills_and_verify_independently() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let extra = r#"
[webhooks]
allow_loopback = true
allow_http = true
timeout_ms = 1000
breaker_threshold = 1000
poll_interval_ms = 50
[webhooks.retry]
attempts = 8
initial_ms = 200
max_ms = 2000
"#;
    let mut moneta = Moneta::start(&bootstrap, dir.path(), extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let receiver = Arc::new(Receiver::default());
    let outcome = runtime.block_on(async {
        let addr = serve_receiver(receiver.clone()).await?;
        let keys = GLOBE.client(&moneta.base()).get("/v1/keys").await?;
        let published: Vec<VerifyingKey> = keys.body["keys"]
            .as_array()
            .context("keys")?
            .iter()
            .filter_map(|k| k["public_key"].as_str())
            .filter_map(|k| STANDARD.decode(k).ok())
            .filter_map(|b| <[u8; 32]>::try_from(b).ok())
            .filter_map(|b| VerifyingKey::from_bytes(&b).ok())
            .collect();
        *receiver
            .moneta_keys
            .lock()
            .map_err(|e| anyhow::anyhow!("{e}"))? = published;
        register_endpoints(&moneta, addr).await?;

        let contracts: Vec<String> = (0..12).map(|i| format!("c-wh-{i}")).collect();
        for contract in &contracts {
            submit_contract(&moneta, contract).await?;
        }
        // Kill the whole process (dispatcher and worker) twice mid-delivery.
        for pause in [800, 1500] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            moneta.kill_and_restart()?;
        }
        let deliveries = settled(&moneta, &contracts, contracts.len() * 2).await?;
        // The worker delivers from threads of its own that yield the cores
        // to the edge (`processing.thread_niceness`, 10 by default).
        let worker = moneta.niceness_of_threads("up", "webhooks")?;
        ensure!(
            !worker.is_empty() && worker.iter().all(|n| *n == 10),
            "the webhook worker's threads' nice values: {worker:?}"
        );
        check(&moneta, &receiver, &contracts, &deliveries)?;
        webhook_metrics(&moneta).await?;
        redelivery(&moneta, &receiver, &deliveries).await?;
        no_secret_in_the_log(&moneta, dir.path())
    });
    if let Err(e) = outcome {
        bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}

fn check(
    moneta: &Moneta,
    receiver: &Receiver,
    contracts: &[String],
    deliveries: &[Value],
) -> anyhow::Result<()> {
    let endpoints = ["wh-acme-flaky", "wh-globe-gone", "wh-globe"];
    let expected: HashMap<String, (&str, &str)> = contracts
        .iter()
        .flat_map(|c| {
            endpoints
                .iter()
                .map(move |e| (moneta_webhooks::webhook_id(c, 3, e), (c.as_str(), *e)))
        })
        .collect();
    let by_id: HashMap<&str, &Value> = deliveries
        .iter()
        .filter_map(|d| d["id"].as_str().map(|id| (id, d)))
        .collect();
    let unexpected: Vec<&&str> = by_id
        .keys()
        .filter(|id| !expected.contains_key(**id))
        .collect();
    ensure!(
        unexpected.is_empty(),
        "deliveries with unexpected ids: {unexpected:?}"
    );
    let gone = by_id
        .values()
        .filter(|d| d["endpoint_id"] == "wh-globe-gone")
        .count();
    ensure!(gone >= 1, "the gone endpoint got no delivery at all");
    let endpoint = moneta_cli(
        moneta,
        &["admin", "get", "webhook-endpoints", "wh-globe-gone"],
    )?;
    ensure!(
        endpoint["entity"]["enabled"] == false,
        "410 must disable the endpoint: {endpoint}"
    );
    let failures = receiver
        .verify_failures
        .lock()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .clone();
    ensure!(failures.is_empty(), "signature failures: {failures:?}");
    let seen = receiver
        .seen
        .lock()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .clone();
    let unknown: Vec<&str> = seen
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| !expected.contains_key(*id))
        .collect();
    ensure!(
        unknown.is_empty(),
        "requests with unexpected webhook-ids: {unknown:?}"
    );
    let answered_ok: HashSet<&str> = seen
        .iter()
        .filter(|s| (200..300).contains(&s.answered))
        .map(|s| s.id.as_str())
        .collect();
    let dead: HashSet<String> = read_topic(
        &moneta.bootstrap,
        &moneta.topic("moneta.webhooks.dlq"),
        usize::MAX,
        Duration::from_secs(3),
    )?
    .iter()
    .filter_map(|m| m.payload())
    .filter_map(|p| serde_json::from_slice::<Value>(p).ok())
    .filter_map(|v| v["delivery"]["id"].as_str().map(str::to_owned))
    .collect();
    let (mut delivered, mut failed) = (0, 0);
    for (id, (contract, endpoint)) in &expected {
        let Some(delivery) = by_id.get(id.as_str()) else {
            ensure!(
                *endpoint == "wh-globe-gone",
                "{id} ({contract}, {endpoint}) was never scheduled"
            );
            continue;
        };
        let state = delivery["state"].as_str().unwrap_or_default();
        match (state, *endpoint) {
            ("delivered", "wh-acme-flaky") => {
                ensure!(
                    answered_ok.contains(id.as_str()),
                    "{id} delivered but never answered 2xx"
                );
                delivered += 1;
            }
            ("failed", "wh-globe-gone" | "wh-globe") => {
                ensure!(
                    dead.contains(id),
                    "{id} ({contract}, {endpoint}) failed but is not dead-lettered"
                );
                failed += 1;
            }
            other => {
                let attempts = moneta_cli(moneta, &["deliveries", "attempts", id])?;
                bail!("{id} ({contract}): unexpected {other:?}: {}", attempts)
            }
        }
    }
    let repeats = seen.len() - answered_ok.len();
    println!(
        "deliveries: {delivered} delivered (after {} requests, {repeats} failed or repeated), {failed} dead-lettered",
        seen.len()
    );
    // #7: the trace started at the edge reaches the webhook request. The
    // edge derives `traceparent` from the submitting partner and event id;
    // the MO's co-signature completes each contract.
    for sample in &seen {
        let (contract, _) = expected[sample.id.as_str()];
        let started = sha2::Sha256::digest(format!("mo-acme/{contract}-mo"));
        let hex: String = started.iter().map(|b| format!("{b:02x}")).collect();
        let want = format!("00-{}-{}-01", &hex[..32], &hex[32..48]);
        ensure!(
            sample.traceparent.as_deref() == Some(want.as_str()),
            "{}: traceparent {:?}, the edge started {want}",
            sample.id,
            sample.traceparent
        );
    }
    // A sample through the official library (the v1 HMAC signature).
    for sample in seen.iter().take(3) {
        python_verifies(sample)?;
    }
    Ok(())
}

/// #9: the admin token, Moneta's signing seed and the webhook secret never
/// appear in the log of the whole run (kills and restarts included).
fn no_secret_in_the_log(moneta: &Moneta, dir: &std::path::Path) -> anyhow::Result<()> {
    let log = moneta.full_log();
    ensure!(log.len() > 10_000, "the log is suspiciously short");
    let key_file = std::fs::read_to_string(dir.join("signing.key"))?;
    let seed = key_file
        .lines()
        .find(|l| l.starts_with("active "))
        .and_then(|l| l.split_whitespace().nth(2))
        .context("the active key's seed")?
        .to_owned();
    let whsec = format!("whsec_{}", STANDARD.encode(SECRET_BYTES));
    for (what, secret) in [
        ("admin token", TOKEN.to_owned()),
        ("signing seed", seed),
        ("webhook secret", whsec),
        ("webhook secret bytes", STANDARD.encode(SECRET_BYTES)),
    ] {
        ensure!(!log.contains(&secret), "the {what} appears in the log");
    }
    Ok(())
}

/// #7: the webhook metrics after the run (counted since the last restart).
async fn webhook_metrics(moneta: &Moneta) -> anyhow::Result<()> {
    let text = moneta.scrape().await?;
    let get = |metric: &str, labels: &[&str]| Moneta::sample(&text, metric, labels).unwrap_or(0.0);
    let flaky = "endpoint=\"wh-acme-flaky\"";
    ensure!(
        get(
            "moneta_webhook_attempts_total",
            &[flaky, "outcome=\"delivered\""]
        ) >= 1.0,
        "delivered attempts"
    );
    ensure!(
        get("moneta_webhook_attempts_total", &["outcome=\"retry\""]) >= 1.0,
        "retried attempts"
    );
    ensure!(
        get("moneta_webhook_dead_lettered_total", &[]) >= 1.0,
        "dead letters"
    );
    ensure!(
        get("moneta_webhook_attempt_seconds_count", &[flaky]) >= 1.0,
        "latency samples"
    );
    ensure!(
        Moneta::sample(&text, "moneta_webhook_circuit_state", &[flaky]).is_some(),
        "circuit state per endpoint"
    );
    Ok(())
}

async fn redelivery(
    moneta: &Moneta,
    receiver: &Receiver,
    deliveries: &[Value],
) -> anyhow::Result<()> {
    let count = |id: &str| {
        receiver
            .seen
            .lock()
            .map(|s| s.iter().filter(|x| x.id == id).count())
            .unwrap_or(0)
    };
    let delivered = deliveries
        .iter()
        .find(|d| d["state"] == "delivered")
        .and_then(|d| d["id"].as_str())
        .context("a delivered delivery")?
        .to_owned();
    let before = count(&delivered);
    let reply = moneta_cli(moneta, &["webhooks", "redeliver", &delivered])?;
    ensure!(reply["redelivered"] == true, "{reply}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&delivered) == before {
        ensure!(
            Instant::now() < deadline,
            "redelivery of {delivered} never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every failed delivery of the gone endpoint, by time range.
    let gone_failed: Vec<&str> = deliveries
        .iter()
        .filter(|d| d["state"] == "failed" && d["endpoint_id"] == "wh-globe-gone")
        .filter_map(|d| d["id"].as_str())
        .collect();
    let reply = moneta_cli(
        moneta,
        &[
            "webhooks",
            "redeliver",
            "--from",
            "0",
            "--to",
            "99999999999999",
            "--endpoint",
            "wh-globe-gone",
        ],
    )?;
    let mut ids: Vec<&str> = reply["redelivered"]
        .as_array()
        .context("ids")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    ids.sort_unstable();
    let mut want = gone_failed.clone();
    want.sort_unstable();
    ensure!(ids == want, "range redelivery: {ids:?} vs {want:?}");
    // The endpoint was disabled by its 410; the redeliveries fail again, dead-lettered.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = moneta
            .admin_get("/deliveries?endpoint_id=wh-globe-gone")
            .await?;
        if list["items"]
            .as_array()
            .is_some_and(|l| l.iter().all(|d| d["state"] == "failed"))
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "range redeliveries never settled"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = moneta_cli(moneta, &["deliveries", "attempts", &delivered])?;
    ensure!(
        log["items"].as_array().is_some_and(|a| a.len() >= 2),
        "attempt log: {log}"
    );
    Ok(())
}

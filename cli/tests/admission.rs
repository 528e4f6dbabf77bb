//! Admission control at the edge of a running `moneta up`, over TCP:
//!
//! - a partner's own rate limit, set through the admin API, is enforced
//!   per partner: `429 rate_limited` with `Retry-After`, the IETF
//!   `RateLimit-Policy` / `RateLimit` fields on every answer, the refusal
//!   counted; requests that fail authentication do not spend its budget;
//!   a refused submission retried later with its `Idempotency-Key` goes
//!   through (nothing was stored for the 429);
//! - at `ingest.max_in_flight` submissions in progress (one, here, held by
//!   a request whose body never finishes) the next one is `503 overloaded`
//!   with `Retry-After` at once; the slow body is cut off with `408
//!   body_timeout` after `ingest.body_timeout_ms` and the place is free again.
//! - a submission that finds the producer's queue to the broker full is
//!   `503 overloaded` at once, counted, and goes through when retried;
//! - while a stage is more than `ingest.max_pipeline_lag` records behind
//!   (validate not running, here), submissions are `503 overloaded` naming
//!   it, counted; once it runs again they are accepted, and every one
//!   accepted before is processed.

mod support;

use std::time::Duration;

use anyhow::{Context, ensure};
use moneta_ingest::{PartnerClient, Reply};
use moneta_signing::SigningKey;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::{Value, json};
use support::{Moneta, TOKEN};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn submission(client: &PartnerClient, party: &str, n: usize) -> anyhow::Result<Value> {
    let mut terms = subscription_charge(&format!("adm-{party}-{n}"));
    terms.terms["subscription_id"] = json!(format!("sub-{party}-{n}"));
    Ok(client.submission(&format!("ev-adm-{party}-{n}"), &terms, party)?)
}

async fn put_limit(moneta: &Moneta, body: Value) -> anyhow::Result<()> {
    let url = format!(
        "http://{}/v1/admin/membership-organizations/{}/rate-limit",
        moneta.admin, ACME.organization_id
    );
    let response = reqwest::Client::new()
        .put(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "rate-limit: {}",
        response.status()
    );
    Ok(())
}

async fn rate_limits(moneta: &Moneta) -> anyhow::Result<()> {
    let base = moneta.base();
    let (acme, globe) = (ACME.client(&base), GLOBE.client(&base));
    put_limit(moneta, json!({"rate_per_s": 1, "burst": 3})).await?;
    // Someone else signing as Acme's key: refused, and Acme's budget intact.
    let forger = PartnerClient::new(&base, ACME.key_id, SigningKey::from_bytes(&[9; 32]));
    for n in 0..10 {
        let body = submission(&forger, ACME.party, 100 + n)?;
        let reply = forger.submit("subscription_charges", &body, None).await?;
        ensure!(
            reply.status == 401,
            "forged: {} {}",
            reply.status,
            reply.body
        );
    }
    let bodies: Vec<Value> = (0..4)
        .map(|n| submission(&acme, ACME.party, n))
        .collect::<anyhow::Result<_>>()?;
    for (n, body) in bodies.iter().take(3).enumerate() {
        let reply = acme
            .submit("subscription_charges", body, Some(&format!("adm-{n}")))
            .await?;
        ensure!(reply.status == 202, "within the burst: {}", reply.body);
        ensure!(header(&reply, "ratelimit-policy") == "\"partner\";q=3;w=3");
        ensure!(
            header(&reply, "ratelimit") == format!("\"partner\";r={};t={}", 2 - n, n + 1),
            "RateLimit: {}",
            header(&reply, "ratelimit")
        );
    }
    let refused = acme
        .submit("subscription_charges", &bodies[3], Some("adm-3"))
        .await?;
    ensure!(
        (refused.status, &refused.body["code"]) == (429, &json!("rate_limited")),
        "past the burst: {} {}",
        refused.status,
        refused.body
    );
    ensure!(header(&refused, "retry-after") == "1");
    ensure!(header(&refused, "ratelimit").starts_with("\"partner\";r=0;"));
    // Another partner has a bucket of its own (the default: generous).
    let body = submission(&globe, GLOBE.party, 0)?;
    let reply = globe.submit("subscription_charges", &body, None).await?;
    ensure!(reply.status == 202, "globe: {}", reply.body);
    ensure!(header(&reply, "ratelimit-policy") == "\"partner\";q=10000;w=2");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let retried = acme
        .submit("subscription_charges", &bodies[3], Some("adm-3"))
        .await?;
    ensure!(retried.status == 202, "after Retry-After: {}", retried.body);
    ensure!(header(&retried, "idempotent-replayed").is_empty());
    let metrics = moneta.scrape().await?;
    let counted = Moneta::sample(
        &metrics,
        "moneta_ingest_refused_total",
        &["reason=\"rate_limited\"", "partner=\"mo-acme\""],
    );
    ensure!(counted == Some(1.0), "refusals counted: {counted:?}");
    Ok(())
}

async fn in_flight_bound(moneta: &Moneta) -> anyhow::Result<()> {
    // A submission whose body never finishes holds the one place.
    let mut slow = tokio::net::TcpStream::connect(&moneta.ingest).await?;
    slow.write_all(
        b"POST /v1/events/subscription_charges HTTP/1.1\r\nHost: edge\r\n\
          Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let globe = GLOBE.client(&moneta.base());
    let body = submission(&globe, GLOBE.party, 10)?;
    let refused = globe
        .submit("subscription_charges", &body, Some("adm-10"))
        .await?;
    ensure!(
        (refused.status, &refused.body["code"]) == (503, &json!("overloaded")),
        "at the bound: {} {}",
        refused.status,
        refused.body
    );
    ensure!(header(&refused, "retry-after") == "1");
    // The slow body is cut off after `ingest.body_timeout_ms`.
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer))
        .await
        .context("no answer to the slow body")??;
    let answer = String::from_utf8_lossy(&answer);
    ensure!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("body_timeout"),
        "{answer}"
    );
    let reply = globe
        .submit("subscription_charges", &body, Some("adm-10"))
        .await?;
    ensure!(
        reply.status == 202,
        "the place is free again: {}",
        reply.body
    );
    let metrics = moneta.scrape().await?;
    let counted = Moneta::sample(
        &metrics,
        "moneta_ingest_refused_total",
        &["reason=\"overloaded\""],
    );
    ensure!(counted == Some(1.0), "refusals counted: {counted:?}");
    Ok(())
}

#[test]
fn the_edge_refuses_early_per_partner_and_at_its_bound() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let mut moneta = Moneta::start(
        &bootstrap,
        dir.path(),
        "[ingest]\nmax_in_flight = 1\nbody_timeout_ms = 2000\n",
    )?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime
        .block_on(rate_limits(&moneta))
        .context("rate limits")?;
    runtime
        .block_on(in_flight_bound(&moneta))
        .context("the in-flight bound")?;
    moneta.stop()
}

/// Submits 64 events at once through an edge whose producer holds one
/// message at most: the ones that find its queue full are `503
/// overloaded` at once (not a wait), and go through when retried.
async fn queue_full(moneta: &Moneta) -> anyhow::Result<()> {
    let globe = std::sync::Arc::new(GLOBE.client(&moneta.base()));
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64 {
        let globe = globe.clone();
        tasks.spawn(async move {
            let body = submission(&globe, GLOBE.party, 200 + n)?;
            let key = format!("q-{n}");
            let reply = globe
                .submit("subscription_charges", &body, Some(&key))
                .await?;
            anyhow::Ok((body, key, reply))
        });
    }
    let mut refused = Vec::new();
    while let Some(done) = tasks.join_next().await {
        let (body, key, reply) = done??;
        match reply.status {
            202 => {}
            503 => {
                ensure!(reply.body["code"] == "overloaded", "{}", reply.body);
                ensure!(header(&reply, "retry-after") == "1");
                refused.push((body, key));
            }
            other => anyhow::bail!("{key}: {other} {}", reply.body),
        }
    }
    ensure!(!refused.is_empty(), "the producer's queue was never full");
    eprintln!("{} of 64 found the producer's queue full", refused.len());
    for (body, key) in &refused {
        let reply = globe
            .submit("subscription_charges", body, Some(key))
            .await?;
        ensure!(reply.status == 202, "{key} retried: {}", reply.body);
    }
    let metrics = moneta.scrape().await?;
    let counted = Moneta::sample(
        &metrics,
        "moneta_ingest_refused_total",
        &["reason=\"queue_full\"", "partner=\"pub-globe\""],
    );
    ensure!(
        counted == Some(refused.len() as f64),
        "refusals counted: {counted:?}"
    );
    Ok(())
}

#[test]
fn a_full_producer_queue_is_a_503_at_once() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let extra = "[ingest]\nproducer_queue_max_messages = 1\n";
    let mut moneta = Moneta::start(&bootstrap, dir.path(), extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(queue_full(&moneta))?;
    moneta.stop()
}

/// Lag allowed in the pipeline test.
const MAX_LAG: usize = 3;

#[test]
fn the_edge_refuses_while_the_pipeline_is_behind() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let extra =
        format!("[ingest]\nmax_pipeline_lag = {MAX_LAG}\n[processors.validate]\nenabled = false\n");
    let mut moneta = Moneta::start(&bootstrap, dir.path(), &extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let acme = ACME.client(&moneta.base());
    // Validate is not running: its lag grows with every accepted event
    // until the edge, measuring it every second, refuses.
    let mut accepted = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (refused, key) = loop {
        ensure!(
            std::time::Instant::now() < deadline,
            "still accepting with {} events waiting",
            accepted.len()
        );
        let n = accepted.len();
        let body = submission(&acme, ACME.party, 300 + n)?;
        let key = format!("lag-{n}");
        let reply = runtime.block_on(acme.submit("subscription_charges", &body, Some(&key)))?;
        match reply.status {
            202 => accepted.push(body["event_id"].as_str().unwrap_or_default().to_owned()),
            503 => break ((body, reply), key),
            other => anyhow::bail!("{key}: {other} {}", reply.body),
        }
        if accepted.len() > MAX_LAG {
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let (body, reply) = refused;
    ensure!(
        accepted.len() > MAX_LAG,
        "refused at a lag of {}",
        accepted.len()
    );
    ensure!(reply.body["code"] == "overloaded", "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap_or_default();
    ensure!(detail.contains("validate"), "names the stage: {detail}");
    ensure!(header(&reply, "retry-after") == "1");
    let metrics = runtime.block_on(moneta.scrape())?;
    let counted = Moneta::sample(
        &metrics,
        "moneta_ingest_refused_total",
        &["reason=\"pipeline_behind\""],
    );
    ensure!(counted >= Some(1.0), "refusals counted: {counted:?}");
    // Validate runs again: the backlog drains, the refused submission
    // goes through with its key, and nothing accepted before is lost.
    let config = moneta.config.clone();
    moneta.kill_then(|| {
        let mut table: toml::Table = std::fs::read_to_string(&config)?.parse()?;
        table["processors"]["validate"]["enabled"] = toml::Value::Boolean(true);
        std::fs::write(&config, toml::to_string(&table)?)?;
        Ok(())
    })?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let reply = runtime.block_on(acme.submit("subscription_charges", &body, Some(&key)))?;
        if reply.status == 202 {
            accepted.push(body["event_id"].as_str().unwrap_or_default().to_owned());
            break;
        }
        ensure!(
            reply.status == 503 && std::time::Instant::now() < deadline,
            "{key} after validate is back: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    for event_id in &accepted {
        runtime.block_on(support::wait_for(&acme, event_id, "validated"))?;
    }
    eprintln!(
        "refused past a lag of {MAX_LAG}; {} events accepted, all validated",
        accepted.len()
    );
    moneta.stop()
}

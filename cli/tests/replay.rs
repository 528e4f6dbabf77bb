//! `moneta replay` on a running topology: replaying the whole ingest topic
//! (and one contract) re-emits every record, the tool reports them as
//! already applied, and no effect doubles — contracts keep their version,
//! the countersigned topic gains only identical copies, no new delivery is
//! scheduled. Once with the embedded state store, once with the state in
//! CQL (Apache Cassandra from the testkit).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use moneta_avro::{AvroCodec, SchemaName};
use moneta_testkit::kafka::read_topic;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use rdkafka::message::Message;
use support::{Moneta, TOKEN};

mod support;

fn replay(moneta: &Moneta, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(&moneta.config)
        .arg("replay")
        .args(args)
        .env("MONETA_ADMIN__TOKEN", TOKEN)
        .output()?;
    ensure!(
        out.status.success(),
        "replay {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every countersigned contract (by id) with its version, and how many records.
async fn countersigned(
    moneta: &Moneta,
) -> anyhow::Result<(BTreeMap<String, moneta_avro::Contract>, usize)> {
    let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
    let messages = read_topic(
        &moneta.bootstrap,
        &moneta.topic("moneta.contracts.countersigned"),
        usize::MAX,
        Duration::from_secs(2),
    )?;
    let mut by_id = BTreeMap::new();
    for m in &messages {
        let c: moneta_avro::Contract = codec
            .decode(SchemaName::Contract, m.payload().context("payload")?)
            .await?;
        if let Some(previous) = by_id.insert(c.contract_id.clone(), c.clone()) {
            ensure!(
                previous == c,
                "{} countersigned twice, differently",
                c.contract_id
            );
        }
    }
    Ok((by_id, messages.len()))
}

#[test]
fn replaying_the_ingest_topic_doubles_nothing_and_says_so() -> anyhow::Result<()> {
    replay_doubles_nothing("")
}

#[test]
fn replaying_the_ingest_topic_doubles_nothing_with_the_state_in_cql() -> anyhow::Result<()> {
    let Some(cql) = moneta_testkit::cql::cql_or_skip("the replay test on CQL") else {
        return Ok(());
    };
    let keyspace = moneta_testkit::unique("moneta_replay").replace('-', "_");
    replay_doubles_nothing(&format!(
        "[state]\nbackend = \"scylla\"\nscylla_nodes = \"{cql}\"\nscylla_keyspace = \"{keyspace}\"\n"
    ))
}

/// Two contracts through `moneta up` (plus `extra` TOML), then the ingest
/// topic replayed: the tool says every event was applied, and nothing doubles.
fn replay_doubles_nothing(extra: &str) -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    // The demo's http:// endpoint is registered: its deliveries are counted.
    let extra = format!("[webhooks]\nallow_http = true\n{extra}");
    let moneta = Moneta::start(&bootstrap, dir.path(), &extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        for id in ["c-rp-1", "c-rp-2"] {
            let terms = subscription_charge(id);
            for (partner, party) in [(GLOBE, "publisher"), (ACME, "mo")] {
                let client = partner.client(&moneta.base());
                let event = format!("{id}-{party}");
                let reply = client
                    .submit("subscription_charges", &client.submission(&event, &terms, party)?, None)
                    .await?;
                ensure!(reply.status == 202, "{}", reply.body);
                let want = if party == "mo" { "countersigned" } else { "recorded" };
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let s = client.get(&format!("/v1/events/{event}")).await?;
                    if s.body["steps"].as_array().is_some_and(|a| a.iter().any(|x| x["state"] == want)) {
                        break;
                    }
                    ensure!(Instant::now() < deadline, "{event}: {}", s.body);
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            }
        }
        let (before, _) = countersigned(&moneta).await?;
        ensure!(before.len() == 2);
        let deliveries_before = moneta.admin_get("/deliveries?contract_id=c-rp-1").await?;

        let dry = replay(&moneta, &["--from", &moneta.topic("moneta.contracts.ingest"), "--to", &moneta.topic("moneta.contracts.ingest"), "--dry-run"])?;
        ensure!(
            dry.contains("4 record(s) selected") && dry.contains("would re-emit 4") && dry.contains("already applied (recognised, no new effect): 4"),
            "dry run: {dry}"
        );
        let one = replay(&moneta, &["--from", &moneta.topic("moneta.contracts.ingest"), "--to", &moneta.topic("moneta.contracts.ingest"), "--contract", "c-rp-1", "--dry-run"])?;
        ensure!(one.contains("2 record(s) selected"), "by contract: {one}");

        let done = replay(&moneta, &["--from", &moneta.topic("moneta.contracts.ingest"), "--to", &moneta.topic("moneta.contracts.ingest")])?;
        ensure!(done.contains("re-emitted 4") && done.contains("already applied (recognised, no new effect): 4"), "replay: {done}");
        // Let the topology chew on them.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let (after, records) = countersigned(&moneta).await?;
        ensure!(after == before, "the countersigned contracts changed");
        for (id, contract) in &after {
            ensure!(contract.version == 3, "{id} is at version {}", contract.version);
            let api = ACME.client(&moneta.base()).get(&format!("/v1/contracts/{id}")).await?;
            ensure!(api.body["version"] == 3, "{id} in the store: {}", api.body);
        }
        let deliveries_after = moneta.admin_get("/deliveries?contract_id=c-rp-1").await?;
        ensure!(
            deliveries_after["items"].as_array().map(Vec::len) == deliveries_before["items"].as_array().map(Vec::len),
            "deliveries doubled"
        );
        println!("replayed 4 ingest records: {records} countersigned records, still 2 contracts at version 3");
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = outcome {
        bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}

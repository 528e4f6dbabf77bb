//! settle-aggregate SIGKILLed repeatedly during a run settles exactly what
//! an undisturbed run settles, and both equal the settlements computed from
//! the inputs: same ids, totals, splits, contracts and signatures.
//!
//! The real broker over TCP, the embedded schema registry, `moneta run
//! settle-aggregate` as its own process (`exactly_once`: a restart resumes
//! from the last committed transaction).

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use moneta_avro::{AvroCodec, LedgerEntry, LedgerKind, SchemaName, Settlement};
use moneta_domain::SettlementAgreement;
use moneta_processors::ledger::aggregation_key;
use moneta_schema_registry::SchemaRegistry;
use moneta_state::{EmbeddedStore, Registry, StateStore};
use moneta_testkit::kafka::{client, produce_raw, read_topic};
use rdkafka::message::Message;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};

const ENTRIES: usize = 3000;
const DAY: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z.
const NOV_1: i64 = 1_793_491_200_000;

struct Run {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Run {
    /// A run called `name` reading `ledger`, writing `stl-<name>-…`.
    fn new(
        dir: &Path,
        name: &str,
        ledger: &str,
        bootstrap: &str,
        registry: &str,
        key: &Path,
    ) -> anyhow::Result<(Self, String)> {
        let config = dir.join(format!("{name}.toml"));
        let settlements = moneta_testkit::unique(&format!("stl-{name}"));
        std::fs::write(
            &config,
            format!(
                r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[processing]
application_id = "{settlements}"
max_batch_records = 200
[broker]
embedded = false
[state]
dir = "{state}"
[metrics]
listen = ""
[schema_registry]
url = "{registry}"
[signing]
key_file = "{key}"
[contracts.topics]
ledger = "{ledger}"
settlements = "{settlements}"
"#,
                state = dir.join(name).display(),
                key = key.display(),
            ),
        )?;
        let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
            .args(["--config"])
            .arg(&config)
            .args(["topics", "create"])
            .output()?;
        ensure!(
            out.status.success(),
            "topics create: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((
            Self {
                log: dir.join(format!("{name}.log")),
                config,
                child: None,
            },
            settlements,
        ))
    }

    fn start(&mut self) -> anyhow::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_moneta"))
                .args(["--config"])
                .arg(&self.config)
                .args(["run", "settle-aggregate"])
                .env("RUST_LOG", "warn,moneta_runtime=info")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        );
        Ok(())
    }

    fn sigkill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.sigkill();
    }
}

/// A deterministic ledger: 5 keys in 2 currencies over 20 days, mostly in
/// event-time order, every 13th entry three days late, then one watermark
/// per partition far past the end.
fn ledger() -> Vec<LedgerEntry> {
    let keys = [
        ("mo-a", "pub-x", "EUR"),
        ("mo-a", "pub-y", "EUR"),
        ("mo-b", "pub-x", "EUR"),
        ("mo-a", "pub-x", "USD"),
        ("mo-b", "pub-y", "USD"),
    ];
    (0..ENTRIES)
        .map(|i| {
            let (mo, publisher, currency) = keys[i % keys.len()];
            let base = NOV_1 + (i as i64) * 20 * DAY / ENTRIES as i64;
            let late = if i % 13 == 0 { 3 * DAY } else { 0 };
            let reversal = i % 17 == 0;
            LedgerEntry {
                kind: if reversal {
                    LedgerKind::Reversal
                } else {
                    LedgerKind::Charge
                },
                entry_id: format!("c-{i:05}"),
                mo_id: mo.into(),
                publisher_id: publisher.into(),
                currency: currency.into(),
                amount_minor: if reversal {
                    -(i as i64 % 500)
                } else {
                    100 + (i as i64 * 37) % 9_900
                },
                event_time_ms: (base - late).max(NOV_1),
                charge_contract_id: None,
            }
        })
        .collect()
}

fn seed_agreements(state_dir: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let store: Arc<dyn StateStore> =
            Arc::new(EmbeddedStore::open(&state_dir.join("registry"))?);
        let registry = Registry::new(store);
        for (id, mo, publisher, currency) in [
            ("agr-1", "mo-a", "pub-x", "EUR"),
            ("agr-2", "mo-a", "pub-y", "EUR"),
            ("agr-3", "mo-a", "pub-x", "USD"),
        ] {
            registry
                .create(&SettlementAgreement {
                    id: id.into(),
                    mo_id: mo.into(),
                    publisher_id: publisher.into(),
                    currency: currency.into(),
                    publisher_bps: 6_667,
                    mo_bps: 3_000,
                    moneta_fee_bps: 333,
                    effective_from: 0,
                    min_settlement_minor: 0,
                    created_at: 0,
                })
                .await?;
        }
        Ok::<_, anyhow::Error>(())
    })
}

type Settled = BTreeMap<String, Settlement>;

fn settlements(
    bootstrap: &str,
    topic: &str,
    codec: &AvroCodec,
    runtime: &tokio::runtime::Runtime,
) -> anyhow::Result<Settled> {
    let mut out = BTreeMap::new();
    for message in read_topic(bootstrap, topic, usize::MAX, Duration::from_secs(2))? {
        let Some(payload) = message.payload() else {
            continue;
        };
        let s: Settlement = runtime.block_on(codec.decode(SchemaName::Settlement, payload))?;
        if let Some(previous) = out.insert(s.settlement_id.clone(), s.clone()) {
            ensure!(
                previous == s,
                "{} emitted twice with different content",
                s.settlement_id
            );
        }
    }
    Ok(out)
}

/// Runs until `topic` holds `expected` distinct settlements (or times out).
fn wait_for(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    codec: &AvroCodec,
    runtime: &tokio::runtime::Runtime,
    run: &Run,
) -> anyhow::Result<Settled> {
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let got = settlements(bootstrap, topic, codec, runtime)?;
        if got.len() >= expected {
            return Ok(got);
        }
        ensure!(
            Instant::now() < deadline,
            "{topic}: {} of {expected} settlements\n{}",
            got.len(),
            run.log_tail()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn sigkilled_settle_aggregate_settles_exactly_like_an_undisturbed_run() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let kafka = moneta_kafka::KafkaConfig {
        bootstrap_servers: bootstrap.clone(),
        ..Default::default()
    };
    let registry_url = runtime.block_on(async {
        let registry = SchemaRegistry::start(&kafka, &moneta_testkit::unique("_schemas")).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        tokio::spawn(registry.serve_on(listener, std::future::pending()));
        Ok::<_, anyhow::Error>(url)
    })?;
    let key = dir.path().join("signing.key");
    moneta_signing::KeyRing::generate_file(&key, "moneta-test")?;
    let topic = &moneta_testkit::unique("ledger");
    let (mut undisturbed, stl_a) =
        Run::new(dir.path(), "a", topic, &bootstrap, &registry_url, &key)?;
    let (mut killed, stl_b) = Run::new(dir.path(), "b", topic, &bootstrap, &registry_url, &key)?;
    seed_agreements(&dir.path().join("a"))?;
    seed_agreements(&dir.path().join("b"))?;

    // The ledger, produced as partners' contracts would make it.
    let codec = AvroCodec::new(&registry_url)?;
    let producer: ThreadedProducer<DefaultProducerContext> =
        client(&bootstrap).set("linger.ms", "5").create()?;
    let mut entries = ledger();
    for entry in &entries {
        let key = runtime.block_on(codec.encode_key(
            topic,
            &aggregation_key(&entry.mo_id, &entry.publisher_id, &entry.currency),
        ))?;
        let value = runtime.block_on(codec.encode(topic, SchemaName::LedgerEntry, entry))?;
        produce_raw(&producer, topic, Some(&key), &value)?;
    }
    let watermark = LedgerEntry {
        kind: LedgerKind::Watermark,
        entry_id: String::new(),
        event_time_ms: NOV_1 + 60 * DAY,
        ..entries[0].clone()
    };
    let value = runtime.block_on(codec.encode(topic, SchemaName::LedgerEntry, &watermark))?;
    for partition in 0..3 {
        let record: rdkafka::producer::BaseRecord<'_, [u8], [u8]> =
            rdkafka::producer::BaseRecord::to(topic)
                .partition(partition)
                .payload(&value);
        producer.send(record).map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    entries.push(watermark);

    // What the inputs must settle to: one settlement per key and day, plus
    // one adjustment per late entry of a closed day.
    undisturbed.start()?;
    let first = settlements(&bootstrap, &stl_a, &codec, &runtime)?;
    drop(first);
    let expected_min = 5 * 20;
    let a = wait_for(
        &bootstrap,
        &stl_a,
        expected_min,
        &codec,
        &runtime,
        &undisturbed,
    )?;
    // Let it finish: stable for two consecutive reads.
    let mut a = a;
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let again = settlements(&bootstrap, &stl_a, &codec, &runtime)?;
        if again.len() == a.len() {
            break;
        }
        a = again;
    }
    undisturbed.sigkill()?;

    killed.start()?;
    let started = Instant::now();
    let mut done_at_kill = Vec::new();
    for kill in 0..5u64 {
        std::thread::sleep(Duration::from_millis(900 + 200 * kill));
        killed.sigkill()?;
        // While it is down nothing moves: count what it had settled.
        done_at_kill.push(settlements(&bootstrap, &stl_b, &codec, &runtime)?.len());
        killed.start()?;
    }
    let kills = done_at_kill.len();
    let b = wait_for(&bootstrap, &stl_b, a.len(), &codec, &runtime, &killed)?;
    let mid_run = done_at_kill.iter().filter(|n| **n < a.len()).count();
    ensure!(
        mid_run >= 2,
        "only {mid_run} kills landed mid-run: {done_at_kill:?} of {}",
        a.len()
    );

    ensure!(
        a.len() == b.len(),
        "undisturbed {} vs killed {} settlements",
        a.len(),
        b.len()
    );
    for (id, sa) in &a {
        let sb = b
            .get(id)
            .with_context(|| format!("{id} missing from the killed run"))?;
        ensure!(sa == sb, "{id} differs:\n{sa:?}\n{sb:?}");
    }
    // Every input counted exactly once, and every split adds up.
    let inputs: BTreeMap<&str, i64> = entries
        .iter()
        .filter(|e| e.kind != LedgerKind::Watermark)
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(e.currency.as_str()).or_default() += e.amount_minor;
            m
        });
    let mut outputs: BTreeMap<&str, i64> = BTreeMap::new();
    for s in a.values() {
        *outputs.entry(s.currency.as_str()).or_default() += s.total_minor;
        ensure!(
            s.publisher_minor + s.mo_minor + s.moneta_fee_minor + s.unallocated_minor
                == s.total_minor,
            "{} does not add up",
            s.settlement_id
        );
    }
    ensure!(
        inputs == outputs,
        "inputs {inputs:?} vs settled {outputs:?}"
    );
    let adjustments = a.values().filter(|s| s.adjusts.is_some()).count();
    ensure!(adjustments > 0, "the late entries must produce adjustments");
    println!(
        "{} settlements ({} adjustments) identical after {kills} SIGKILLs ({mid_run} mid-run; settled at each kill: {done_at_kill:?}) in {:.1} s; totals per currency {outputs:?}",
        a.len(),
        adjustments,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

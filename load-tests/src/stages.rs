//! `stages`: every processor of the chain against the bare `copy`
//! processor, same broker, same run, same input records.
//!
//! 1. Start Apache Kafka (one KRaft node), and in this process the embedded
//!    schema registry, the embedded state store, the admin API and the
//!    ingest edge.
//! 2. Seed the partner network and submit `contracts` signed contracts
//!    through the edge (two RFC 9421-signed events each). Untimed.
//! 3. For each stage in chain order: the bare transactional librdkafka loop
//!    (`bare.rs`, unless turned off) over the stage's input topics, then
//!    `copy` through the runtime over the same topics from a cold start until
//!    it has processed every record, then the stage itself. Each is timed
//!    alone, from start until every input is processed, committed and the
//!    copier has stopped. The stage's output is the next stage's input: the
//!    chain runs exactly once, and every stage meets its input as it would
//!    in production (a second pass would only find replays of events
//!    already applied).
//!
//! The figure that matters is `stage records/s ÷ copy records/s`; `stage ÷
//! bare` says what share of the broker's transactional ceiling it reaches.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use moneta_ingest::client::PartnerClient;
use moneta_runtime::{ProcessorMetrics, ProcessorSpec, Runtime, RuntimeMetrics, Shutdown};
use moneta_signing::{KeyRing, SigningKey};
use moneta_topology::{Config, Services, Topology, services};
use serde::Serialize;
use tokio::sync::Semaphore;

use crate::broker::Broker;
use crate::hub::TOKEN;
use crate::load::STAGES;
use crate::machine::{Commit, Machine, UtcTime};
use crate::network::{self, Admin, Pair};
use crate::svg::{COLOURS, Series, line_chart};
use crate::verify::count_records;

/// The bare copy baseline for any input: every record unchanged (key,
/// value, headers) to the output topic, one effect per record. Like
/// `moneta_processors::copy::Copy`, without its JSON `id` decoding (the
/// chain's records are Avro), so nothing is dead-lettered.
#[derive(Debug, Clone)]
pub struct RawCopy {
    output: String,
}

impl moneta_runtime::Processor for RawCopy {
    type Input = ();

    fn decode(
        &self,
        _record: &std::sync::Arc<moneta_runtime::Record>,
    ) -> impl std::future::Future<Output = Result<(), moneta_runtime::ProcessError>> + Send + 'static
    {
        std::future::ready(Ok(()))
    }

    async fn process(
        &mut self,
        _input: (),
        record: &moneta_runtime::Record,
    ) -> Result<moneta_runtime::Outcome, moneta_runtime::ProcessError> {
        Ok(moneta_runtime::Outcome {
            outputs: vec![moneta_runtime::Output {
                topic: self.output.clone(),
                key: record.key.clone(),
                payload: record.payload.clone(),
                headers: record
                    .headers
                    .iter()
                    .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
                    .collect(),
            }],
            effects: vec![moneta_runtime::Effect {
                id: format!(
                    "copy:{}:{}:{}",
                    record.topic, record.partition, record.offset
                ),
                value: Vec::new(),
            }],
        })
    }
}

/// Every processor must reach this share of copy's records/s.
pub const TARGET_RATIO: f64 = 0.70;
/// How often progress is sampled.
const SAMPLE: Duration = Duration::from_millis(10);

/// Options of a `stages` run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Contracts submitted (two events each).
    pub contracts: u64,
    /// MO–publisher pairs.
    pub pairs: usize,
    /// A stage still running after this long fails.
    pub timeout: Duration,
    /// Whether each stage is also run against the bare transactional loop.
    pub bare: bool,
    /// Results directory.
    pub out: PathBuf,
}

/// One timed run of a processor over a stage's input.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timing {
    /// Spawn → every input processed, committed, thread stopped, s.
    pub seconds: f64,
    /// Input records ÷ `seconds`.
    pub records_per_sec: f64,
    /// Spawn → first record processed, s.
    pub startup_seconds: f64,
    /// Input records ÷ (`seconds` − `startup_seconds`).
    pub steady_records_per_sec: f64,
    /// Records it counted in.
    pub records_in: u64,
    /// Records it sent.
    pub records_out: u64,
    /// Batches committed.
    pub batches: u64,
    /// Mean time in the processor's decode and process per record, µs
    /// (the rest of a record's share is the runtime and the broker).
    pub process_micros_mean: f64,
}

/// A stage against copy.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stage name.
    pub stage: String,
    /// Its input topics.
    pub inputs: Vec<String>,
    /// Records in them.
    pub input_records: u64,
    /// The bare transactional librdkafka loop over the same topics.
    pub bare: Option<Timing>,
    /// `copy` through the runtime over the same topics.
    pub copy: Timing,
    /// The stage itself.
    pub processor: Timing,
    /// `processor.records_per_sec ÷ copy.records_per_sec`.
    pub ratio: f64,
    /// The same on steady records/s (startup excluded).
    pub steady_ratio: f64,
    /// `processor.records_per_sec ÷ bare.records_per_sec`.
    pub bare_ratio: Option<f64>,
    /// `copy.records_per_sec ÷ bare.records_per_sec`: the runtime's own cost.
    pub copy_to_bare: Option<f64>,
    /// Whether `ratio` ≥ the target.
    pub met: bool,
    /// Why the stage could not be timed, if it could not.
    pub error: Option<String>,
}

/// A `stages` run.
#[derive(Debug, Clone, Serialize)]
pub struct StagesReport {
    /// `stages`.
    pub benchmark: String,
    /// UTC start.
    pub started_at: String,
    /// Machine.
    pub machine: Machine,
    /// Commit.
    pub git: Commit,
    /// Broker.
    pub broker: String,
    /// Load averages (1, 5, 15 min) when the run started.
    pub load_average_at_start: String,
    /// Contracts submitted.
    pub contracts: u64,
    /// Events submitted (two per contract).
    pub events: u64,
    /// Simulated partners.
    pub partners: usize,
    /// Seconds the submission through the edge took (untimed for the ratios).
    pub submit_seconds: f64,
    /// Runtime batch size.
    pub max_batch_records: usize,
    /// Runtime commit interval, ms.
    pub commit_interval_ms: u64,
    /// Events refused by the chain (records on the rejected topic).
    pub rejected: u64,
    /// One row per stage, in chain order.
    pub rows: Vec<Row>,
    /// The target ratio.
    pub target_ratio: f64,
    /// How to read it.
    pub notes: Vec<String>,
}

/// Runs the benchmark and writes its results.
pub fn main(options: &Options) -> anyhow::Result<()> {
    if options.contracts == 0 || options.pairs == 0 {
        bail!("--contracts and --pairs must be at least 1");
    }
    let started = UtcTime::now();
    let load_average = crate::machine::load_average();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let broker = Broker::kafka()?;
    let dir = tempfile::Builder::new()
        .prefix("moneta-stages-")
        .tempdir()?;
    let config = config(&broker.bootstrap_servers(), dir.path(), "", "", "")?;
    let pairs = network::network(options.pairs);
    let (services, submit_seconds) = tokio.block_on(prepare(&config, &pairs, options.contracts))?;
    let topology = Topology::new(&config);
    let mut rows = Vec::new();
    for name in STAGES {
        let stage = topology
            .stage(name)
            .ok_or_else(|| anyhow!("no stage {name}"))?;
        let input_records = count_records(&config.kafka.bootstrap_servers, &stage.input_names())?;
        let bare = if options.bare {
            let bare_out = moneta_testkit::unique(&format!("bench-bare-{name}"));
            broker.create_topics(&tokio, &[&bare_out], config.topics.partitions)?;
            eprintln!("[{name}] {input_records} input records: bare transactional loop");
            let run = crate::bare::copy(
                &config.kafka.bootstrap_servers,
                &crate::bare::Job {
                    inputs: stage.input_names(),
                    output: bare_out,
                    records: input_records,
                    max_batch_records: config.processing.max_batch_records,
                    commit_interval: config.processing.commit_interval(),
                    timeout: options.timeout,
                    plain_commit: false,
                    consumer: Default::default(),
                    producer: Default::default(),
                },
            )
            .with_context(|| format!("[{name}] the bare loop"))?;
            let n = input_records as f64;
            Some(Timing {
                seconds: run.seconds,
                records_per_sec: n / run.seconds,
                startup_seconds: run.startup_seconds,
                steady_records_per_sec: n / (run.seconds - run.startup_seconds).max(1e-9),
                records_in: run.records_in,
                records_out: run.records_out,
                batches: run.transactions,
                process_micros_mean: 0.0,
            })
        } else {
            None
        };
        let copy_out = moneta_testkit::unique(&format!("bench-copy-{name}"));
        let copy_dlq = moneta_testkit::unique(&format!("bench-copy-dlq-{name}"));
        broker.create_topics(&tokio, &[&copy_out, &copy_dlq], config.topics.partitions)?;
        eprintln!("[{name}] {input_records} input records: copy through the runtime");
        let copy = timed(&config, name, input_records, options.timeout, |runtime| {
            let ledger = Arc::new(moneta_state::EffectLedger::open(
                &config.state.dir.join(format!("copy-for-{name}")),
            )?);
            let spec = ProcessorSpec {
                name: format!("copy-for-{name}"),
                inputs: stage.input_names(),
                dead_letter_topic: copy_dlq.clone(),
                instance: 0,
            };
            Ok((
                vec![runtime.spawn(
                    spec.clone(),
                    RawCopy {
                        output: copy_out.clone(),
                    },
                    ledger,
                    tokio.handle().clone(),
                )?],
                runtime.metrics.processor(&spec.name),
            ))
        })?;
        eprintln!(
            "[{name}] copy {:.0} records/s; now {name}",
            copy.records_per_sec
        );
        let processor = match timed(&config, name, input_records, options.timeout, |runtime| {
            Ok((
                vec![topology.spawn(
                    stage,
                    runtime,
                    0,
                    &config.state.dir,
                    tokio.handle().clone(),
                    Some(&services),
                )?],
                runtime.metrics.processor(name),
            ))
        }) {
            Ok(timing) => timing,
            Err(error) => {
                // Report it and go on: the stages after it still have input.
                eprintln!("[{name}] FAILED: {error:#}");
                rows.push(Row {
                    stage: name.to_owned(),
                    inputs: stage.input_names(),
                    input_records,
                    bare,
                    copy,
                    processor: Timing::default(),
                    ratio: 0.0,
                    steady_ratio: 0.0,
                    bare_ratio: None,
                    copy_to_bare: None,
                    met: false,
                    error: Some(format!("{error:#}")),
                });
                continue;
            }
        };
        let ratio = processor.records_per_sec / copy.records_per_sec;
        let steady_ratio = processor.steady_records_per_sec / copy.steady_records_per_sec;
        let bare_ratio = bare.map(|b| processor.records_per_sec / b.records_per_sec);
        let copy_to_bare = bare.map(|b| copy.records_per_sec / b.records_per_sec);
        eprintln!(
            "[{name}] {:.0} records/s: {ratio:.2} × copy{}",
            processor.records_per_sec,
            bare_ratio
                .map(|r| format!(", {r:.2} × bare"))
                .unwrap_or_default()
        );
        rows.push(Row {
            stage: name.to_owned(),
            inputs: stage.input_names(),
            input_records,
            bare,
            copy,
            processor,
            ratio,
            steady_ratio,
            bare_ratio,
            copy_to_bare,
            met: ratio >= TARGET_RATIO,
            error: None,
        });
    }
    let rejected = count_records(
        &config.kafka.bootstrap_servers,
        std::slice::from_ref(&config.contracts.topics.rejected),
    )?;
    let report = StagesReport {
        benchmark: "stages".into(),
        started_at: started.rfc3339(),
        machine: Machine::detect(),
        git: Commit::detect(),
        broker: broker.label(),
        load_average_at_start: load_average,
        contracts: options.contracts,
        events: options.contracts * 2,
        partners: options.pairs * 2,
        submit_seconds,
        max_batch_records: config.processing.max_batch_records,
        commit_interval_ms: config.processing.commit_interval_ms,
        rejected,
        rows,
        target_ratio: TARGET_RATIO,
        notes: vec![
            "Each stage runs alone, from a cold start, over its complete input (the output of the stage before it); copy runs alone over the same topics just before it. Copy here is the runtime's bare baseline: each record unchanged (key, value, headers) to one output plus one effect, without the JSON decoding of the `copy` stage (the chain's records are Avro). Records/s = input records ÷ (spawn → all processed, committed, stopped); input records are those a read_committed consumer reads (transaction markers are not records).".into(),
            "Bare: a plain librdkafka consume → transactional produce loop over the same topics (read_committed consumer in a group, offsets sent in the transaction, a commit every max_batch_records records or commit_interval_ms, as the runtime), without the runtime: no effect ledger, no Processor trait. It is the ceiling Kafka and librdkafka give; `stage ÷ bare` is the share of it a stage reaches, `copy ÷ bare` the runtime's own cost.".into(),
            format!("Same broker: {}; same run, same guarantee (exactly_once: transactions, read_committed), consumer groups with cooperative-sticky rebalancing, default batching. The schema registry, state store (redb) and admin API run in the benchmark process.", broker.label()),
            "Absolute records/s are noisy on a shared 2-core machine; the ratio is the figure to compare.".into(),
        ],
    };
    let written = write(&report, &options.out, &started)?;
    print!("{}", markdown(&report));
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    drop(tokio);
    drop(broker);
    Ok(())
}

/// The configuration: local defaults on free ports, state in `dir`.
/// The benchmark's configuration, its files under `dir`; a non-empty
/// `lane` prefixes its topics, groups and transactional ids, so lanes share
/// one broker without meeting; `state` and `topics` are more of the `[state]`
/// and `[topics]` tables.
pub(crate) fn config(
    bootstrap: &str,
    dir: &std::path::Path,
    lane: &str,
    state: &str,
    topics: &str,
) -> anyhow::Result<Config> {
    let port = || moneta_testkit::free_port().map(|p| format!("127.0.0.1:{p}"));
    let text = format!(
        r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[processing]
guarantee = "exactly_once"
application_id = "{lane}moneta"
[topics]
prefix = "{lane}"
{topics}
[broker]
embedded = false
[state]
dir = "{state_dir}"
{state}
[admin]
listen = "{admin}"
token = "{TOKEN}"
[ingest]
listen = "{ingest}"
[schema_registry]
listen = "{registry}"
[metrics]
listen = ""
[webhooks]
allow_http = true
"#,
        state_dir = dir.join("state").display(),
        admin = port()?,
        ingest = port()?,
        registry = port()?,
    );
    let path = dir.join("moneta.toml");
    std::fs::write(&path, text)?;
    Ok(Config::load(Some(&path))?)
}

/// Topics, registry, store, admin API and edge in this process; the
/// network seeded; `contracts` contracts submitted. Returns the services
/// the stages need and the seconds the submission took.
pub(crate) async fn prepare(
    config: &Config,
    pairs: &[Pair],
    contracts: u64,
) -> anyhow::Result<(Services, f64)> {
    moneta_kafka::ensure_topics(
        &config.kafka,
        &Topology::new(config).topic_specs(),
        Duration::from_secs(30),
    )
    .await?;
    if let Some(registry) = services::embedded_registry(config).await? {
        let listen = config.schema_registry.listen.parse()?;
        tokio::spawn(registry.serve(listen, std::future::pending()));
    }
    let mut attempts = 0;
    while let Err(e) = services::register_schemas(config).await {
        attempts += 1;
        if attempts > 50 {
            return Err(e).context("registering schemas");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::create_dir_all(&config.state.dir)?;
    let store = services::open_store(config).await?;
    let keys = KeyRing::new("moneta-1", SigningKey::from_bytes(&[0x5A; 32]))?;
    let services = services::services(config, store.clone(), keys)?;

    let mut admin_state = moneta_admin::AdminState::new(
        moneta_state::Registry::new(store.clone()),
        moneta_admin::AdminToken::new(TOKEN),
    );
    admin_state.allow_http = config.webhooks.allow_http;
    let admin = moneta_admin::router(admin_state);
    let listener = tokio::net::TcpListener::bind(&config.admin.listen).await?;
    tokio::spawn(async move { axum::serve(listener, admin).await });
    let ingest = moneta_ingest::Ingest::new(
        config.ingest.clone(),
        &config.kafka,
        store,
        services.codec.clone(),
        &config.contracts.topics.ingest,
        services.keys.clone(),
    )?;
    let app = moneta_ingest::router(Arc::new(ingest));
    let listen = config.ingest.listen.clone();
    tokio::spawn(
        async move { moneta_ingest::serve(app, &listen, None, std::future::pending()).await },
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(&config.ingest.listen)
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("the ingest edge did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    eprintln!(
        "seeding {} partners; submitting {contracts} contracts ({} signed events) through the edge",
        pairs.len() * 2,
        contracts * 2
    );
    Admin::new(&config.admin.listen, TOKEN)
        .seed(pairs, Some("http://127.0.0.1:9/hooks"))
        .await?;
    let submitted = Instant::now();
    submit_all(
        &format!("http://{}", config.ingest.listen),
        pairs,
        contracts,
    )
    .await?;
    let submit_seconds = submitted.elapsed().as_secs_f64();
    eprintln!(
        "submitted in {submit_seconds:.1} s ({:.0} events/s)",
        contracts as f64 * 2.0 / submit_seconds
    );
    Ok((services, submit_seconds))
}

/// Submits every contract, publisher first then MO, 32 contracts at a time.
async fn submit_all(base: &str, pairs: &[Pair], contracts: u64) -> anyhow::Result<()> {
    moneta_tls::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let url = format!("{base}{}", network::DOMAIN_PATH);
    let limit = Arc::new(Semaphore::new(32));
    // One signing client per partner: each builds an HTTP client, which
    // reads the system's root certificates.
    let clients: Vec<Arc<(PartnerClient, PartnerClient)>> = pairs
        .iter()
        .map(|p| Arc::new((p.publisher.client(base), p.mo.client(base))))
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..contracts {
        let permit = limit.clone().acquire_owned().await?;
        let index = (n % pairs.len() as u64) as usize;
        let (pair, signers) = (pairs[index].clone(), clients[index].clone());
        let (http, url) = (http.clone(), url.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let terms = network::contract("stages", n, &pair);
            for (partner, client) in [(&pair.publisher, &signers.0), (&pair.mo, &signers.1)] {
                let request = network::signed_submission(client, partner, &terms)?;
                let response = http
                    .post(&url)
                    .headers(request.headers)
                    .body(request.body)
                    .send()
                    .await?;
                let status = response.status();
                if status.as_u16() != 202 {
                    let body = response.text().await.unwrap_or_default();
                    bail!("contract {n}: {status} {body}");
                }
            }
            anyhow::Ok(())
        });
        while let Some(done) = tasks.try_join_next() {
            done??;
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// The instances a timed run started, and their (shared) metrics.
pub(crate) type Spawned = (
    Vec<std::thread::JoinHandle<Result<(), moneta_runtime::RuntimeError>>>,
    ProcessorMetrics,
);

/// Runs what `spawn` starts until it has counted `records` inputs, stops
/// it, and times it.
pub(crate) fn timed(
    config: &Config,
    name: &str,
    records: u64,
    timeout: Duration,
    spawn: impl FnOnce(&Runtime) -> anyhow::Result<Spawned>,
) -> anyhow::Result<Timing> {
    let runtime = Runtime {
        kafka: config.kafka.clone(),
        processing: config.processing.clone(),
        metrics: RuntimeMetrics::new(&prometheus::Registry::new())?,
        shutdown: Shutdown::new(),
    };
    let started = Instant::now();
    let (handles, progress) = spawn(&runtime)?;
    let mut first = None;
    let mut next_report = Duration::from_secs(15);
    let outcome = loop {
        let done = progress.records_in.get();
        let now = started.elapsed();
        if now >= next_report {
            eprintln!(
                "  {:>5.0} s: {done}/{records} records in, {} out, {} batches",
                now.as_secs_f64(),
                progress.records_out.get(),
                progress.committed.get()
            );
            next_report += Duration::from_secs(15);
        }
        if first.is_none() && done > 0 {
            first = Some(now);
        }
        if done >= records {
            break Ok(());
        }
        if handles.iter().any(|h| h.is_finished()) {
            break Err(anyhow!("{name} stopped after {done} of {records} records"));
        }
        if now > timeout {
            break Err(anyhow!("{name} timed out with {done} of {records} records"));
        }
        std::thread::sleep(SAMPLE);
    };
    runtime.shutdown.request();
    let mut joined = Vec::new();
    for handle in handles {
        joined.push(
            handle
                .join()
                .map_err(|_| anyhow!("the {name} thread panicked"))?,
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    outcome?;
    for result in joined {
        result.with_context(|| format!("{name} failed"))?;
    }
    let startup = first.map_or(0.0, |d| d.as_secs_f64());
    let n = records as f64;
    Ok(Timing {
        seconds,
        records_per_sec: n / seconds,
        startup_seconds: startup,
        steady_records_per_sec: n / (seconds - startup).max(1e-9),
        records_in: progress.records_in.get(),
        records_out: progress.records_out.get(),
        batches: progress.committed.get(),
        process_micros_mean: progress.latency.get_sample_sum() * 1e6
            / progress.latency.get_sample_count().max(1) as f64,
    })
}

fn markdown(report: &StagesReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# `stages` benchmark, {}\n", report.started_at);
    let _ = writeln!(
        out,
        "{} · {} · {} contracts ({} signed events from {} partners), {} refused · batches of ≤ {} records or {} ms\n",
        crate::machine::context(&report.git, &report.machine, &report.load_average_at_start),
        report.broker,
        report.contracts,
        report.events,
        report.partners,
        report.rejected,
        report.max_batch_records,
        report.commit_interval_ms,
    );
    let _ = writeln!(
        out,
        "| Stage | Input records | bare records/s | copy records/s | stage records/s | Ratio (stage ÷ copy) | Steady ratio | Stage ÷ bare | Copy ÷ bare | Records out | ≥ {:.2} |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        report.target_ratio
    );
    let or_dash =
        |x: Option<f64>, digits: usize| x.map_or("–".to_owned(), |x| format!("{x:.digits$}"));
    for r in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} |",
            r.stage,
            r.input_records,
            or_dash(r.bare.map(|b| b.records_per_sec), 0),
            r.copy.records_per_sec,
            r.processor.records_per_sec,
            r.ratio,
            r.steady_ratio,
            or_dash(r.bare_ratio, 2),
            or_dash(r.copy_to_bare, 2),
            r.processor.records_out,
            if r.met { "yes" } else { "**no**" }
        );
    }
    for r in report.rows.iter().filter(|r| r.error.is_some()) {
        let _ = writeln!(
            out,
            "\n{} could not be timed: {}.",
            r.stage,
            r.error.as_deref().unwrap_or_default()
        );
    }
    let failing: Vec<&str> = report
        .rows
        .iter()
        .filter(|r| !r.met)
        .map(|r| r.stage.as_str())
        .collect();
    let _ = writeln!(
        out,
        "\nTarget (every processor ≥ {:.0}% of copy): {}.\n",
        report.target_ratio * 100.0,
        if failing.is_empty() {
            "met".to_owned()
        } else {
            format!("not met by {}", failing.join(", "))
        }
    );
    for n in &report.notes {
        let _ = writeln!(out, "- {n}");
    }
    out
}

fn write(
    report: &StagesReport,
    dir: &std::path::Path,
    date: &UtcTime,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let stem = dir.join(format!("stages-{}", date.date()));
    let x: Vec<String> = report.rows.iter().map(|r| r.stage.clone()).collect();
    let svg = line_chart(
        &format!(
            "stages {}: records/s, bare vs copy vs processor",
            report.started_at
        ),
        "stage (over its own input)",
        "records/s",
        &x,
        &[
            Series {
                name: "bare".into(),
                colour: COLOURS[2],
                values: report
                    .rows
                    .iter()
                    .map(|r| r.bare.map(|b| b.records_per_sec))
                    .collect(),
            },
            Series {
                name: "copy".into(),
                colour: COLOURS[0],
                values: report
                    .rows
                    .iter()
                    .map(|r| Some(r.copy.records_per_sec))
                    .collect(),
            },
            Series {
                name: "processor".into(),
                colour: COLOURS[1],
                values: report
                    .rows
                    .iter()
                    .map(|r| Some(r.processor.records_per_sec))
                    .collect(),
            },
        ],
        false,
        None,
    );
    crate::report::write_files(
        &stem,
        vec![
            ("json", serde_json::to_string_pretty(report)? + "\n"),
            ("md", markdown(report)),
            ("svg", svg),
        ],
    )
}

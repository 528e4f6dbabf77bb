//! One `copy` scenario on its own broker: the bare transactional loop, or
//! the runtime's `copy` processor under one guarantee.
//!
//! It pre-produces the input (timed: the produce-only reference), runs the
//! copy from a cold start until every input record is copied and committed
//! (timed: the figure of merit), stops it, then reads the output back to
//! its end (`read_committed`) and checks every id against the guarantee.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use moneta_kafka::KafkaConfig;
use moneta_runtime::{
    Guarantee, ProcessingConfig, ProcessorMetrics, ProcessorSpec, Runtime, RuntimeMetrics, Shutdown,
};
use moneta_testkit::{kafka, unique};
use rdkafka::Message as _;
use serde::Serialize;

use crate::bare;
use crate::broker::Broker;
use crate::verify::{count_ids, judge, read_to_end};

/// Name of the benchmarked processor: its metrics label and consumer group.
const PROCESSOR: &str = "copy";
/// How often progress is sampled.
const SAMPLE: Duration = Duration::from_millis(10);
/// How often progress is printed.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// Longest reading the output back may take.
const READ_LIMIT: Duration = Duration::from_secs(300);

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Scenario {
    /// A plain librdkafka consume → transactional produce loop (`bare.rs`):
    /// the ceiling.
    BareTransactional,
    /// The runtime's `copy` processor under `at_least_once`.
    AtLeastOnce,
    /// The runtime's `copy` processor under `exactly_once`.
    ExactlyOnce,
}

impl Scenario {
    /// Its name in results.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::BareTransactional => bare::NAME,
            Scenario::AtLeastOnce => "at_least_once",
            Scenario::ExactlyOnce => "exactly_once",
        }
    }

    /// The guarantee its output is judged by.
    pub fn guarantee(self) -> Guarantee {
        match self {
            Scenario::BareTransactional | Scenario::ExactlyOnce => Guarantee::ExactlyOnce,
            Scenario::AtLeastOnce => Guarantee::AtLeastOnce,
        }
    }

    /// What copies the records.
    pub fn copier(self) -> &'static str {
        match self {
            Scenario::BareTransactional => "librdkafka loop (no runtime)",
            Scenario::AtLeastOnce | Scenario::ExactlyOnce => "moneta runtime, `copy` processor",
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What every scenario of a run shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Input records.
    pub records: usize,
    /// Partitions of each topic.
    pub partitions: i32,
    /// A scenario that has not finished after this long fails.
    pub timeout: Duration,
    /// Batching and timeouts (the guarantee is set per scenario); the bare
    /// loop commits by the same `max_batch_records` and `commit_interval_ms`.
    pub processing: ProcessingConfig,
    /// Records an untimed bare transactional copy moves on the fresh broker
    /// before the timed scenario, so the broker's JVM has compiled its hot
    /// paths (0: none).
    pub warmup_records: usize,
    /// The bare loop calls `commit_transaction` with outputs in flight, as
    /// the runtime does (see [`bare::Job::plain_commit`]).
    pub bare_plain_commit: bool,
    /// Extra librdkafka settings of the bare loop's consumer.
    pub bare_consumer: BTreeMap<String, String>,
    /// Extra librdkafka settings of the bare loop's producer.
    pub bare_producer: BTreeMap<String, String>,
}

/// The measured figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// `bare_transactional`, `at_least_once` or `exactly_once`.
    pub scenario: Scenario,
    /// What copies the records.
    pub copier: String,
    /// The guarantee the output is judged by.
    pub guarantee: Guarantee,
    /// Broker name and version.
    pub broker: String,
    /// Records of the untimed warm-up copy on the same broker before it.
    pub warmup_records: usize,
    /// From start until every input was copied and committed, and the
    /// copier stopped.
    pub seconds: f64,
    /// Input records divided by `seconds`.
    pub records_per_sec: f64,
    /// From start until the first input record was processed (client
    /// set-up, producer and transaction init, group join, first fetch).
    pub startup_seconds: f64,
    /// From start until the last input record was processed (not yet committed).
    pub processed_seconds: f64,
    /// Input records divided by the time after the first record was processed.
    pub steady_records_per_sec: f64,
    /// Time to produce the input records with an idempotent producer.
    pub produce_seconds: f64,
    /// Input records divided by `produce_seconds`.
    pub produce_records_per_sec: f64,
    /// Input records counted (redone batches count again).
    pub records_in: u64,
    /// Output records sent (redone batches count again).
    pub records_out: u64,
    /// Records read back from the output topic (`read_committed`, to its end).
    pub outputs_read: u64,
    /// Distinct expected ids among them.
    pub unique_ids: usize,
    /// Expected ids not read back.
    pub missing: usize,
    /// Records read back beyond the first of each id.
    pub duplicates: usize,
    /// Records read back with an id that was not produced.
    pub unexpected: usize,
    /// Batches (transactions) committed.
    pub batches_committed: u64,
    /// Batches (transactions) aborted and redone.
    pub batches_aborted: u64,
    /// Retriable commit errors retried.
    pub commit_retries: u64,
    /// Producers recreated after fatal errors.
    pub producers_recreated: u64,
    /// Bare loop only: where its commits spent their time (the rest of
    /// `seconds` is consuming and producing).
    pub commits: Option<CommitTimes>,
    /// Whether the output satisfies the guarantee.
    pub verified: bool,
    /// What the guarantee requires of the output.
    pub requirement: String,
}

/// The bare loop's commits, timed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CommitTimes {
    /// Whether `commit_transaction` was called with outputs in flight (as
    /// the runtime does) rather than after their delivery reports.
    pub plain_commit: bool,
    /// All of it, s.
    pub total_seconds: f64,
    /// Waiting for the delivery reports of the outputs, s.
    pub delivery_wait_seconds: f64,
    /// In `send_offsets_to_transaction`, s.
    pub send_offsets_seconds: f64,
    /// In `commit_transaction` (its flush, then `EndTxn`), s.
    pub commit_transaction_seconds: f64,
}

/// What a copier reported about its run.
struct Copied {
    seconds: f64,
    startup: f64,
    processed: f64,
    records_in: u64,
    records_out: u64,
    committed: u64,
    aborted: u64,
    commit_retries: u64,
    recreated: u64,
    commits: Option<CommitTimes>,
}

/// Runs `scenario` on `broker` (a fresh one: its topics are the only load).
pub fn run_copy(
    broker: &Broker,
    scenario: Scenario,
    settings: &Settings,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<Measurement> {
    let bootstrap = broker.bootstrap_servers();
    if settings.warmup_records > 0 {
        warm_up(broker, settings, tokio)
            .with_context(|| format!("[{scenario}] warming the broker up"))?;
    }
    let (input, output, dlq) = (unique("bench-in"), unique("bench-out"), unique("bench-dlq"));
    broker.create_topics(tokio, &[&input, &output, &dlq], settings.partitions)?;

    let ids: Vec<String> = (1..=settings.records)
        .map(|i| format!("r-{i:06}"))
        .collect();
    eprintln!("[{scenario}] producing {} records to {input}", ids.len());
    let produce_start = Instant::now();
    kafka::produce_ids(&bootstrap, &input, ids.iter().cloned()).context("producing the input")?;
    let produce_seconds = produce_start.elapsed().as_secs_f64();

    eprintln!(
        "[{scenario}] copying with the {} on {}",
        scenario.copier(),
        broker.label()
    );
    let copied = match scenario {
        Scenario::BareTransactional => {
            let run = bare::copy(
                &bootstrap,
                &bare_job(settings, vec![input.clone()], &output, settings.records),
            )?;
            Copied {
                seconds: run.seconds,
                startup: run.startup_seconds,
                processed: run.processed_seconds,
                records_in: run.records_in,
                records_out: run.records_out,
                committed: run.transactions,
                aborted: 0,
                commit_retries: 0,
                recreated: 0,
                commits: Some(CommitTimes {
                    plain_commit: settings.bare_plain_commit,
                    total_seconds: run.commit_seconds,
                    delivery_wait_seconds: run.delivery_wait_seconds,
                    send_offsets_seconds: run.send_offsets_seconds,
                    commit_transaction_seconds: run.commit_seconds
                        - run.delivery_wait_seconds
                        - run.send_offsets_seconds,
                }),
            }
        }
        Scenario::AtLeastOnce | Scenario::ExactlyOnce => runtime_copy(
            &bootstrap,
            scenario.guarantee(),
            settings,
            tokio,
            (&input, &output, &dlq),
        )?,
    };

    let mut read = Vec::with_capacity(settings.records);
    let outputs_read = read_to_end(&bootstrap, &output, READ_LIMIT, |message| {
        read.push(json_id(message.payload()));
    })
    .context("reading the output back")?;
    let counts = count_ids(&ids, read.into_iter());
    let records = settings.records as f64;
    let guarantee = scenario.guarantee();
    let (verified, requirement) = judge(guarantee, &counts);
    Ok(Measurement {
        scenario,
        copier: scenario.copier().into(),
        guarantee,
        broker: broker.label(),
        warmup_records: settings.warmup_records,
        seconds: copied.seconds,
        records_per_sec: records / copied.seconds,
        startup_seconds: copied.startup,
        processed_seconds: copied.processed,
        steady_records_per_sec: records / (copied.seconds - copied.startup).max(1e-9),
        produce_seconds,
        produce_records_per_sec: records / produce_seconds,
        records_in: copied.records_in,
        records_out: copied.records_out,
        outputs_read,
        unique_ids: counts.unique,
        missing: counts.missing,
        duplicates: counts.duplicates,
        unexpected: counts.unexpected,
        batches_committed: copied.committed,
        batches_aborted: copied.aborted,
        commit_retries: copied.commit_retries,
        producers_recreated: copied.recreated,
        commits: copied.commits,
        verified,
        requirement,
    })
}

/// The bare loop's job over `inputs`, committing as the runtime would.
pub fn bare_job(
    settings: &Settings,
    inputs: Vec<String>,
    output: &str,
    records: usize,
) -> bare::Job {
    bare::Job {
        inputs,
        output: output.to_owned(),
        records: records as u64,
        max_batch_records: settings.processing.max_batch_records,
        commit_interval: settings.processing.commit_interval(),
        timeout: settings.timeout,
        plain_commit: settings.bare_plain_commit,
        consumer: settings.bare_consumer.clone(),
        producer: settings.bare_producer.clone(),
    }
}

/// An untimed bare transactional copy of `warmup_records` on topics of its own.
fn warm_up(
    broker: &Broker,
    settings: &Settings,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let bootstrap = broker.bootstrap_servers();
    let (input, output) = (unique("warmup-in"), unique("warmup-out"));
    broker.create_topics(tokio, &[&input, &output], settings.partitions)?;
    let started = Instant::now();
    kafka::produce_ids(
        &bootstrap,
        &input,
        (1..=settings.warmup_records).map(|i| format!("w-{i:06}")),
    )?;
    bare::copy(
        &bootstrap,
        &bare_job(settings, vec![input], &output, settings.warmup_records),
    )?;
    eprintln!(
        "  warm-up: {} records produced and copied in {:.1} s (untimed)",
        settings.warmup_records,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Runs the runtime's `copy` processor under `guarantee` over `input`.
fn runtime_copy(
    bootstrap: &str,
    guarantee: Guarantee,
    settings: &Settings,
    tokio: &tokio::runtime::Runtime,
    (input, output, dlq): (&str, &str, &str),
) -> anyhow::Result<Copied> {
    let state = tempfile::tempdir()?;
    let ledger = Arc::new(moneta_state::EffectLedger::open(
        &state.path().join("state"),
    )?);
    let registry = prometheus::Registry::new();
    let metrics = RuntimeMetrics::new(&registry)?;
    let runtime = Runtime {
        kafka: KafkaConfig {
            bootstrap_servers: bootstrap.to_owned(),
            ..Default::default()
        },
        processing: ProcessingConfig {
            guarantee,
            application_id: unique("bench"),
            ..settings.processing.clone()
        },
        metrics: metrics.clone(),
        shutdown: Shutdown::new(),
    };
    let spec = ProcessorSpec {
        name: PROCESSOR.into(),
        inputs: vec![input.to_owned()],
        dead_letter_topic: dlq.to_owned(),
        instance: 0,
    };
    let progress = metrics.processor(PROCESSOR);
    let started = Instant::now();
    let handle = runtime.spawn(
        spec,
        moneta_processors::copy::Copy::new(output),
        ledger,
        tokio.handle().clone(),
    )?;
    let timing = wait_for(&progress, settings, || handle.is_finished(), started);
    runtime.shutdown.request();
    let joined = handle
        .join()
        .map_err(|_| anyhow!("the {PROCESSOR} thread panicked"))?;
    let seconds = started.elapsed().as_secs_f64();
    joined.context("the processor failed")?;
    let (startup, processed) = timing?;
    Ok(Copied {
        seconds,
        startup: startup.as_secs_f64(),
        processed: processed.as_secs_f64(),
        records_in: progress.records_in.get(),
        records_out: progress.records_out.get(),
        committed: progress.committed.get(),
        aborted: progress.aborted.get(),
        commit_retries: progress.commit_retries.get(),
        recreated: progress.recreated.get(),
        commits: None,
    })
}

/// The JSON `id` of a copied record's value.
fn json_id(payload: Option<&[u8]>) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(payload?).ok()?;
    value.get("id")?.as_str().map(str::to_owned)
}

/// Waits until `records` inputs were processed; returns the time to the
/// first and to the last, measured from `started`.
fn wait_for(
    progress: &ProcessorMetrics,
    settings: &Settings,
    finished: impl Fn() -> bool,
    started: Instant,
) -> anyhow::Result<(Duration, Duration)> {
    let target = settings.records as u64;
    let mut first = None;
    let mut next_report = REPORT_EVERY;
    loop {
        let done = progress.records_in.get();
        let now = started.elapsed();
        if first.is_none() && done > 0 {
            first = Some(now);
        }
        if done >= target {
            return Ok((first.unwrap_or(now), now));
        }
        if finished() {
            bail!("the processor stopped after {done} of {target} records");
        }
        if now > settings.timeout {
            bail!("timed out after {now:?} with {done} of {target} records processed");
        }
        if now >= next_report {
            eprintln!(
                "  {:>5.1}s: {done}/{target} processed, {} batches committed, {} aborted",
                now.as_secs_f64(),
                progress.committed.get(),
                progress.aborted.get()
            );
            next_report += REPORT_EVERY;
        }
        std::thread::sleep(SAMPLE);
    }
}

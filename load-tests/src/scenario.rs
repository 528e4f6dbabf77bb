//! One benchmark scenario: a processor under one guarantee on one broker.
//!
//! It pre-produces the input (timed: the produce-only reference), runs the
//! processor from a cold start until every input record is processed and
//! committed (timed: the figure of merit), stops it, then reads the output
//! back to check that every id made it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, anyhow, bail};
use moneta_connectors::kafka::KafkaConfig;
use moneta_runtime::{
    Guarantee, ProcessingConfig, ProcessorMetrics, ProcessorSpec, Runtime, RuntimeMetrics, Shutdown,
};
use moneta_testkit::{kafka, unique};
use serde::Serialize;

use crate::broker::Broker;
use crate::verify::{count_ids, judge};

/// Name of the benchmarked processor: its metrics label and consumer group.
const PROCESSOR: &str = "copy";
/// How often progress is sampled.
const SAMPLE: Duration = Duration::from_millis(10);
/// How often progress is printed.
const REPORT_EVERY: Duration = Duration::from_secs(5);
/// How long reading the output back waits for a record before giving up.
const READ_IDLE: Duration = Duration::from_secs(20);

/// What every scenario of a run shares.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Input records.
    pub records: usize,
    /// Partitions of each topic.
    pub partitions: i32,
    /// A scenario that has not finished after this long fails.
    pub timeout: Duration,
    /// Batching and timeouts (the guarantee is set per scenario).
    pub processing: ProcessingConfig,
}

/// The measured figures of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// `at_least_once` or `exactly_once`.
    pub guarantee: Guarantee,
    /// Broker name and version.
    pub broker: String,
    /// From start until every input was processed and committed, and the
    /// processor stopped.
    pub seconds: f64,
    /// Input records divided by `seconds`.
    pub records_per_sec: f64,
    /// From start until the first input record was processed (group join,
    /// producer init).
    pub startup_seconds: f64,
    /// From start until the last input record was processed (not yet committed).
    pub processed_seconds: f64,
    /// Input records divided by the time after the first record was processed.
    pub steady_records_per_sec: f64,
    /// Time to produce the input records with an idempotent producer.
    pub produce_seconds: f64,
    /// Input records divided by `produce_seconds`.
    pub produce_records_per_sec: f64,
    /// Input records the processor counted (redone batches count again).
    pub records_in: u64,
    /// Output records the processor sent (redone batches count again).
    pub records_out: u64,
    /// Records read back from the output topic (read-committed).
    pub outputs_read: usize,
    /// Distinct expected ids among them.
    pub unique_ids: usize,
    /// Expected ids not read back.
    pub missing: usize,
    /// Records read back beyond the first of each id.
    pub duplicates: usize,
    /// Batches (transactions) committed.
    pub batches_committed: u64,
    /// Batches (transactions) aborted and redone.
    pub batches_aborted: u64,
    /// Retriable commit errors retried.
    pub commit_retries: u64,
    /// Producers recreated after fatal errors.
    pub producers_recreated: u64,
    /// Warning and error lines in the broker's own log (tansu only).
    pub broker_log_problems: usize,
    /// Whether every id was read back exactly as the guarantee requires.
    pub verified: bool,
    /// How to read `duplicates` and `verified` for this broker.
    pub note: String,
}

/// Runs the `copy` processor under `guarantee` on `broker`.
pub fn run_copy(
    broker: &Broker,
    guarantee: Guarantee,
    settings: &Settings,
    tokio: &tokio::runtime::Runtime,
) -> anyhow::Result<Measurement> {
    let bootstrap = broker.bootstrap_servers();
    let (input, output, dlq) = (unique("bench-in"), unique("bench-out"), unique("bench-dlq"));
    broker.create_topics(tokio, &[&input, &output, &dlq], settings.partitions)?;

    let ids: Vec<String> = (1..=settings.records)
        .map(|i| format!("r-{i:06}"))
        .collect();
    eprintln!("[{guarantee}] producing {} records to {input}", ids.len());
    let produce_start = Instant::now();
    kafka::produce_ids(&bootstrap, &input, ids.iter().cloned()).context("producing the input")?;
    let produce_seconds = produce_start.elapsed().as_secs_f64();

    let state = tempfile::tempdir()?;
    let ledger = Arc::new(moneta_state::EffectLedger::open(
        &state.path().join("state"),
    )?);
    let registry = prometheus::Registry::new();
    let metrics = RuntimeMetrics::new(&registry)?;
    let runtime = Runtime {
        kafka: KafkaConfig {
            bootstrap_servers: bootstrap.clone(),
            ..Default::default()
        },
        processing: ProcessingConfig {
            guarantee,
            ..settings.processing.clone()
        },
        metrics: metrics.clone(),
        shutdown: Shutdown::new(),
    };
    let spec = ProcessorSpec {
        name: PROCESSOR.into(),
        inputs: vec![input.clone()],
        dead_letter_topic: dlq,
        instance: 0,
    };
    let progress = metrics.processor(PROCESSOR);

    eprintln!("[{guarantee}] running {PROCESSOR} on {}", broker.label());
    let started = Instant::now();
    let handle = runtime.spawn(
        spec,
        moneta_processors::copy::Copy::new(&output),
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

    let records_out = progress.records_out.get();
    let read = kafka::read_topic(
        &bootstrap,
        &output,
        usize::try_from(records_out)?,
        READ_IDLE,
    )
    .context("reading the output back")?;
    let counts = count_ids(&ids, read.iter().filter_map(kafka::id_of));
    let records = settings.records as f64;
    let (verified, note) = judge(guarantee, &counts);
    Ok(Measurement {
        guarantee,
        broker: broker.label(),
        seconds,
        records_per_sec: records / seconds,
        startup_seconds: startup.as_secs_f64(),
        processed_seconds: processed.as_secs_f64(),
        steady_records_per_sec: records / (seconds - startup.as_secs_f64()),
        produce_seconds,
        produce_records_per_sec: records / produce_seconds,
        records_in: progress.records_in.get(),
        records_out,
        outputs_read: read.len(),
        unique_ids: counts.unique,
        missing: counts.missing,
        duplicates: counts.duplicates,
        batches_committed: progress.committed.get(),
        batches_aborted: progress.aborted.get(),
        commit_retries: progress.commit_retries.get(),
        producers_recreated: progress.recreated.get(),
        broker_log_problems: broker.log_problems().len(),
        verified,
        note,
    })
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

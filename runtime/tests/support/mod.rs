//! Shared pieces of the runtime's integration tests: a small processor and
//! a handle on one running processor instance.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moneta_kafka::KafkaConfig;
use moneta_runtime::{
    Effect, Outcome, Output, ProcessError, ProcessingConfig, Processor, ProcessorMetrics,
    ProcessorSpec, Record, Rejection, Runtime, RuntimeError, RuntimeMetrics, Shutdown,
};
use moneta_state::EffectLedger;

/// Copies `{"id": …}` records to `output`, one effect per id.
pub struct Echo {
    pub output: String,
}

impl Processor for Echo {
    type Input = String;

    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<String, ProcessError>> + Send + 'static {
        std::future::ready(echo_id(record).map_err(ProcessError::from))
    }

    async fn process(&mut self, id: String, record: &Record) -> Result<Outcome, ProcessError> {
        Ok(Outcome {
            outputs: vec![Output {
                topic: self.output.clone(),
                key: Some(id.clone().into_bytes()),
                payload: record.payload.clone(),
                headers: vec![],
            }],
            effects: vec![Effect {
                id: format!("echo:{id}"),
                value: vec![],
            }],
        })
    }
}

/// The `id` field of an echoed record's JSON value.
pub fn echo_id(record: &Record) -> Result<String, Rejection> {
    {
        let value: serde_json::Value =
            serde_json::from_slice(record.payload.as_deref().unwrap_or_default())
                .map_err(|e| Rejection::new("invalid_json", e.to_string()))?;
        value
            .get("id")
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| Rejection::new("missing_id", "no string field `id`"))
    }
}

/// [`Echo`] that stops in the middle of record number `after` (1-based)
/// until `release` is set, like an instance that stalls (a long GC pause,
/// a frozen VM) with a transaction open; `stalled` tells when it has.
pub struct Stalling {
    pub echo: Echo,
    pub after: usize,
    pub seen: usize,
    pub stalled: Arc<AtomicBool>,
    pub release: Arc<AtomicBool>,
}

impl Processor for Stalling {
    type Input = String;

    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<String, ProcessError>> + Send + 'static {
        self.echo.decode(record)
    }

    async fn process(&mut self, id: String, record: &Record) -> Result<Outcome, ProcessError> {
        self.seen += 1;
        if self.seen == self.after {
            self.stalled.store(true, Ordering::Release);
            while !self.release.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.echo.process(id, record).await
    }
}

/// Topic names of one test.
pub struct Topics {
    pub input: String,
    pub output: String,
    pub dlq: String,
}

impl Topics {
    pub fn unique() -> Self {
        Self {
            input: moneta_testkit::unique("in"),
            output: moneta_testkit::unique("out"),
            dlq: moneta_testkit::unique("dlq"),
        }
    }

    pub fn all(&self) -> [&str; 3] {
        [&self.input, &self.output, &self.dlq]
    }
}

/// One processor instance running on its own thread.
pub struct Running {
    pub runtime: Runtime,
    pub metrics: ProcessorMetrics,
    pub ledger: Arc<EffectLedger>,
    thread: Option<JoinHandle<Result<(), RuntimeError>>>,
    _state: tempfile::TempDir,
}

/// Starts `Echo` from `topics.input` to `topics.output`.
pub fn start(
    tokio: &tokio::runtime::Runtime,
    bootstrap: &str,
    processing: ProcessingConfig,
    topics: &Topics,
) -> anyhow::Result<Running> {
    let echo = Echo {
        output: topics.output.clone(),
    };
    start_with(tokio, bootstrap, processing, topics, echo)
}

/// Logs of the runtime (and librdkafka) go to the test's captured output,
/// shown when a test fails; `RUST_LOG` filters them (default `info`).
pub fn log_to_test_output() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Starts `processor` as instance 0 of `echo` on `topics.input`.
pub fn start_with<P: Processor>(
    tokio: &tokio::runtime::Runtime,
    bootstrap: &str,
    processing: ProcessingConfig,
    topics: &Topics,
    processor: P,
) -> anyhow::Result<Running> {
    log_to_test_output();
    let registry = prometheus::Registry::new();
    let mut kafka = KafkaConfig {
        bootstrap_servers: bootstrap.to_owned(),
        ..KafkaConfig::default()
    };
    // librdkafka's debug contexts (e.g. `eos,cgrp`), to see why a run stalls.
    if let Ok(debug) = std::env::var("MONETA_TEST_RDKAFKA_DEBUG") {
        kafka.client.insert("debug".into(), debug);
    }
    let runtime = Runtime {
        kafka,
        processing,
        metrics: RuntimeMetrics::new(&registry)?,
        shutdown: Shutdown::new(),
    };
    let state = tempfile::tempdir()?;
    let ledger = Arc::new(EffectLedger::open(state.path())?);
    let spec = ProcessorSpec {
        name: "echo".into(),
        inputs: vec![topics.input.clone()],
        dead_letter_topic: topics.dlq.clone(),
        instance: 0,
    };
    let thread = runtime.spawn(spec, processor, Arc::clone(&ledger), tokio.handle().clone())?;
    Ok(Running {
        metrics: runtime.metrics.processor("echo"),
        runtime,
        ledger,
        thread: Some(thread),
        _state: state,
    })
}

impl Running {
    /// Waits until `done` holds, failing (not hanging) after `limit` or if the processor stops.
    pub fn wait_for(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&ProcessorMetrics, &EffectLedger) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(&self.metrics, &self.ledger) {
                return Ok(());
            }
            if self.thread.as_ref().is_some_and(|t| t.is_finished()) {
                match self.stop() {
                    Err(error) => anyhow::bail!("processor stopped before {what}: {error}"),
                    Ok(()) => anyhow::bail!("processor stopped before {what}"),
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        anyhow::bail!(
            "timed out waiting for {what}: in={} out={} committed={} aborted={}",
            self.metrics.records_in.get(),
            self.metrics.records_out.get(),
            self.metrics.committed.get(),
            self.metrics.aborted.get()
        )
    }

    /// Whether the processor thread has ended (failed or stopped).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Asks the processor to stop and returns how it ended.
    pub fn stop(&mut self) -> Result<(), RuntimeError> {
        self.runtime.shutdown.request();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(RuntimeError::Thread("panicked".into()))),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// `n` ids `prefix-000000`…
pub fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:06}")).collect()
}

/// Processing settings for tests: short commit interval and session
/// timeout, and an application id of the test's own, so tests sharing a
/// broker never share a group or a transactional id.
pub fn processing(guarantee: moneta_runtime::Guarantee) -> ProcessingConfig {
    ProcessingConfig {
        guarantee,
        application_id: moneta_testkit::unique("app"),
        commit_interval_ms: 50,
        session_timeout_ms: 3_000,
        ..ProcessingConfig::default()
    }
}

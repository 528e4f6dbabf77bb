//! The runtime's Prometheus metrics, labelled by processor.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Every metric the runtime keeps, registered once per process.
#[derive(Clone)]
pub struct RuntimeMetrics {
    records_in: IntCounterVec,
    records_out: IntCounterVec,
    written: IntCounterVec,
    dead_lettered: IntCounterVec,
    batches: IntCounterVec,
    commit_retries: IntCounterVec,
    producers_recreated: IntCounterVec,
    producers_fenced: IntCounterVec,
    effects: IntCounterVec,
    latency: HistogramVec,
    end_to_end: HistogramVec,
    commit_steps: HistogramVec,
    lag: IntGaugeVec,
}

fn counter(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> prometheus::Result<IntCounterVec> {
    let vec = IntCounterVec::new(Opts::new(name, help), labels)?;
    registry.register(Box::new(vec.clone()))?;
    Ok(vec)
}

impl RuntimeMetrics {
    /// Registers the runtime's metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "moneta_processing_seconds",
                "Time to decode and process one input record.",
            )
            .buckets(prometheus::exponential_buckets(0.000_05, 2.0, 16)?),
            &["processor"],
        )?;
        registry.register(Box::new(latency.clone()))?;
        let commit_steps = HistogramVec::new(
            HistogramOpts::new(
                "moneta_commit_step_seconds",
                "Time a batch's commit spends per step: `flush` (state writes made durable), `transaction` (outputs and offsets committed to Kafka).",
            )
            .buckets(prometheus::exponential_buckets(0.000_1, 2.0, 16)?),
            &["processor", "step"],
        )?;
        registry.register(Box::new(commit_steps.clone()))?;
        let end_to_end = HistogramVec::new(
            HistogramOpts::new(
                "moneta_end_to_end_seconds",
                "Time from the edge accepting an event to this processor processing it.",
            )
            .buckets(prometheus::exponential_buckets(0.001, 2.0, 16)?),
            &["processor"],
        )?;
        registry.register(Box::new(end_to_end.clone()))?;
        let lag = IntGaugeVec::new(
            Opts::new(
                "moneta_consumer_lag",
                "Records of an input partition the group has not committed yet (high watermark minus committed offset).",
            ),
            &["processor", "topic", "partition"],
        )?;
        registry.register(Box::new(lag.clone()))?;
        Ok(Self {
            records_in: counter(
                registry,
                "moneta_records_in_total",
                "Input records processed.",
                &["processor"],
            )?,
            records_out: counter(
                registry,
                "moneta_records_out_total",
                "Output records sent.",
                &["processor"],
            )?,
            written: counter(
                registry,
                "moneta_records_written_total",
                "Output records sent, by topic (every one is a topic the stage declares: `moneta describe`).",
                &["processor", "topic"],
            )?,
            dead_lettered: counter(
                registry,
                "moneta_records_dead_lettered_total",
                "Input records sent to the dead-letter topic, by error code.",
                &["processor", "code"],
            )?,
            batches: counter(
                registry,
                "moneta_batches_total",
                "Batches (transactions under exactly_once) by outcome: committed or aborted.",
                &["processor", "outcome"],
            )?,
            commit_retries: counter(
                registry,
                "moneta_commit_retries_total",
                "Retriable commit errors that were retried.",
                &["processor"],
            )?,
            producers_recreated: counter(
                registry,
                "moneta_producers_recreated_total",
                "Producers replaced after a fatal error (fenced, …).",
                &["processor"],
            )?,
            producers_fenced: counter(
                registry,
                "moneta_producers_fenced_total",
                "Producers fenced: a transaction outlived transaction_timeout_ms (a stall), or an instance with the same identity started.",
                &["processor"],
            )?,
            effects: counter(
                registry,
                "moneta_effects_total",
                "Effects by result: applied (first time) or duplicate (skipped).",
                &["processor", "result"],
            )?,
            latency,
            end_to_end,
            commit_steps,
            lag,
        })
    }

    /// The metric handles of one processor.
    pub fn processor(&self, name: &str) -> ProcessorMetrics {
        ProcessorMetrics {
            metrics: self.clone(),
            records_in: self.records_in.with_label_values(&[name]),
            records_out: self.records_out.with_label_values(&[name]),
            committed: self.batches.with_label_values(&[name, "committed"]),
            aborted: self.batches.with_label_values(&[name, "aborted"]),
            commit_retries: self.commit_retries.with_label_values(&[name]),
            recreated: self.producers_recreated.with_label_values(&[name]),
            fenced: self.producers_fenced.with_label_values(&[name]),
            applied: self.effects.with_label_values(&[name, "applied"]),
            duplicates: self.effects.with_label_values(&[name, "duplicate"]),
            latency: self.latency.with_label_values(&[name]),
            end_to_end: self.end_to_end.with_label_values(&[name]),
            flush: self.commit_steps.with_label_values(&[name, "flush"]),
            transaction: self.commit_steps.with_label_values(&[name, "transaction"]),
            name: name.to_owned(),
        }
    }
}

/// Metric handles bound to one processor's name.
#[derive(Clone)]
pub struct ProcessorMetrics {
    metrics: RuntimeMetrics,
    name: String,
    /// Input records processed.
    pub records_in: IntCounter,
    /// Output records sent.
    pub records_out: IntCounter,
    /// Batches committed.
    pub committed: IntCounter,
    /// Batches aborted (and redone).
    pub aborted: IntCounter,
    /// Retriable commit errors retried.
    pub commit_retries: IntCounter,
    /// Producers recreated after fatal errors.
    pub recreated: IntCounter,
    /// Producers fenced.
    pub fenced: IntCounter,
    /// Effects applied for the first time.
    pub applied: IntCounter,
    /// Effects recognised as already applied.
    pub duplicates: IntCounter,
    /// Processing time per record.
    pub latency: prometheus::Histogram,
    /// Time since the edge accepted the record's event.
    pub end_to_end: prometheus::Histogram,
    /// Time to make a batch's state writes durable.
    pub flush: prometheus::Histogram,
    /// Time to commit a batch's Kafka transaction.
    pub transaction: prometheus::Histogram,
}

impl ProcessorMetrics {
    /// Counts one dead-lettered record with its error code.
    pub fn dead_lettered(&self, code: &str) {
        self.metrics
            .dead_lettered
            .with_label_values(&[self.name.as_str(), code])
            .inc();
    }

    /// Counts one output record sent to `topic`.
    pub fn sent(&self, topic: &str) {
        self.records_out.inc();
        self.metrics
            .written
            .with_label_values(&[self.name.as_str(), topic])
            .inc();
    }

    /// Sets the group's lag on one input partition.
    pub fn set_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.metrics
            .lag
            .with_label_values(&[self.name.as_str(), topic, &partition.to_string()])
            .set(lag);
    }

    /// Dead-lettered records with this code so far.
    pub fn dead_lettered_count(&self, code: &str) -> u64 {
        self.metrics
            .dead_lettered
            .with_label_values(&[self.name.as_str(), code])
            .get()
    }
}

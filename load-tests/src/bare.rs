//! `bare_transactional`: the ceiling Kafka and librdkafka give on this
//! machine for a transactional copy, written directly against rdkafka.
//!
//! A `read_committed` consumer in a consumer group (cooperative-sticky, as
//! the runtime's) feeds a transactional producer; every record goes
//! unchanged (key, value, headers) to the output topic; the consumed
//! offsets go into the transaction (`send_offsets_to_transaction`), which
//! commits every `max_batch_records` records or `commit_interval_ms` after
//! the batch's first record, the runtime's defaults. Nothing else: no
//! effect ledger, no `Processor` trait, no decoding, no error recovery (any
//! broker error fails the run). What the runtime's `copy` reaches is
//! reported as a share of this.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use moneta_kafka::KafkaConfig;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

/// Name of the scenario in results.
pub const NAME: &str = "bare_transactional";
/// Timeout of one blocking transactional call.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a single consumer poll waits.
const MAX_POLL_WAIT: Duration = Duration::from_millis(100);
/// How often progress is printed.
const REPORT_EVERY: Duration = Duration::from_secs(5);

/// What the loop copies and how it commits.
#[derive(Debug, Clone)]
pub struct Job {
    /// Topics consumed.
    pub inputs: Vec<String>,
    /// Topic every record is copied to.
    pub output: String,
    /// Records to copy; the loop stops once it has copied and committed them.
    pub records: u64,
    /// A transaction commits once it holds this many input records…
    pub max_batch_records: usize,
    /// …or this long after its first record.
    pub commit_interval: Duration,
    /// The run fails after this long.
    pub timeout: Duration,
    /// Call `commit_transaction` with outputs still in flight, as the
    /// runtime does, instead of first waiting for their delivery reports.
    /// rdkafka 0.39's `commit_transaction` flushes by polling in steps of
    /// 100 ms that always run to their end, so each commit with anything in
    /// flight costs at least 100 ms; waiting first makes its flush a no-op.
    pub plain_commit: bool,
    /// Extra librdkafka settings of the consumer (they win over the loop's).
    pub consumer: BTreeMap<String, String>,
    /// Extra librdkafka settings of the producer (they win over the loop's).
    pub producer: BTreeMap<String, String>,
}

/// What one run of the loop measured.
#[derive(Debug, Clone, Copy, Default)]
pub struct Run {
    /// Start (clients created) → every record copied and committed, the
    /// consumer closed, s.
    pub seconds: f64,
    /// Start → first record consumed, s (client set-up, `init_transactions`,
    /// group join, first fetch).
    pub startup_seconds: f64,
    /// Start → last record consumed (not yet committed), s.
    pub processed_seconds: f64,
    /// Records consumed.
    pub records_in: u64,
    /// Records sent.
    pub records_out: u64,
    /// Transactions committed.
    pub transactions: u64,
    /// Time committing: waiting for deliveries, `send_offsets_to_transaction`
    /// and `commit_transaction`, s.
    pub commit_seconds: f64,
    /// Of which waiting for the delivery reports of the transaction's outputs, s.
    pub delivery_wait_seconds: f64,
    /// Of which in `send_offsets_to_transaction`, s.
    pub send_offsets_seconds: f64,
}

/// Runs the loop until `job.records` records are copied and committed.
pub fn copy(bootstrap: &str, job: &Job) -> anyhow::Result<Run> {
    let started = Instant::now();
    let consumer: BaseConsumer = with(consumer_config(bootstrap), &job.consumer)
        .create()
        .context("creating the consumer")?;
    let producer: ThreadedProducer<DefaultProducerContext> =
        with(producer_config(bootstrap), &job.producer)
            .create()
            .context("creating the transactional producer")?;
    producer
        .init_transactions(OPERATION_TIMEOUT)
        .context("init_transactions")?;
    let topics: Vec<&str> = job.inputs.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).context("subscribing")?;

    let mut run = Run::default();
    let mut batch = Batch::default();
    let mut first = None;
    let mut next_report = REPORT_EVERY;
    while run.records_in < job.records {
        let now = started.elapsed();
        if now > job.timeout {
            bail!(
                "{NAME}: timed out after {now:?} with {} of {} records copied",
                run.records_in,
                job.records
            );
        }
        if now >= next_report {
            eprintln!(
                "  {:>5.1}s: {}/{} copied, {} transactions committed",
                now.as_secs_f64(),
                run.records_in,
                job.records,
                run.transactions
            );
            next_report += REPORT_EVERY;
        }
        let wait = batch
            .started
            .map_or(job.commit_interval, |t| {
                job.commit_interval.saturating_sub(t.elapsed())
            })
            .min(MAX_POLL_WAIT);
        match consumer.poll(wait) {
            Some(Ok(message)) => {
                first.get_or_insert_with(|| started.elapsed());
                if batch.started.is_none() {
                    producer.begin_transaction().context("begin_transaction")?;
                    batch.started = Some(Instant::now());
                }
                send(&producer, &job.output, &message)?;
                batch.track(&message);
                run.records_in += 1;
                run.records_out += 1;
            }
            Some(Err(error)) => eprintln!("  {NAME}: consumer error: {error}"),
            None => {}
        }
        let due = batch.records >= job.max_batch_records
            || batch
                .started
                .is_some_and(|t| t.elapsed() >= job.commit_interval);
        if due || (run.records_in >= job.records && batch.records > 0) {
            let commit_started = Instant::now();
            if !job.plain_commit {
                wait_delivered(&producer)?;
            }
            let delivered = Instant::now();
            batch.send_offsets(&consumer, &producer)?;
            let offsets_sent = Instant::now();
            batch.commit(&producer)?;
            run.delivery_wait_seconds += (delivered - commit_started).as_secs_f64();
            run.send_offsets_seconds += (offsets_sent - delivered).as_secs_f64();
            run.commit_seconds += commit_started.elapsed().as_secs_f64();
            run.transactions += 1;
        }
    }
    run.processed_seconds = started.elapsed().as_secs_f64();
    // Leave the group as the runtime does when it stops.
    consumer.unsubscribe();
    drop(consumer);
    drop(producer);
    run.seconds = started.elapsed().as_secs_f64();
    run.startup_seconds = first.map_or(0.0, |d| d.as_secs_f64());
    Ok(run)
}

/// `config` with `extra` set over it.
fn with(mut config: ClientConfig, extra: &BTreeMap<String, String>) -> ClientConfig {
    for (key, value) in extra {
        config.set(key, value);
    }
    config
}

/// The consumer: a group member as the runtime's is one, `read_committed`.
fn consumer_config(bootstrap: &str) -> ClientConfig {
    KafkaConfig::new(bootstrap).member_config(&moneta_testkit::unique("bare-copy"))
}

/// The producer: the runtime's (idempotent, `acks=all`), transactional.
fn producer_config(bootstrap: &str) -> ClientConfig {
    let id = moneta_testkit::unique("bare-copy");
    let mut config = KafkaConfig::new(bootstrap).producer_config(&id);
    config
        .set("transactional.id", &id)
        .set("transaction.timeout.ms", "60000");
    config
}

/// Enqueues a copy of `message`, waiting while the local queue is full.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    output: &str,
    message: &BorrowedMessage<'_>,
) -> anyhow::Result<()> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(output);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    if let Some(headers) = message.headers() {
        let copied = headers.iter().fold(
            OwnedHeaders::new_with_capacity(headers.count()),
            |h, header| {
                h.insert(Header {
                    key: header.key,
                    value: header.value,
                })
            },
        );
        record = record.headers(copied);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((error, _)) => return Err(error).context("producing"),
        }
    }
}

/// The open transaction: its records and the offsets to commit with it.
#[derive(Debug, Default)]
struct Batch {
    started: Option<Instant>,
    records: usize,
    /// Next offset to consume, per (topic, partition).
    offsets: BTreeMap<(String, i32), i64>,
}

impl Batch {
    fn track(&mut self, message: &BorrowedMessage<'_>) {
        self.records += 1;
        self.offsets.insert(
            (message.topic().to_owned(), message.partition()),
            message.offset() + 1,
        );
    }

    /// Sends the batch's offsets into the transaction.
    fn send_offsets(
        &self,
        consumer: &BaseConsumer,
        producer: &ThreadedProducer<DefaultProducerContext>,
    ) -> anyhow::Result<()> {
        let mut offsets = TopicPartitionList::new();
        for ((topic, partition), next) in &self.offsets {
            offsets.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        let group = consumer
            .group_metadata()
            .context("the consumer has no group metadata")?;
        producer
            .send_offsets_to_transaction(&offsets, &group, OPERATION_TIMEOUT)
            .context("send_offsets_to_transaction")
    }

    /// Commits the transaction.
    fn commit(
        &mut self,
        producer: &ThreadedProducer<DefaultProducerContext>,
    ) -> anyhow::Result<()> {
        producer
            .commit_transaction(OPERATION_TIMEOUT)
            .context("commit_transaction")?;
        *self = Self::default();
        Ok(())
    }
}

/// Waits until every message sent has its delivery report (the
/// `ThreadedProducer`'s thread serves them), checking every 100 µs.
fn wait_delivered(producer: &ThreadedProducer<DefaultProducerContext>) -> anyhow::Result<()> {
    let deadline = Instant::now() + OPERATION_TIMEOUT;
    while producer.in_flight_count() > 0 {
        if Instant::now() > deadline {
            bail!(
                "{} messages still in flight after {OPERATION_TIMEOUT:?}",
                producer.in_flight_count()
            );
        }
        std::thread::sleep(Duration::from_micros(100));
    }
    Ok(())
}

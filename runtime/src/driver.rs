//! The processing loop of one processor instance.
//!
//! It runs on a dedicated OS thread, never on an async worker: every
//! blocking librdkafka call (poll, transactional calls, flush) happens there.
//! Each step takes what one poll returns (up to `max_poll_records`), starts
//! the records' decodes at once (on the decode threads, one per core, where
//! the processor asks for it), and drives the processor over them in order with
//! one `block_on`. The consumer's rebalance hook commits (or aborts) the
//! open batch before partitions are released.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use moneta_kafka::{INGESTED_AT_HEADER, KafkaConfig, probe_apis};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::{ClientContext, Offset};
use tokio::runtime::Handle;

use crate::batch::{Batch, RewindPoint};
use crate::clients;
use crate::config::{Guarantee, ProcessingConfig};
use crate::dead_letter::dead_letter;
use crate::error::RuntimeError;
use crate::lag::LagMonitor;
use crate::metrics::{ProcessorMetrics, RuntimeMetrics};
use crate::processor::{Outcome, Output, ProcessError, Processor, Record, Rejection};
use crate::protocol::{AtLeastOnce, CommitProtocol, ExactlyOnce, Failure};
use crate::shutdown::Shutdown;
use crate::spec::ProcessorSpec;
use crate::stores::Stores;
use crate::stream_time::{self, StreamTimes};

/// Longest a single consumer poll waits, so stop requests are seen quickly.
const MAX_POLL_WAIT: Duration = Duration::from_millis(100);
/// Longest pause between transient-failure retries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Fenced this often within [`TWIN_WINDOW`], an instance concludes that
/// another running instance has its identity, and stops. Fenced once, it
/// recreates its producer: a transaction that outlived its timeout (a stall)
/// fences its producer the same way.
const TWIN_FENCINGS: usize = 3;
/// See [`TWIN_FENCINGS`].
const TWIN_WINDOW: Duration = Duration::from_secs(120);
/// Headers copied from each input to its outputs: W3C trace context and
/// the edge's acceptance time.
const PROPAGATED_HEADERS: [&str; 3] = ["traceparent", "tracestate", INGESTED_AT_HEADER];

/// Everything a processor instance needs besides its business logic.
#[derive(Clone)]
pub struct Runtime {
    /// Broker settings.
    pub kafka: KafkaConfig,
    /// Guarantee, batching and timeouts.
    pub processing: ProcessingConfig,
    /// Where metrics go.
    pub metrics: RuntimeMetrics,
    /// The process-wide stop request.
    pub shutdown: Shutdown,
}

impl Runtime {
    /// Runs `processor` on its own thread until a stop is requested or it fails.
    pub fn spawn<P: Processor>(
        &self,
        spec: ProcessorSpec,
        processor: P,
        stores: impl Into<Stores>,
        handle: Handle,
    ) -> Result<JoinHandle<Result<(), RuntimeError>>, RuntimeError> {
        let runtime = self.clone();
        let stores = stores.into();
        std::thread::Builder::new()
            .name(format!("{}-{}", spec.name, spec.instance))
            .spawn(move || {
                crate::priority::lower_this_thread(runtime.processing.thread_niceness);
                runtime.run(&spec, processor, stores, &handle)
            })
            .map_err(|e| RuntimeError::Thread(e.to_string()))
    }

    /// Runs `processor` on the calling thread, which must not be an async
    /// worker, until a stop is requested or it fails.
    pub fn run<P: Processor>(
        &self,
        spec: &ProcessorSpec,
        mut processor: P,
        stores: impl Into<Stores>,
        handle: &Handle,
    ) -> Result<(), RuntimeError> {
        let protocol = self.protocol(spec)?;
        let engine = Arc::new(Mutex::new(Engine {
            protocol,
            batch: Batch::default(),
            stores: stores.into(),
            handle: handle.clone(),
            metrics: self.metrics.processor(&spec.name),
            processing: self.processing.clone(),
            shutdown: self.shutdown.clone(),
            fencings: Vec::new(),
            spec: spec.clone(),
            stream_times: StreamTimes::default(),
            revoked: Vec::new(),
            redo_after_revoke: Vec::new(),
            retrying: None,
        }));
        let hooks = Hooks {
            engine: Arc::clone(&engine),
        };
        let consumer: BaseConsumer<Hooks> = clients::consumer(&self.kafka, &self.processing, spec)
            .create_with_context(hooks)
            .map_err(RuntimeError::client("consumer"))?;
        self.attach(&consumer, spec)?;
        tracing::info!(
            processor = %spec.name,
            instance = spec.instance,
            guarantee = %self.processing.guarantee,
            inputs = ?spec.inputs,
            "processor started"
        );

        let _lag = LagMonitor::start(
            &self.kafka,
            &self.processing,
            spec,
            self.metrics.processor(&spec.name),
        );
        let mut step = || -> Result<(), RuntimeError> {
            let records = self.poll(&consumer, &engine, spec)?;
            let mut engine = lock(&engine);
            let mut outcome = Step::Continue;
            if let Some(points) = engine.settle_revocations(&records) {
                if !points.is_empty() {
                    outcome = Step::Redo(points);
                }
            } else if !records.is_empty() {
                outcome = engine.handle(&mut processor, records, &consumer)?;
            }
            let due = engine.batch.due(
                self.processing.max_batch_records,
                self.processing.commit_interval(),
            );
            if matches!(outcome, Step::Continue) && due {
                outcome = engine.commit(&consumer)?;
            }
            drop(engine);
            if let Step::Redo(points) = outcome {
                rewind(&consumer, &points, self.processing.operation_timeout())?;
            }
            Ok(())
        };
        while !self.shutdown.requested() {
            if let Err(error) = step() {
                // Nothing of the open batch may commit on the way out (the
                // consumer's close revokes its partitions): its next owner
                // redoes it.
                lock(&engine).batch.clear();
                return Err(error);
            }
        }

        let last = lock(&engine).commit(&consumer)?;
        if let Step::Redo(_) = last {
            tracing::warn!(processor = %spec.name, "last batch aborted at stop; it is redone on restart");
        }
        consumer.unsubscribe();
        drop(consumer);
        tracing::info!(processor = %spec.name, instance = spec.instance, "processor stopped");
        Ok(())
    }

    /// What one poll returns: waits for a first record (no longer than the
    /// open batch may stay open), then takes those already fetched, up to
    /// `max_poll_records` and the room left in the batch. Each is tracked in
    /// the batch as it arrives, so a commit the rebalance hook makes
    /// meanwhile never passes over it.
    fn poll(
        &self,
        consumer: &BaseConsumer<Hooks>,
        engine: &Mutex<Engine>,
        spec: &ProcessorSpec,
    ) -> Result<Vec<Record>, RuntimeError> {
        let (mut wait, room) = {
            let engine = lock(engine);
            let wait = engine
                .batch
                .time_left(self.processing.commit_interval())
                .min(MAX_POLL_WAIT);
            let room = self
                .processing
                .max_batch_records
                .saturating_sub(engine.batch.len())
                .min(self.processing.max_poll_records)
                .max(1);
            (wait, room)
        };
        let mut records = Vec::new();
        while records.len() < room {
            match consumer.poll(wait) {
                Some(Ok(message)) => {
                    let record = Record::from_message(&message);
                    lock(engine).batch.track(&record);
                    records.push(record);
                }
                Some(Err(error)) => {
                    lock(engine).check_membership(consumer)?;
                    tracing::warn!(processor = %spec.name, %error, "consumer error");
                    break;
                }
                None => break,
            }
            wait = Duration::ZERO;
        }
        Ok(records)
    }

    /// Joins the consumer group of the processor's inputs.
    fn attach(
        &self,
        consumer: &BaseConsumer<Hooks>,
        spec: &ProcessorSpec,
    ) -> Result<(), RuntimeError> {
        let topics: Vec<&str> = spec.inputs.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(RuntimeError::client("subscribe"))
    }

    fn protocol(
        &self,
        spec: &ProcessorSpec,
    ) -> Result<Box<dyn CommitProtocol<Hooks>>, RuntimeError> {
        let config = clients::producer(&self.kafka, &self.processing, spec);
        let timeout = self.processing.operation_timeout();
        Ok(match self.processing.guarantee {
            Guarantee::ExactlyOnce => {
                require_transactions(&self.kafka, timeout)?;
                Box::new(ExactlyOnce::new(config, timeout)?)
            }
            Guarantee::AtLeastOnce => Box::new(AtLeastOnce::new(config, timeout)?),
        })
    }
}

/// Fails fast, naming the broker and the missing APIs, when the broker
/// cannot run Kafka transactions.
///
/// The probe speaks plaintext Kafka; on a TLS or SASL listener it is skipped
/// and `init_transactions` is the check.
pub fn require_transactions(kafka: &KafkaConfig, timeout: Duration) -> Result<(), RuntimeError> {
    let protocol = kafka
        .client
        .get("security.protocol")
        .map_or("plaintext", String::as_str);
    if !protocol.eq_ignore_ascii_case("plaintext") {
        tracing::info!(%protocol, "skipping the plaintext transaction probe");
        return Ok(());
    }
    let apis = probe_apis(
        &kafka.bootstrap_servers,
        timeout.min(Duration::from_secs(10)),
    )?;
    let missing = apis.missing_transaction_apis();
    if missing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = missing
        .iter()
        .map(|api| format!("{} (API key {})", api.name(), *api as i16))
        .collect();
    Err(RuntimeError::NoTransactions {
        broker: apis.broker,
        missing: names.join(", "),
    })
}

/// Why the processing of a poll's records stopped before its end.
enum Stop {
    /// The record at this index failed transiently.
    Transient(usize, Box<dyn std::error::Error + Send + Sync>),
    /// Sending an output failed.
    Failed(Failure),
}

/// What the loop does after a step of the engine.
enum Step {
    /// Carry on.
    Continue,
    /// The batch was aborted: rewind these partitions and redo it.
    Redo(Vec<RewindPoint>),
}

/// The batch and the protocol that commits it, shared with the rebalance hook.
struct Engine {
    protocol: Box<dyn CommitProtocol<Hooks>>,
    batch: Batch,
    stores: Stores,
    /// Drives the state store's async flush from this thread.
    handle: Handle,
    metrics: ProcessorMetrics,
    processing: ProcessingConfig,
    shutdown: Shutdown,
    /// When the producer was fenced lately.
    fencings: Vec<Instant>,
    /// The instance this engine runs.
    spec: ProcessorSpec,
    /// Stream time of each partition it processes.
    stream_times: StreamTimes,
    /// Partitions the rebalance hook revoked since the last step.
    revoked: Vec<(String, i32)>,
    /// Where to rewind after the rebalance hook aborted the batch.
    redo_after_revoke: Vec<RewindPoint>,
    /// The record that failed transiently last, and the pause before its
    /// retry: doubled each time the same record fails again.
    retrying: Option<((String, i32, i64), Duration)>,
}

impl Engine {
    /// After a poll during which the rebalance hook revoked partitions:
    /// the hook committed (or aborted) the batch, so the records the poll
    /// returned are dropped, and the partitions this instance keeps are
    /// read again from where to redo them (`None`: no revocation, go on).
    fn settle_revocations(&mut self, records: &[Record]) -> Option<Vec<RewindPoint>> {
        let revoked = std::mem::take(&mut self.revoked);
        let mut points = std::mem::take(&mut self.redo_after_revoke);
        if revoked.is_empty() && points.is_empty() {
            return None;
        }
        points.extend(first_offsets(records));
        points.retain(|p| {
            !revoked
                .iter()
                .any(|(t, n)| *t == p.topic && *n == p.partition)
        });
        for point in &points {
            self.stream_times.forget(&point.topic, point.partition);
        }
        self.batch.clear();
        Some(earliest(points))
    }

    /// Processes the records of one poll into the open batch: their
    /// decodes start at once, then `process` sees them in order, all in one
    /// `block_on`. A transient failure commits what came before it, pauses,
    /// and reads the rest again.
    fn handle<P: Processor>(
        &mut self,
        processor: &mut P,
        records: Vec<Record>,
        consumer: &BaseConsumer<Hooks>,
    ) -> Result<Step, RuntimeError> {
        let mut ready = Vec::with_capacity(records.len());
        for mut record in records {
            if !self.load_stream_time(&record, consumer) {
                return Ok(Step::Continue);
            }
            // Tracked in the batch when polled: a revoke since then drops
            // the poll before it gets here (`settle_revocations`).
            record.stream_time = self.stream_times.advance(&record);
            ready.push(Arc::new(record));
        }
        if let Err(failure) = self.protocol.begin() {
            return self.fail(failure, consumer);
        }
        let niceness = self.processing.thread_niceness;
        let decoders = (P::PARALLEL_DECODE && ready.len() > 1)
            .then(|| decoders(niceness))
            .flatten();
        let mut decodes: Vec<Decoding<_>> = ready
            .iter()
            .map(|record| {
                let decode = processor.decode(record);
                match decoders {
                    Some(decoders) => Decoding::Spawned(AbortOnDrop(decoders.spawn(decode))),
                    None => Decoding::Here(decode),
                }
            })
            .collect();
        let handle = self.handle.clone();
        let stopped = handle.block_on(async {
            for (index, (record, decoding)) in ready.iter().zip(decodes.drain(..)).enumerate() {
                let started = Instant::now();
                let result = match decoding.finish(record).await? {
                    Ok(input) => processor.process(input, record).await,
                    Err(error) => Err(error),
                };
                self.metrics
                    .latency
                    .observe(started.elapsed().as_secs_f64());
                if let Some(seconds) = since_ingest(record) {
                    self.metrics.end_to_end.observe(seconds);
                }
                let outcome = match result {
                    Ok(outcome) => outcome,
                    Err(ProcessError::Rejected(why)) => self.dead_letter(record, &why),
                    Err(ProcessError::Transient(error)) => {
                        return Ok(Some(Stop::Transient(index, error)));
                    }
                };
                for output in &outcome.outputs {
                    if let Err(failure) = self.protocol.send(&with_trace_context(record, output)) {
                        return Ok(Some(Stop::Failed(failure)));
                    }
                    self.metrics.sent(&output.topic);
                }
                self.batch.complete(record, outcome.effects);
                self.metrics.records_in.inc();
            }
            Ok::<_, RuntimeError>(None)
        })?;
        drop(decodes);
        match stopped {
            None => Ok(Step::Continue),
            Some(Stop::Failed(failure)) => self.fail(failure, consumer),
            Some(Stop::Transient(index, error)) => {
                let record = &ready[index];
                let backoff = self.backoff(record);
                tracing::warn!(
                    processor = %self.spec.name,
                    topic = %record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    %error,
                    backoff_ms = backoff.as_millis() as u64,
                    "transient failure; committing the batch so far, then retrying"
                );
                self.retry_from(&ready[index..], backoff, consumer)
            }
        }
    }

    /// Loads the stream time of `record`'s partition from the group if it
    /// is not known yet, retrying until it is read; false if a stop was
    /// requested meanwhile.
    fn load_stream_time(&mut self, record: &Record, consumer: &BaseConsumer<Hooks>) -> bool {
        let mut backoff = Duration::from_millis(self.processing.retry_backoff_ms);
        while self.stream_times.needs_load(record) {
            match committed_stream_time(consumer, record, self.processing.operation_timeout()) {
                Ok(committed) => self
                    .stream_times
                    .load(&record.topic, record.partition, committed),
                Err(error) => {
                    tracing::warn!(
                        processor = %self.spec.name,
                        topic = %record.topic,
                        partition = record.partition,
                        %error,
                        "stream time unreadable from the group; retrying"
                    );
                    if !pause(&self.shutdown, backoff) {
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        true
    }

    /// The outcome of a rejected record: its dead letter.
    fn dead_letter(&self, record: &Record, why: &Rejection) -> Outcome {
        tracing::warn!(
            processor = %self.spec.name,
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            code = %why.code,
            reason = %why.message,
            "record dead-lettered"
        );
        self.metrics.dead_lettered(&why.code);
        Outcome {
            outputs: vec![dead_letter(
                &self.spec.dead_letter_topic,
                &self.spec.name,
                record,
                why,
            )],
            effects: vec![],
        }
    }

    /// The pause before retrying `record` after a transient failure:
    /// `retry_backoff_ms`, doubled each time the same record fails again,
    /// up to [`MAX_BACKOFF`].
    fn backoff(&mut self, record: &Record) -> Duration {
        let at = (record.topic.clone(), record.partition, record.offset);
        let backoff = match &self.retrying {
            Some((last, backoff)) if *last == at => (*backoff * 2).min(MAX_BACKOFF),
            _ => Duration::from_millis(self.processing.retry_backoff_ms),
        };
        self.retrying = Some((at, backoff));
        backoff
    }

    /// After a transient failure on the first of `unprocessed`: commits the
    /// batch so far, pauses for `backoff`, and reads the unprocessed records
    /// again.
    fn retry_from(
        &mut self,
        unprocessed: &[Arc<Record>],
        backoff: Duration,
        consumer: &BaseConsumer<Hooks>,
    ) -> Result<Step, RuntimeError> {
        if let Step::Redo(points) = self.commit(consumer)? {
            return Ok(Step::Redo(points));
        }
        let points = first_offsets(unprocessed.iter().map(|r| &**r));
        for point in &points {
            self.stream_times.forget(&point.topic, point.partition);
        }
        if !pause(&self.shutdown, backoff) {
            return Ok(Step::Continue);
        }
        Ok(Step::Redo(points))
    }

    /// Makes the batch's state writes durable and applies its effects,
    /// then commits its outputs and offsets.
    fn commit(&mut self, consumer: &BaseConsumer<Hooks>) -> Result<Step, RuntimeError> {
        if self.batch.is_empty() {
            return Ok(Step::Continue);
        }
        if let Some(state) = &self.stores.state {
            let started = Instant::now();
            let flushed = self.handle.block_on(state.flush());
            self.metrics.flush.observe(started.elapsed().as_secs_f64());
            if let Err(error) = flushed {
                tracing::warn!(%error, "flushing the state store failed; redoing the batch");
                return self.abort();
            }
        }
        let applied = match &self.stores.ledger {
            Some(ledger) => ledger.apply(self.batch.effects()),
            None if self.batch.effects().is_empty() => Ok(Default::default()),
            None => {
                return Err(RuntimeError::Thread(format!(
                    "{} emitted effects but runs without an effect ledger",
                    self.spec.name
                )));
            }
        };
        match applied {
            Ok(applied) => {
                self.metrics.applied.inc_by(applied.new);
                self.metrics.duplicates.inc_by(applied.duplicates);
            }
            Err(error) => {
                tracing::warn!(%error, "applying effects failed; redoing the batch");
                return self.abort();
            }
        }
        let positions = consumer
            .position()
            .map(|p| p.to_topic_map())
            .unwrap_or_default();
        let offsets = self.batch.commit_offsets(|topic, partition| {
            match positions.get(&(topic.to_owned(), partition)) {
                Some(Offset::Offset(offset)) => Some(*offset),
                _ => None,
            }
        });
        let mut attempt = 0;
        let started = Instant::now();
        loop {
            match self.protocol.commit(consumer, &offsets) {
                Ok(()) => {
                    self.metrics
                        .transaction
                        .observe(started.elapsed().as_secs_f64());
                    self.metrics.committed.inc();
                    self.batch.clear();
                    return Ok(Step::Continue);
                }
                Err(Failure::Retriable(reason)) if attempt < self.processing.commit_retries => {
                    attempt += 1;
                    self.metrics.commit_retries.inc();
                    tracing::warn!(%reason, attempt, "retriable commit error; retrying");
                    std::thread::sleep(Duration::from_millis(50 << attempt.min(6)));
                }
                Err(failure) => return self.fail(failure, consumer),
            }
        }
    }

    /// Handles a failed broker call: recreate the producer if it is fatal,
    /// otherwise abort; either way the batch is redone. An instance that
    /// another one with its identity has taken over stops instead:
    /// recreating its producer would fence the instance that replaced it.
    fn fail(
        &mut self,
        failure: Failure,
        consumer: &BaseConsumer<Hooks>,
    ) -> Result<Step, RuntimeError> {
        if let Failure::Fenced(reason) = &failure {
            self.metrics.fenced.inc();
            let now = Instant::now();
            self.fencings
                .retain(|at| now.duration_since(*at) < TWIN_WINDOW);
            self.fencings.push(now);
            if self.fencings.len() >= TWIN_FENCINGS {
                return Err(self.fenced(format!(
                    "fenced {} times within {} s, last: {reason}",
                    self.fencings.len(),
                    TWIN_WINDOW.as_secs()
                )));
            }
        }
        match failure {
            Failure::Fatal(reason) | Failure::Fenced(reason) => {
                self.check_membership(consumer)?;
                tracing::warn!(%reason, "fatal producer error; recreating the producer and redoing the batch");
                self.recreate()?;
                Ok(self.take_redo())
            }
            other => {
                tracing::warn!(reason = %other.message(), "aborting the batch to redo it");
                self.abort()
            }
        }
    }

    /// Aborts the open batch and returns where to rewind.
    fn abort(&mut self) -> Result<Step, RuntimeError> {
        match self.protocol.abort() {
            Ok(()) => self.metrics.aborted.inc(),
            Err(failure) => {
                tracing::warn!(reason = %failure.message(), "abort failed; recreating the producer");
                self.recreate()?;
            }
        }
        Ok(self.take_redo())
    }

    /// Fails with [`RuntimeError::Fenced`] when the consumer has a fatal
    /// error: with static membership, another instance joined under this
    /// one's `group.instance.id` (`FENCED_INSTANCE_ID`).
    fn check_membership(&self, consumer: &BaseConsumer<Hooks>) -> Result<(), RuntimeError> {
        match consumer.client().fatal_error() {
            Some((_, reason)) => Err(self.fenced(reason)),
            None => Ok(()),
        }
    }

    /// The error an instance taken over by another with its identity stops with.
    fn fenced(&self, reason: String) -> RuntimeError {
        RuntimeError::Fenced {
            processor: self.spec.name.clone(),
            instance: self.spec.instance,
            identity: clients::transactional_id(&self.processing, &self.spec),
            reason,
        }
    }

    fn recreate(&mut self) -> Result<(), RuntimeError> {
        self.protocol.recreate()?;
        self.metrics.recreated.inc();
        Ok(())
    }

    fn take_redo(&mut self) -> Step {
        let points = self.batch.rewind_points();
        for point in &points {
            self.stream_times.forget(&point.topic, point.partition);
        }
        self.batch.clear();
        Step::Redo(points)
    }
}

/// The consumer context: commits the open batch before partitions are revoked.
struct Hooks {
    engine: Arc<Mutex<Engine>>,
}

impl ClientContext for Hooks {}

impl ConsumerContext for Hooks {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(partitions) = rebalance {
            let mut engine = lock(&self.engine);
            for revoked in partitions.elements() {
                engine
                    .stream_times
                    .forget(revoked.topic(), revoked.partition());
                engine
                    .revoked
                    .push((revoked.topic().to_owned(), revoked.partition()));
            }
            match engine.commit(consumer) {
                Ok(Step::Continue) => {
                    tracing::info!(
                        partitions = partitions.count(),
                        "batch committed before revoke"
                    );
                }
                Ok(Step::Redo(points)) => {
                    tracing::warn!(
                        "batch aborted before revoke; the partitions' next owner redoes it, this instance the ones it keeps"
                    );
                    engine.redo_after_revoke.extend(points);
                }
                Err(error) => tracing::error!(%error, "could not settle the batch before revoke"),
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(partitions) = rebalance {
            let assigned: Vec<String> = partitions
                .elements()
                .iter()
                .map(|p| format!("{}[{}]", p.topic(), p.partition()))
                .collect();
            tracing::info!(partitions = ?assigned, "partitions assigned");
        }
    }
}

fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sleeps for `duration` unless a stop is requested; false if it was.
fn pause(shutdown: &Shutdown, duration: Duration) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if shutdown.requested() {
            return false;
        }
        std::thread::sleep(MAX_POLL_WAIT.min(until.saturating_duration_since(Instant::now())));
    }
    !shutdown.requested()
}

/// Moves each partition of a failed batch back to where its redo starts:
/// the group's committed offset, which is the batch's first offset unless
/// the batch committed after all.
///
/// A failed commit can be ambiguous: librdkafka reports an error while the
/// broker completed the commit (an `EndTxn` whose answer was lost while the
/// transaction had already failed locally; its source says so), and an
/// abort that then fails makes the runtime recreate the producer, whose
/// `init_transactions` finishes that commit. Redoing the batch from its
/// first offsets would then write its outputs twice. The committed offsets
/// are read `read_committed`, which waits for pending transactional
/// offsets (KIP-447), after the producer settled the transaction, so they
/// say what committed; where they cannot be read, the batch's first offset
/// is used.
fn rewind(
    consumer: &BaseConsumer<Hooks>,
    points: &[RewindPoint],
    timeout: Duration,
) -> Result<(), RuntimeError> {
    let committed = committed_offsets(consumer, points, timeout);
    for point in points {
        let committed = committed.get(&(point.topic.clone(), point.partition));
        let offset = redo_from(point, committed.copied());
        if offset != point.offset {
            tracing::warn!(
                topic = %point.topic,
                partition = point.partition,
                batch_start = point.offset,
                committed = offset,
                "the failed batch committed after all; resuming after it, not redoing it"
            );
        }
        consumer
            .seek(
                &point.topic,
                point.partition,
                Offset::Offset(offset),
                timeout,
            )
            .map_err(|source| RuntimeError::Rewind {
                topic: point.topic.clone(),
                partition: point.partition,
                offset,
                source,
            })?;
    }
    Ok(())
}

/// Where a failed batch's partition resumes: after what committed, if the
/// group's `committed` offset lies past the batch's start, else its start.
fn redo_from(point: &RewindPoint, committed: Option<i64>) -> i64 {
    committed.map_or(point.offset, |committed| committed.max(point.offset))
}

/// The group's committed offsets of `points`' partitions (none where they
/// cannot be read).
fn committed_offsets(
    consumer: &BaseConsumer<Hooks>,
    points: &[RewindPoint],
    timeout: Duration,
) -> std::collections::HashMap<(String, i32), i64> {
    let mut wanted = rdkafka::TopicPartitionList::new();
    for point in points {
        wanted.add_partition(&point.topic, point.partition);
    }
    match consumer.committed_offsets(wanted, timeout) {
        Ok(list) => list
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some(((e.topic().to_owned(), e.partition()), offset)),
                _ => None,
            })
            .collect(),
        Err(error) => {
            tracing::warn!(%error, "committed offsets unreadable; redoing the batch from its start");
            std::collections::HashMap::new()
        }
    }
}

/// The stream time the group committed for `record`'s partition (`None`
/// if no commit stored one).
fn committed_stream_time(
    consumer: &BaseConsumer<Hooks>,
    record: &Record,
    timeout: Duration,
) -> Result<Option<i64>, rdkafka::error::KafkaError> {
    let mut wanted = rdkafka::TopicPartitionList::new();
    wanted.add_partition(&record.topic, record.partition);
    let committed = consumer.committed_offsets(wanted, timeout)?;
    Ok(committed
        .elements()
        .first()
        .and_then(|e| stream_time::decode(e.metadata())))
}

/// The first offset of each partition among `records`, in order.
fn first_offsets<'a>(records: impl IntoIterator<Item = &'a Record>) -> Vec<RewindPoint> {
    let mut points: Vec<RewindPoint> = Vec::new();
    for record in records {
        if !points
            .iter()
            .any(|p| p.topic == record.topic && p.partition == record.partition)
        {
            points.push(RewindPoint {
                topic: record.topic.clone(),
                partition: record.partition,
                offset: record.offset,
            });
        }
    }
    points
}

/// One point per partition, the earliest of those given.
fn earliest(points: Vec<RewindPoint>) -> Vec<RewindPoint> {
    let mut kept: Vec<RewindPoint> = Vec::new();
    for point in points {
        match kept
            .iter_mut()
            .find(|p| p.topic == point.topic && p.partition == point.partition)
        {
            Some(p) => p.offset = p.offset.min(point.offset),
            None => kept.push(point),
        }
    }
    kept
}

/// The threads every processor's parallel decodes run on, one per core (at
/// least two), apart from the async runtime that serves the edge and the
/// admin API, so a request never queues behind a poll's decodes; they run
/// at the processors' niceness (the first caller's: the pool is the
/// process's). `None` if they cannot be started: each processor then
/// decodes on its own thread.
fn decoders(niceness: i32) -> Option<&'static Handle> {
    static DECODERS: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    DECODERS
        .get_or_init(|| {
            let threads = std::thread::available_parallelism()
                .map_or(2, usize::from)
                .max(2);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .thread_name("decode")
                .on_thread_start(move || crate::priority::lower_this_thread(niceness))
                .enable_all()
                .build()
                .inspect_err(|error| {
                    tracing::warn!(%error, "no decode threads: decoding on each processor's thread");
                })
                .ok()
        })
        .as_ref()
        .map(tokio::runtime::Runtime::handle)
}

/// A record's decode: started on a worker, or to run here when awaited.
enum Decoding<F: Future> {
    /// Running on the decode threads.
    Spawned(AbortOnDrop<F::Output>),
    /// Runs when awaited, on the processor's thread.
    Here(F),
}

impl<F: Future> Decoding<F> {
    /// The decode's result; a decode that panicked stops the instance.
    async fn finish(self, record: &Record) -> Result<F::Output, RuntimeError> {
        match self {
            Decoding::Here(decode) => Ok(decode.await),
            Decoding::Spawned(mut task) => (&mut task.0).await.map_err(|e| {
                RuntimeError::Thread(format!(
                    "decoding {}/{}@{} failed: {e}",
                    record.topic, record.partition, record.offset
                ))
            }),
        }
    }
}

/// A spawned task, aborted if dropped before it is awaited (the records
/// after a transient failure are read again).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Seconds since the edge accepted the record's event, if it says.
fn since_ingest(record: &Record) -> Option<f64> {
    let accepted: i64 = std::str::from_utf8(record.header(INGESTED_AT_HEADER)?)
        .ok()?
        .parse()
        .ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis();
    let elapsed = i64::try_from(now).ok()?.saturating_sub(accepted).max(0);
    Some(elapsed as f64 / 1000.0)
}

/// `output` with the input's propagated headers added where it has none.
fn with_trace_context(record: &Record, output: &Output) -> Output {
    let mut output = output.clone();
    for name in PROPAGATED_HEADERS {
        if let Some(value) = record.header(name)
            && !output.headers.iter().any(|(k, _)| k == name)
        {
            output.headers.push((name.to_owned(), value.to_vec()));
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_from(offset: i64) -> RewindPoint {
        RewindPoint {
            topic: "in".into(),
            partition: 0,
            offset,
        }
    }

    #[test]
    fn a_failed_batch_is_redone_from_its_start_when_nothing_of_it_committed() {
        assert_eq!(redo_from(&batch_from(100), Some(100)), 100);
        assert_eq!(redo_from(&batch_from(100), None), 100);
    }

    #[test]
    fn a_failed_batch_that_committed_after_all_is_not_redone() {
        // The commit was reported failed, yet the broker completed it: the
        // group's offset lies past the batch, and redoing it would write
        // its outputs twice.
        assert_eq!(redo_from(&batch_from(100), Some(160)), 160);
    }

    #[test]
    fn an_older_committed_offset_never_moves_a_redo_back() {
        // An asynchronous at_least_once commit may still be in flight.
        assert_eq!(redo_from(&batch_from(100), Some(40)), 100);
    }
}

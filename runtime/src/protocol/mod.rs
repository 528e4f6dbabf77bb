//! The two commit protocols behind one small trait: `exactly_once` (Kafka
//! transactions) and `at_least_once` (idempotent producer, offsets committed
//! after delivery).

mod at_least_once;
mod delivery;
mod exactly_once;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

pub(crate) use at_least_once::AtLeastOnce;
pub(crate) use exactly_once::ExactlyOnce;

use crate::error::RuntimeError;
use crate::processor::Output;

/// How a broker call failed, and so what the runtime does next.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Try the same call again.
    Retriable(String),
    /// Abort the batch and redo it from its first offsets.
    Abortable(String),
    /// The producer is unusable: recreate it and redo the batch.
    Fatal(String),
    /// The producer was fenced: a producer with the same transactional id
    /// started (an instance with the same identity), or the coordinator
    /// aborted a transaction that outlived its timeout. Recreate it; being
    /// fenced again and again means a twin runs.
    Fenced(String),
}

impl Failure {
    /// Sorts a librdkafka error into retriable, abortable or fatal.
    pub fn classify(error: KafkaError) -> Self {
        let text = error.to_string();
        match &error {
            KafkaError::Transaction(e) if e.is_fatal() => Failure::fatal(e.code(), text),
            KafkaError::Transaction(e) if e.txn_requires_abort() => Failure::Abortable(text),
            KafkaError::Transaction(e) if e.is_retriable() => Failure::Retriable(text),
            KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut) => Failure::Retriable(text),
            _ => Failure::Abortable(text),
        }
    }

    /// A fatal producer error with librdkafka's `code`: fencing or not.
    pub fn fatal(code: RDKafkaErrorCode, reason: String) -> Self {
        match code {
            RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch => Failure::Fenced(reason),
            _ => Failure::Fatal(reason),
        }
    }

    /// The failure's description.
    pub fn message(&self) -> &str {
        match self {
            Failure::Retriable(m)
            | Failure::Abortable(m)
            | Failure::Fatal(m)
            | Failure::Fenced(m) => m,
        }
    }
}

/// One way of making a batch's outputs and input offsets durable.
pub(crate) trait CommitProtocol<C: rdkafka::consumer::ConsumerContext>: Send {
    /// Opens a batch (a transaction, where there are transactions); idempotent.
    fn begin(&mut self) -> Result<(), Failure>;
    /// Writes one output record as part of the open batch.
    fn send(&mut self, output: &Output) -> Result<(), Failure>;
    /// Makes the batch's outputs and `offsets` durable together.
    fn commit(
        &mut self,
        consumer: &BaseConsumer<C>,
        offsets: &TopicPartitionList,
    ) -> Result<(), Failure>;
    /// Discards the open batch's outputs where the broker allows it.
    fn abort(&mut self) -> Result<(), Failure>;
    /// Replaces an unusable producer with a fresh one.
    fn recreate(&mut self) -> Result<(), RuntimeError>;
}

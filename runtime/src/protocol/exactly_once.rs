//! `exactly_once`: one transactional producer per processor instance; a
//! batch's outputs and its input offsets commit in one Kafka transaction,
//! fenced by the consumer's group metadata (KIP-447).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, TopicPartitionList};

use super::delivery::{DeliveryTracker, TrackedProducer, await_deliveries, send};
use super::{CommitProtocol, Failure};
use crate::error::RuntimeError;
use crate::processor::Output;

/// Retries of a retriable `init_transactions` error before giving up.
const INIT_RETRIES: u32 = 10;

/// The transactional commit protocol.
pub(crate) struct ExactlyOnce {
    config: ClientConfig,
    producer: TrackedProducer,
    timeout: Duration,
    in_transaction: bool,
    offsets_sent: bool,
}

impl ExactlyOnce {
    /// Creates the producer and initialises its transactional id, fencing
    /// any earlier producer with the same id.
    pub fn new(config: ClientConfig, timeout: Duration) -> Result<Self, RuntimeError> {
        let producer = Self::create(&config, timeout)?;
        Ok(Self {
            config,
            producer,
            timeout,
            in_transaction: false,
            offsets_sent: false,
        })
    }

    fn create(config: &ClientConfig, timeout: Duration) -> Result<TrackedProducer, RuntimeError> {
        let producer: TrackedProducer = config
            .create_with_context(DeliveryTracker::default())
            .map_err(RuntimeError::client("transactional producer"))?;
        // A retriable error (a coordinator still loading, a timeout on a
        // busy machine) means "call again to resume" (librdkafka).
        let mut attempt = 0;
        loop {
            match producer.init_transactions(timeout) {
                Ok(()) => return Ok(producer),
                Err(KafkaError::Transaction(e)) if e.is_retriable() && attempt < INIT_RETRIES => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, "init_transactions: retrying");
                }
                Err(e) => return Err(RuntimeError::client("init_transactions")(e)),
            }
        }
    }
}

impl<C: ConsumerContext> CommitProtocol<C> for ExactlyOnce {
    fn begin(&mut self) -> Result<(), Failure> {
        if !self.in_transaction {
            self.producer
                .begin_transaction()
                .map_err(Failure::classify)?;
            self.in_transaction = true;
            self.offsets_sent = false;
        }
        Ok(())
    }

    fn send(&mut self, output: &Output) -> Result<(), Failure> {
        send(&self.producer, output, self.timeout)
    }

    fn commit(
        &mut self,
        consumer: &BaseConsumer<C>,
        offsets: &TopicPartitionList,
    ) -> Result<(), Failure> {
        await_deliveries(&self.producer, self.timeout)?;
        if !self.offsets_sent && offsets.count() > 0 {
            let group = consumer
                .group_metadata()
                .ok_or_else(|| Failure::Abortable("consumer has no group metadata".into()))?;
            self.producer
                .send_offsets_to_transaction(offsets, &group, self.timeout)
                .map_err(Failure::classify)?;
            self.offsets_sent = true;
        }
        self.producer
            .commit_transaction(self.timeout)
            .map_err(Failure::classify)?;
        self.in_transaction = false;
        Ok(())
    }

    fn abort(&mut self) -> Result<(), Failure> {
        if self.in_transaction {
            self.producer
                .abort_transaction(self.timeout)
                .map_err(Failure::classify)?;
            self.in_transaction = false;
        }
        Ok(())
    }

    fn recreate(&mut self) -> Result<(), RuntimeError> {
        self.in_transaction = false;
        self.offsets_sent = false;
        self.producer = Self::create(&self.config, self.timeout)?;
        Ok(())
    }
}

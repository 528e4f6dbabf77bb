//! `at_least_once`: an idempotent producer (`acks=all`); a batch's input
//! offsets are committed only after every one of its outputs is acknowledged.
//! A crash may repeat outputs, never lose them; effects stay exact because
//! they are keyed by deterministic ids.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, TopicPartitionList};

use super::delivery::{DeliveryTracker, TrackedProducer, send};
use super::{CommitProtocol, Failure};
use crate::error::RuntimeError;
use crate::processor::Output;

/// The idempotent, commit-after-delivery protocol.
pub(crate) struct AtLeastOnce {
    config: ClientConfig,
    producer: TrackedProducer,
    timeout: Duration,
    failed_before_batch: u64,
}

impl AtLeastOnce {
    /// Creates the idempotent producer.
    pub fn new(config: ClientConfig, timeout: Duration) -> Result<Self, RuntimeError> {
        let producer = Self::create(&config)?;
        Ok(Self {
            config,
            producer,
            timeout,
            failed_before_batch: 0,
        })
    }

    fn create(config: &ClientConfig) -> Result<TrackedProducer, RuntimeError> {
        config
            .create_with_context(DeliveryTracker::default())
            .map_err(RuntimeError::client("idempotent producer"))
    }
}

impl<C: ConsumerContext> CommitProtocol<C> for AtLeastOnce {
    fn begin(&mut self) -> Result<(), Failure> {
        self.failed_before_batch = self.producer.context().failed();
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
        if let Err(error) = self.producer.flush(self.timeout) {
            return Err(Failure::Retriable(format!("flush: {error}")));
        }
        if let Some((_, reason)) = self.producer.client().fatal_error() {
            return Err(Failure::Fatal(reason));
        }
        let failed = self.producer.context().failed() - self.failed_before_batch;
        if failed > 0 {
            return Err(Failure::Abortable(format!(
                "{failed} output record(s) were not acknowledged"
            )));
        }
        if offsets.count() > 0 {
            consumer
                .commit(offsets, CommitMode::Sync)
                .map_err(|e| Failure::Retriable(format!("offset commit: {e}")))?;
        }
        Ok(())
    }

    fn abort(&mut self) -> Result<(), Failure> {
        // Outputs already sent cannot be withdrawn; the redo may repeat them.
        self.failed_before_batch = self.producer.context().failed();
        Ok(())
    }

    fn recreate(&mut self) -> Result<(), RuntimeError> {
        self.producer = Self::create(&self.config)?;
        self.failed_before_batch = 0;
        Ok(())
    }
}

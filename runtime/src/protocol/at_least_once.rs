//! `at_least_once`: an idempotent producer (`acks=all`); a batch's input
//! offsets are committed only after every one of its outputs is acknowledged.
//! A crash may repeat outputs, never lose them; effects stay exact because
//! they are keyed by deterministic ids.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, TopicPartitionList};

use super::delivery::{DeliveryTracker, TrackedProducer, await_deliveries, send};
use super::{CommitProtocol, Failure};
use crate::error::RuntimeError;
use crate::processor::Output;

/// The idempotent, commit-after-delivery protocol.
pub(crate) struct AtLeastOnce {
    config: ClientConfig,
    producer: TrackedProducer,
    timeout: Duration,
    /// Failed deliveries counted before the open batch began; `None` when
    /// no batch is open.
    failed_before_batch: Option<u64>,
}

impl AtLeastOnce {
    /// Creates the idempotent producer.
    pub fn new(config: ClientConfig, timeout: Duration) -> Result<Self, RuntimeError> {
        let producer = Self::create(&config)?;
        Ok(Self {
            config,
            producer,
            timeout,
            failed_before_batch: None,
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
        // Snapshot once per batch: a failure reported mid-batch must count.
        if self.failed_before_batch.is_none() {
            self.failed_before_batch = Some(self.producer.context().failed());
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
        if let Err(error) = self.producer.flush(self.timeout) {
            return Err(Failure::Retriable(format!("flush: {error}")));
        }
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            return Err(Failure::fatal(code, reason));
        }
        let before = self.failed_before_batch.unwrap_or(0);
        let failed = self.producer.context().failed().saturating_sub(before);
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
        self.failed_before_batch = None;
        Ok(())
    }

    fn abort(&mut self) -> Result<(), Failure> {
        // Outputs already sent cannot be withdrawn; the redo may repeat them.
        self.failed_before_batch = None;
        Ok(())
    }

    fn recreate(&mut self) -> Result<(), RuntimeError> {
        self.producer = Self::create(&self.config)?;
        self.failed_before_batch = None;
        Ok(())
    }
}

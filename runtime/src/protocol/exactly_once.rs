//! `exactly_once`: one transactional producer per processor instance; a
//! batch's outputs and its input offsets commit in one Kafka transaction,
//! fenced by the consumer's group metadata (KIP-447).

use std::sync::{Arc, mpsc};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, ConsumerGroupMetadata};
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, TopicPartitionList};

use super::delivery::{DeliveryTracker, TrackedProducer, await_deliveries, send};
use super::{CommitProtocol, Failure};
use crate::error::RuntimeError;
use crate::processor::Output;

/// Retries of a retriable `init_transactions` error before giving up.
const INIT_RETRIES: u32 = 10;

/// How long past its own timeout `send_offsets_to_transaction` may take
/// before the producer is given up as stuck.
const STUCK_GRACE: Duration = Duration::from_secs(5);

/// The transactional commit protocol.
pub(crate) struct ExactlyOnce {
    config: ClientConfig,
    /// Shared with a call that may outlive its timeout (see [`Self::send_offsets`]).
    producer: Arc<TrackedProducer>,
    timeout: Duration,
    in_transaction: bool,
    offsets_sent: bool,
}

impl ExactlyOnce {
    /// Creates the producer and initialises its transactional id, fencing
    /// any earlier producer with the same id.
    pub fn new(config: ClientConfig, timeout: Duration) -> Result<Self, RuntimeError> {
        let producer = Arc::new(Self::create(&config, timeout)?);
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

    /// Adds the batch's input offsets to the transaction, giving up on the
    /// producer when the call does not return within its timeout.
    ///
    /// librdkafka's `send_offsets_to_transaction` can block far past its
    /// timeout while the group coordinator is down or has left the cluster
    /// (confluentinc/librdkafka#5456 and #5511, open in 2.12–2.14): a
    /// three-broker run whose killed node led the group stalled for ten
    /// minutes, until an idle connection closed. The call runs on its own
    /// thread; if it overruns, the batch fails as fatal, the producer is
    /// recreated (which fences the stuck one) and the batch is redone. The
    /// stuck thread keeps the old producer until librdkafka returns.
    fn send_offsets(
        &self,
        offsets: &TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> Result<(), Failure> {
        let producer = Arc::clone(&self.producer);
        let offsets = offsets.clone();
        let timeout = self.timeout;
        let (done, result) = mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("send-offsets".into())
            .spawn(move || {
                let _ = done.send(producer.send_offsets_to_transaction(&offsets, &group, timeout));
            })
            .map_err(|e| Failure::Fatal(format!("cannot start a thread: {e}")))?;
        match result.recv_timeout(timeout + STUCK_GRACE) {
            Ok(sent) => sent.map_err(Failure::classify),
            Err(_) => Err(Failure::Fatal(format!(
                "send_offsets_to_transaction did not return within {} ms (group coordinator unreachable)",
                (timeout + STUCK_GRACE).as_millis()
            ))),
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
            self.send_offsets(offsets, group)?;
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
        self.producer = Arc::new(Self::create(&self.config, self.timeout)?);
        Ok(())
    }
}

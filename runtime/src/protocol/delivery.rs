//! The producer both protocols share: delivery tracking and sending.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::Failure;
use crate::processor::Output;

/// Counts outputs not yet acknowledged, and failed deliveries, so a batch
/// knows when all its outputs landed and whether they all did.
#[derive(Debug, Default)]
pub(crate) struct DeliveryTracker {
    failed: AtomicU64,
    /// Outputs sent and not yet reported on.
    pending: Mutex<u64>,
    settled: Condvar,
}

impl DeliveryTracker {
    /// Deliveries that failed since the producer was created.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// Counts an output about to be enqueued. Called before `send`: the
    /// producer's thread may report the delivery before `send` returns, and
    /// a report counted before its send would leave the count one too high
    /// for ever (the batch would wait for an output that already landed).
    fn sending(&self) {
        *self.pending.lock().unwrap_or_else(PoisonError::into_inner) += 1;
    }

    /// Uncounts an output that was not enqueued after all.
    fn not_sent(&self) {
        self.reported();
    }

    fn reported(&self) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        debug_assert!(*pending > 0, "a delivery reported that was never counted");
        *pending = pending.saturating_sub(1);
        if *pending == 0 {
            self.settled.notify_all();
        }
    }

    /// Waits until every output sent so far is acknowledged or failed;
    /// false if `timeout` passed first.
    fn wait_settled(&self, timeout: Duration) -> bool {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let (pending, waited) = self
            .settled
            .wait_timeout_while(pending, timeout, |pending| *pending > 0)
            .unwrap_or_else(PoisonError::into_inner);
        drop(pending);
        !waited.timed_out()
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failed.fetch_add(1, Ordering::AcqRel);
            tracing::warn!(%error, "delivery failed");
        }
        self.reported();
    }
}

/// The producer type of both protocols.
pub(crate) type TrackedProducer = ThreadedProducer<DeliveryTracker>;

/// Waits until every output sent is acknowledged (or failed), up to
/// `timeout`. Commit protocols call it before `flush` or
/// `commit_transaction`: rdkafka's flush on a threaded producer, whose own
/// thread serves the delivery reports, otherwise waits in whole 100 ms steps
/// whenever an output is in flight, which capped a stage at a few thousand
/// records per second.
pub(crate) fn await_deliveries(
    producer: &TrackedProducer,
    timeout: Duration,
) -> Result<(), Failure> {
    if producer.context().wait_settled(timeout) {
        Ok(())
    } else {
        Err(Failure::Retriable(format!(
            "outputs not acknowledged within {} ms",
            timeout.as_millis()
        )))
    }
}

/// Enqueues `output`, waiting while the local queue is full (up to `timeout`).
pub(crate) fn send(
    producer: &TrackedProducer,
    output: &Output,
    timeout: Duration,
) -> Result<(), Failure> {
    let deadline = Instant::now() + timeout;
    let headers = output.headers.iter().fold(
        OwnedHeaders::new_with_capacity(output.headers.len()),
        |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v),
            })
        },
    );
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&output.topic).headers(headers);
    if let Some(key) = &output.key {
        record = record.key(key.as_slice());
    }
    if let Some(payload) = &output.payload {
        record = record.payload(payload.as_slice());
    }
    loop {
        producer.context().sending();
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                producer.context().not_sent();
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => {
                producer.context().not_sent();
                return Err(match producer.client().fatal_error() {
                    Some((code, reason)) => Failure::fatal(code, reason),
                    None => Failure::classify(error),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_overtakes_its_send_still_settles_the_batch() {
        // The producer's thread may report a delivery before `send` has
        // returned to the caller; the count is taken before enqueueing, so
        // the report always finds it.
        let tracker = DeliveryTracker::default();
        tracker.sending();
        tracker.reported();
        assert!(tracker.wait_settled(Duration::ZERO));
    }

    #[test]
    fn an_output_in_flight_keeps_the_batch_open() {
        let tracker = DeliveryTracker::default();
        tracker.sending();
        tracker.sending();
        tracker.reported();
        assert!(!tracker.wait_settled(Duration::from_millis(10)));
        tracker.not_sent();
        assert!(tracker.wait_settled(Duration::ZERO));
    }
}

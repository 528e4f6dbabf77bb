//! The producer both protocols share: delivery tracking and sending.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::Failure;
use crate::processor::Output;

/// Counts failed deliveries so a batch knows whether all its outputs landed.
#[derive(Debug, Default)]
pub(crate) struct DeliveryTracker {
    failed: AtomicU64,
}

impl DeliveryTracker {
    /// Deliveries that failed since the producer was created.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
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
    }
}

/// The producer type of both protocols.
pub(crate) type TrackedProducer = ThreadedProducer<DeliveryTracker>;

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
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                if Instant::now() < deadline =>
            {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((error, _)) => {
                return Err(match producer.client().fatal_error() {
                    Some((_, reason)) => Failure::Fatal(reason),
                    None => Failure::classify(error),
                });
            }
        }
    }
}

//! The registry topic: created compacted with one partition, replayed from
//! the beginning to its high watermark at start, appended to with an
//! idempotent `acks=all` producer.

use std::time::{Duration, Instant};

use moneta_kafka::{KafkaConfig, partition_ids};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::error::RegistryError;

/// How long start-up may take to create, find and read the topic.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one append may wait for the broker's acknowledgement.
const APPEND_TIMEOUT: Duration = Duration::from_secs(30);
/// The one partition everything is written to and read from.
const PARTITION: i32 = 0;

/// A raw record of the topic: key and optional value (`None` is a tombstone).
pub type RawRecord = (Vec<u8>, Option<Vec<u8>>);

/// The writing side of the registry topic.
pub struct Log {
    topic: String,
    producer: FutureProducer,
}

impl Log {
    /// Ensures the topic exists and reads all of it; returns the writer and the records.
    pub async fn open(
        kafka: &KafkaConfig,
        topic: &str,
    ) -> Result<(Self, Vec<RawRecord>), RegistryError> {
        let kafka_error = |source| RegistryError::Kafka {
            topic: topic.to_owned(),
            source,
        };
        ensure_topic(kafka, topic).await.map_err(kafka_error)?;
        let records = {
            let (kafka, name) = (kafka.clone(), topic.to_owned());
            tokio::task::spawn_blocking(move || replay(&kafka, &name))
                .await
                .map_err(|e| RegistryError::Topic {
                    topic: topic.to_owned(),
                    reason: format!("replay task failed: {e}"),
                })??
        };
        let producer = kafka
            .producer_config("moneta-schema-registry")
            .set("linger.ms", "0")
            .create()
            .map_err(kafka_error)?;
        Ok((
            Self {
                topic: topic.to_owned(),
                producer,
            },
            records,
        ))
    }

    /// Appends one record and waits until the broker acknowledged it.
    pub async fn append(&self, key: &[u8], value: Option<&[u8]>) -> Result<(), KafkaError> {
        let mut record = FutureRecord::<[u8], [u8]>::to(&self.topic)
            .partition(PARTITION)
            .key(key);
        if let Some(value) = value {
            record = record.payload(value);
        }
        self.producer
            .send(record, APPEND_TIMEOUT)
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}

/// Creates the topic compacted, with one partition, if it does not exist.
async fn ensure_topic(kafka: &KafkaConfig, topic: &str) -> Result<(), KafkaError> {
    if moneta_kafka::missing_topics(kafka, &[topic], Duration::from_secs(30))?.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    // Replication factor -1: the broker's `default.replication.factor`.
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(-1)).set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics([&new], &options).await? {
        match result {
            Ok(_) => tracing::info!(topic, "created the schema registry topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        }
    }
    Ok(())
}

/// Reads partition 0 of `topic` from the beginning up to its high watermark.
fn replay(kafka: &KafkaConfig, topic: &str) -> Result<Vec<RawRecord>, RegistryError> {
    let kafka_error = |source| RegistryError::Kafka {
        topic: topic.to_owned(),
        source,
    };
    let consumer: BaseConsumer = kafka
        .client_config()
        .set("group.id", "moneta-schema-registry")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .map_err(kafka_error)?;
    let deadline = Instant::now() + START_TIMEOUT;
    let (low, high) = watermarks(&consumer, topic, deadline)?;
    let mut records = Vec::new();
    if high <= low {
        return Ok(records);
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, PARTITION, Offset::Beginning)
        .map_err(kafka_error)?;
    consumer.assign(&assignment).map_err(kafka_error)?;
    let mut next = low;
    while next < high {
        if Instant::now() > deadline {
            return Err(RegistryError::Replay {
                topic: topic.to_owned(),
                at: next,
                high,
                reason: format!("timed out after {START_TIMEOUT:?}"),
            });
        }
        match consumer.poll(Duration::from_millis(200)) {
            None => {}
            Some(Ok(message)) => {
                next = message.offset() + 1;
                if let Some(key) = message.key() {
                    records.push((key.to_vec(), message.payload().map(<[u8]>::to_vec)));
                }
            }
            Some(Err(e)) => {
                return Err(RegistryError::Replay {
                    topic: topic.to_owned(),
                    at: next,
                    high,
                    reason: e.to_string(),
                });
            }
        }
    }
    tracing::info!(
        topic,
        records = records.len(),
        high,
        "replayed the schema registry topic"
    );
    Ok(records)
}

/// The topic's watermarks, retried while a just-created topic is not yet known.
fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    deadline: Instant,
) -> Result<(i64, i64), RegistryError> {
    loop {
        let attempt = partition_ids(consumer, topic, Duration::from_secs(5)).and_then(|ids| {
            if ids.is_empty() {
                Err(KafkaError::MetadataFetch(
                    RDKafkaErrorCode::UnknownTopicOrPartition,
                ))
            } else if ids.len() > 1 {
                Ok(Err(ids.len()))
            } else {
                consumer
                    .fetch_watermarks(topic, PARTITION, Duration::from_secs(5))
                    .map(Ok)
            }
        });
        match attempt {
            Ok(Ok(marks)) => return Ok(marks),
            Ok(Err(count)) => {
                return Err(RegistryError::Topic {
                    topic: topic.to_owned(),
                    reason: format!("has {count} partitions; a registry topic needs exactly one"),
                });
            }
            Err(e) if Instant::now() > deadline => {
                return Err(RegistryError::Kafka {
                    topic: topic.to_owned(),
                    source: e,
                });
            }
            Err(e) => {
                tracing::debug!(topic, error = %e, "registry topic not ready yet");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

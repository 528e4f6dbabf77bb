//! The registry topic: created compacted with one partition, replayed from
//! the beginning to its high watermark at start, appended to with an
//! idempotent `acks=all` producer.

use std::time::{Duration, Instant};

use moneta_kafka::{KafkaConfig, PartitionRange, ReadError, TopicReader};
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};

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

/// Reads `topic` (one partition) from the beginning up to its end.
fn replay(kafka: &KafkaConfig, topic: &str) -> Result<Vec<RawRecord>, RegistryError> {
    let deadline = Instant::now() + START_TIMEOUT;
    let reader = TopicReader::new(kafka, topic, "moneta-schema-registry")?;
    let partitions = partitions(&reader, deadline)?;
    if partitions.len() != 1 {
        return Err(RegistryError::Topic {
            topic: topic.to_owned(),
            reason: format!(
                "has {} partitions; a registry topic needs exactly one",
                partitions.len()
            ),
        });
    }
    let mut records = Vec::new();
    let limit = deadline.saturating_duration_since(Instant::now());
    reader.read(&partitions, limit, |message| {
        if let Some(key) = message.key() {
            records.push((key.to_vec(), message.payload().map(<[u8]>::to_vec)));
        }
    })?;
    tracing::info!(
        topic,
        records = records.len(),
        high = partitions[0].end,
        "replayed the schema registry topic"
    );
    Ok(records)
}

/// The topic's partitions, retried while a just-created topic is not yet known.
fn partitions(reader: &TopicReader, deadline: Instant) -> Result<Vec<PartitionRange>, ReadError> {
    loop {
        match reader.partitions(Duration::from_secs(5)) {
            Ok(partitions) => return Ok(partitions),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(e) => {
                tracing::debug!(topic = reader.topic(), error = %e, "registry topic not ready yet");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

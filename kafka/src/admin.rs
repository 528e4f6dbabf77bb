//! Topic bootstrap: create every topic the topology needs, idempotently.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use serde::Serialize;

use crate::{KafkaConfig, LoginWatch, PartitionRange};

/// One topic as the topology wants it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TopicSpec {
    /// Topic name.
    pub name: String,
    /// Partition count.
    pub partitions: i32,
    /// Replication factor.
    pub replication_factor: i32,
    /// Topic configuration Moneta sets (`retention.ms`, `cleanup.policy`).
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    /// A topic that deletes records older than `retention_ms` (`-1`: never).
    pub fn retained(
        name: &str,
        partitions: i32,
        replication_factor: i32,
        retention_ms: i64,
    ) -> Self {
        Self {
            name: name.to_owned(),
            partitions,
            replication_factor,
            configs: BTreeMap::from([
                ("cleanup.policy".to_owned(), "delete".to_owned()),
                ("retention.ms".to_owned(), retention_ms.to_string()),
            ]),
        }
    }

    /// A compacted topic: the latest record of every key is kept.
    pub fn compacted(name: &str, partitions: i32, replication_factor: i32) -> Self {
        Self {
            name: name.to_owned(),
            partitions,
            replication_factor,
            configs: BTreeMap::from([("cleanup.policy".to_owned(), "compact".to_owned())]),
        }
    }
}

/// What happened to one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicStatus {
    /// It did not exist and was created.
    Created,
    /// It existed already and was left alone.
    Existed,
}

/// Which of `names` the broker's metadata does not list (an
/// authentication error if the broker refused the SASL login). Topics are only
/// created when missing, so a broker without CreateTopics (librdkafka's mock
/// cluster, with its topics made up front) works once they exist.
pub fn missing_topics(
    kafka: &KafkaConfig,
    names: &[&str],
    timeout: Duration,
) -> Result<Vec<String>, KafkaError> {
    use rdkafka::consumer::BaseConsumer;
    let consumer: BaseConsumer<LoginWatch> = kafka
        .client_config()
        .create_with_context(LoginWatch::default())?;
    let metadata = crate::fetch_metadata(&consumer, timeout)?;
    let existing: std::collections::HashSet<&str> = metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| t.name())
        .collect();
    Ok(names
        .iter()
        .filter(|name| !existing.contains(**name))
        .map(|name| (*name).to_owned())
        .collect())
}

/// Creates each topic that does not exist yet; existing topics are left as they are.
pub async fn ensure_topics(
    kafka: &KafkaConfig,
    topics: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<(String, TopicStatus)>, KafkaError> {
    let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
    let missing = missing_topics(kafka, &names, timeout)?;
    let mut statuses: Vec<(String, TopicStatus)> = topics
        .iter()
        .filter(|t| !missing.contains(&t.name))
        .map(|t| (t.name.clone(), TopicStatus::Existed))
        .collect();
    let topics: Vec<&TopicSpec> = topics
        .iter()
        .filter(|t| missing.contains(&t.name))
        .collect();
    if topics.is_empty() {
        return Ok(statuses);
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let new_topics: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| {
            t.configs.iter().fold(
                NewTopic::new(
                    &t.name,
                    t.partitions,
                    TopicReplication::Fixed(t.replication_factor),
                ),
                |topic, (key, value)| topic.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results = admin.create_topics(&new_topics, &options).await?;
    for result in results {
        statuses.push(match result {
            Ok(name) => (name, TopicStatus::Created),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => (name, TopicStatus::Existed),
            Err((_, code)) => return Err(KafkaError::AdminOp(code)),
        });
    }
    Ok(statuses)
}

/// The partition ids of `topic`, as the broker's metadata lists them.
pub fn partition_ids<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<i32>, KafkaError> {
    use rdkafka::consumer::Consumer;
    let metadata = consumer.fetch_metadata(Some(topic), timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect())
}

/// The low and high watermarks of every partition of `topic`, in partition
/// order: each as a [`PartitionRange`] from its first retained offset to
/// the offset its next record will get (to a `read_committed` consumer,
/// the last stable offset).
pub fn watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &rdkafka::consumer::BaseConsumer<C>,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<PartitionRange>, KafkaError> {
    use rdkafka::consumer::Consumer;
    let mut partitions = partition_ids(consumer, topic, timeout)?;
    partitions.sort_unstable();
    partitions
        .into_iter()
        .map(|partition| {
            let (start, end) = consumer.fetch_watermarks(topic, partition, timeout)?;
            Ok(PartitionRange {
                partition,
                start,
                end,
            })
        })
        .collect()
}

//! A consumer group's lag: per input partition, the high watermark minus
//! the group's committed offset, read by a consumer that never joins the
//! group (so measuring never triggers a rebalance).

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::admin::partition_ids;
use crate::settings::KafkaConfig;

/// The lag of one partition of a group's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Records the group has not committed past (with nothing committed,
    /// everything retained).
    pub lag: i64,
}

/// A consumer that reads `group_id`'s committed offsets for [`group_lag`]
/// and never joins the group (it must not subscribe).
pub fn lag_reader(
    kafka: &KafkaConfig,
    group_id: &str,
    client_id: &str,
) -> Result<BaseConsumer, KafkaError> {
    kafka
        .client_config()
        .set("group.id", group_id)
        .set("client.id", client_id)
        .set("enable.auto.commit", "false")
        .create()
}

/// The lag of `consumer`'s `group.id` on every partition of `topics`, each
/// broker request bounded by `timeout`. `consumer` must not subscribe.
pub fn group_lag(
    consumer: &BaseConsumer,
    topics: &[String],
    timeout: Duration,
) -> Result<Vec<PartitionLag>, KafkaError> {
    let mut partitions = TopicPartitionList::new();
    for topic in topics {
        for partition in partition_ids(consumer, topic, timeout)? {
            partitions.add_partition(topic, partition);
        }
    }
    let committed = consumer.committed_offsets(partitions, timeout)?;
    let mut lags = Vec::new();
    for element in committed.elements() {
        let (low, high) =
            consumer.fetch_watermarks(element.topic(), element.partition(), timeout)?;
        let consumed = match element.offset() {
            Offset::Offset(offset) => offset,
            _ => low,
        };
        lags.push(PartitionLag {
            topic: element.topic().to_owned(),
            partition: element.partition(),
            lag: (high - consumed).max(0),
        });
    }
    Ok(lags)
}

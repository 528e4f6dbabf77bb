//! Reading a topic from its start to its end as a `read_committed` consumer
//! sees it: what a state rebuild, a replay, the schema registry's start and
//! a benchmark's check all do.
//!
//! A partition's end is where it ended when reading started, as a
//! `read_committed` consumer sees it: its high watermark, or its last
//! stable offset while a transaction is open there (what is beyond is not
//! committed yet; librdkafka asks for the watermarks at the reader's
//! isolation level). The last offsets below the end may be transaction
//! markers, which no consumer is given, or records of an aborted
//! transaction, which a `read_committed` consumer skips; so a partition is
//! done once the consumer's position reaches its end (or librdkafka
//! reports the partition's end), not once the record at `end - 1` was seen.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientContext, Message, Offset, TopicPartitionList};

use crate::{KafkaConfig, watermarks};

/// How long one metadata or watermark request of [`read_to_end`] may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one poll waits for a record before the positions are looked at.
const POLL: Duration = Duration::from_millis(100);

/// The offsets of one partition to read: from `start` (inclusive) to `end`
/// (exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    /// The partition.
    pub partition: i32,
    /// The first offset to read (a low watermark, where reading starts).
    pub start: i64,
    /// The offset after the last one to read (a high watermark, or the
    /// last stable offset to a `read_committed` reader).
    pub end: i64,
}

impl PartitionRange {
    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }
}

impl fmt::Display for PartitionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition {} offsets {}..{}",
            self.partition, self.start, self.end
        )
    }
}

/// Errors reading a topic.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The broker's metadata lists no partition of the topic.
    #[error("topic {topic} does not exist")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The reader could not be created or a Kafka call failed.
    #[error("reading topic {topic}: {source}")]
    Kafka {
        /// The topic.
        topic: String,
        /// The Kafka error.
        #[source]
        source: KafkaError,
    },
    /// The end was not reached in time.
    #[error("topic {topic}: not read to its end within {limit:?} (left: {})", list(.left))]
    Timeout {
        /// The topic.
        topic: String,
        /// The time allowed.
        limit: Duration,
        /// What was still to read, partition by partition.
        left: Vec<PartitionRange>,
    },
}

fn list(ranges: &[PartitionRange]) -> String {
    let ranges: Vec<String> = ranges.iter().map(ToString::to_string).collect();
    ranges.join(", ")
}

/// What [`read_to_end`] read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Records passed on.
    pub records: u64,
    /// Every partition as it was when reading started, from its first
    /// retained offset (above 0 when retention or compaction removed
    /// records) to its high watermark.
    pub partitions: Vec<PartitionRange>,
}

/// Reads every partition of `topic` from its first record to its end,
/// calling `each` for every committed record (in offset order within each
/// partition, partitions interleaved); fails after `limit`. `name` is
/// the reader's group id, which it never joins nor commits to.
pub fn read_to_end(
    kafka: &KafkaConfig,
    topic: &str,
    name: &str,
    limit: Duration,
    each: impl FnMut(&BorrowedMessage<'_>),
) -> Result<ReadSummary, ReadError> {
    let reader = TopicReader::new(kafka, topic, name)?;
    let partitions = reader.partitions(REQUEST_TIMEOUT)?;
    let records = reader.read(&partitions, limit, each)?;
    Ok(ReadSummary {
        records,
        partitions,
    })
}

/// A reader of one topic: `read_committed`, assigned the partitions it
/// reads from given offsets, outside any consumer group's offsets.
pub struct TopicReader {
    consumer: BaseConsumer<ReaderContext>,
    topic: String,
}

impl TopicReader {
    /// A reader of `topic`; `name` is its group id, which it never joins
    /// nor commits to.
    pub fn new(kafka: &KafkaConfig, topic: &str, name: &str) -> Result<Self, ReadError> {
        let consumer = kafka
            .reader_config(name)
            .set("enable.partition.eof", "true")
            .create_with_context(ReaderContext)
            .map_err(|source| ReadError::Kafka {
                topic: topic.to_owned(),
                source,
            })?;
        Ok(Self {
            consumer,
            topic: topic.to_owned(),
        })
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Every partition of the topic, in partition order, from its first
    /// retained offset to its high watermark.
    pub fn partitions(&self, timeout: Duration) -> Result<Vec<PartitionRange>, ReadError> {
        match watermarks(&self.consumer, &self.topic, timeout) {
            Ok(partitions) if !partitions.is_empty() => Ok(partitions),
            Ok(_) | Err(KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition)) => {
                Err(ReadError::UnknownTopic {
                    topic: self.topic.clone(),
                })
            }
            Err(e) => Err(self.kafka(e)),
        }
    }

    /// Moves the start of each of `ranges` forward to its first record at
    /// or after `time_ms` (milliseconds since the epoch); a range with no
    /// such record becomes empty.
    pub fn start_at_time(
        &self,
        ranges: &mut [PartitionRange],
        time_ms: i64,
        timeout: Duration,
    ) -> Result<(), ReadError> {
        let mut query = TopicPartitionList::new();
        for range in ranges.iter().filter(|r| !r.is_empty()) {
            query
                .add_partition_offset(&self.topic, range.partition, Offset::Offset(time_ms))
                .map_err(|e| self.kafka(e))?;
        }
        if query.count() == 0 {
            return Ok(());
        }
        let found = self
            .consumer
            .offsets_for_times(query, timeout)
            .map_err(|e| self.kafka(e))?;
        for range in ranges.iter_mut().filter(|r| !r.is_empty()) {
            let element = found.find_partition(&self.topic, range.partition);
            if let Some(element) = &element {
                element.error().map_err(|e| self.kafka(e))?;
            }
            match element.map(|e| e.offset()) {
                Some(Offset::Offset(first)) => range.start = range.start.max(first),
                // No record at or after that time.
                _ => range.start = range.end,
            }
        }
        Ok(())
    }

    /// Reads each of `ranges` from its start to its end, calling `each`
    /// for every committed record in it (aborted records and transaction
    /// markers are no records), in offset order within each partition;
    /// returns how many there were. Empty ranges are not read, so an empty
    /// topic returns at once. Fails after `limit`, naming the topic and
    /// what was left.
    pub fn read(
        &self,
        ranges: &[PartitionRange],
        limit: Duration,
        mut each: impl FnMut(&BorrowedMessage<'_>),
    ) -> Result<u64, ReadError> {
        let mut open: BTreeMap<i32, PartitionRange> = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for range in ranges.iter().filter(|r| !r.is_empty()) {
            assignment
                .add_partition_offset(&self.topic, range.partition, Offset::Offset(range.start))
                .map_err(|e| self.kafka(e))?;
            open.insert(range.partition, *range);
        }
        if open.is_empty() {
            return Ok(0);
        }
        self.consumer
            .assign(&assignment)
            .map_err(|e| self.kafka(e))?;
        let read = self.read_assigned(&mut open, limit, &mut each);
        // Whatever happened, the reader is left unassigned, ready for another read.
        if let Err(error) = self.consumer.unassign() {
            tracing::debug!(topic = %self.topic, %error, "unassigning the reader");
        }
        read
    }

    /// Polls until every `open` range is read.
    fn read_assigned(
        &self,
        open: &mut BTreeMap<i32, PartitionRange>,
        limit: Duration,
        each: &mut impl FnMut(&BorrowedMessage<'_>),
    ) -> Result<u64, ReadError> {
        let deadline = Instant::now() + limit;
        let mut count = 0u64;
        while !open.is_empty() {
            if Instant::now() >= deadline {
                return Err(ReadError::Timeout {
                    topic: self.topic.clone(),
                    limit,
                    left: open.values().copied().collect(),
                });
            }
            match self.consumer.poll(POLL) {
                Some(Ok(message)) => {
                    let partition = message.partition();
                    let Some(range) = open.get(&partition) else {
                        continue;
                    };
                    if message.offset() < range.end {
                        each(&message);
                        count += 1;
                    }
                    advance(open, partition, message.offset() + 1);
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    open.remove(&partition);
                }
                Some(Err(e)) => return Err(self.kafka(e)),
                // Markers and aborted records move the position without a
                // message: a range may have been read to its end.
                None => {
                    let positions = self.consumer.position().map_err(|e| self.kafka(e))?;
                    for element in positions.elements_for_topic(&self.topic) {
                        if let Offset::Offset(position) = element.offset() {
                            advance(open, element.partition(), position);
                        }
                    }
                }
            }
        }
        Ok(count)
    }

    fn kafka(&self, source: KafkaError) -> ReadError {
        ReadError::Kafka {
            topic: self.topic.clone(),
            source,
        }
    }
}

/// Records that `partition` was read up to `next`, closing its range at its end.
fn advance(open: &mut BTreeMap<i32, PartitionRange>, partition: i32, next: i64) {
    if let Some(range) = open.get_mut(&partition) {
        range.start = range.start.max(next);
        if range.is_empty() {
            open.remove(&partition);
        }
    }
}

/// The reader's client context: reaching a partition's end is what a
/// reader waits for, not an error to log; other errors are logged.
struct ReaderContext;

impl ClientContext for ReaderContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let end = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !end {
            tracing::warn!(%error, reason, "Kafka reader");
        }
    }
}

impl ConsumerContext for ReaderContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_closes_once_its_position_reaches_its_end() {
        let mut open = BTreeMap::from([(
            0,
            PartitionRange {
                partition: 0,
                start: 0,
                end: 3,
            },
        )]);
        advance(&mut open, 0, 2);
        assert_eq!(open[&0].start, 2);
        advance(&mut open, 1, 9);
        advance(&mut open, 0, 1);
        assert_eq!(open[&0].start, 2, "a position never moves back");
        // The last offset (2) was a transaction marker: no record, but the
        // position passed it.
        advance(&mut open, 0, 3);
        assert!(open.is_empty());
    }

    #[test]
    fn a_timeout_names_the_topic_and_what_was_left() {
        let error = ReadError::Timeout {
            topic: "t".into(),
            limit: Duration::from_secs(1),
            left: vec![PartitionRange {
                partition: 2,
                start: 5,
                end: 9,
            }],
        };
        assert_eq!(
            error.to_string(),
            "topic t: not read to its end within 1s (left: partition 2 offsets 5..9)"
        );
    }
}

//! Stream time per input partition, as Kafka Streams keeps it: the newest
//! record timestamp seen in the partition. It is stored in the metadata of
//! the offset each commit stores (in the same transaction under
//! `exactly_once`), so a restart, a redone batch or another instance taking
//! the partition over sees exactly the values the records had before:
//! whatever a processor decides by stream time is deterministic.

use std::collections::HashMap;

use crate::processor::{Record, StreamTime};

/// Prefix of the committed offset metadata that carries stream time.
const PREFIX: &str = "moneta.stream_time=";

/// The committed-offset metadata that stores stream time `ms`.
pub(crate) fn encode(ms: i64) -> String {
    format!("{PREFIX}{ms}")
}

/// The stream time a committed offset's metadata stores, if any.
pub(crate) fn decode(metadata: &str) -> Option<i64> {
    metadata.strip_prefix(PREFIX)?.parse().ok()
}

/// The stream time of every partition this instance is processing.
#[derive(Debug, Default)]
pub(crate) struct StreamTimes {
    /// Per partition: known (loaded from the group, then advanced) and the
    /// stream time so far (`None`: no record ever had a timestamp).
    partitions: HashMap<(String, i32), Option<i64>>,
}

impl StreamTimes {
    /// Whether the partition's stream time must be loaded from the group
    /// before `record` can advance it.
    pub fn needs_load(&self, record: &Record) -> bool {
        !self
            .partitions
            .contains_key(&(record.topic.clone(), record.partition))
    }

    /// Sets a partition's stream time as the group committed it.
    pub fn load(&mut self, topic: &str, partition: i32, committed: Option<i64>) {
        self.partitions
            .insert((topic.to_owned(), partition), committed);
    }

    /// Advances the record's partition by the record's timestamp.
    pub fn advance(&mut self, record: &Record) -> StreamTime {
        let slot = self
            .partitions
            .entry((record.topic.clone(), record.partition))
            .or_default();
        let prior_ms = *slot;
        let now_ms = match (prior_ms, record.timestamp_ms) {
            (Some(prior), Some(ts)) => Some(prior.max(ts)),
            (prior, ts) => prior.or(ts),
        };
        *slot = now_ms;
        StreamTime { prior_ms, now_ms }
    }

    /// Forgets a partition: revoked, or its batch redone (what committed
    /// is then read again).
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_owned(), partition));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(partition: i32, ts: Option<i64>) -> Record {
        Record {
            topic: "t".into(),
            partition,
            offset: 0,
            key: None,
            payload: None,
            headers: vec![],
            timestamp_ms: ts,
            stream_time: StreamTime::default(),
        }
    }

    #[test]
    fn stream_time_is_the_newest_timestamp_per_partition() {
        let mut times = StreamTimes::default();
        assert!(times.needs_load(&at(0, Some(5))));
        times.load("t", 0, Some(100));
        assert_eq!(
            times.advance(&at(0, Some(90))),
            StreamTime {
                prior_ms: Some(100),
                now_ms: Some(100)
            },
            "an older record never moves it back"
        );
        assert_eq!(times.advance(&at(0, Some(130))).now_ms, Some(130));
        assert_eq!(times.advance(&at(0, None)).now_ms, Some(130));
        times.load("t", 1, None);
        assert_eq!(
            times.advance(&at(1, Some(7))),
            StreamTime {
                prior_ms: None,
                now_ms: Some(7)
            }
        );
        times.forget("t", 0);
        assert!(times.needs_load(&at(0, Some(1))));
    }

    #[test]
    fn a_task_every_n_ms_of_stream_time_is_due_when_a_multiple_is_crossed() {
        let at = |prior_ms, now_ms| StreamTime { prior_ms, now_ms };
        assert_eq!(at(None, Some(1_500)).crossed(1_000), Some(1_500));
        assert_eq!(at(Some(1_500), Some(1_900)).crossed(1_000), None);
        assert_eq!(at(Some(1_900), Some(2_000)).crossed(1_000), Some(2_000));
        assert_eq!(at(Some(2_000), Some(2_000)).crossed(1_000), None);
        assert_eq!(at(None, None).crossed(1_000), None);
    }

    #[test]
    fn metadata_round_trips_and_ignores_foreign_values() {
        assert_eq!(decode(&encode(1_733_400_000_123)), Some(1_733_400_000_123));
        assert_eq!(decode(""), None);
        assert_eq!(decode("something else"), None);
    }
}

//! Bookkeeping of the open batch: which input offsets it covers, where to
//! rewind if it must be redone, and the effects to apply before it commits.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use moneta_state::Effect;
use rdkafka::{Offset, TopicPartitionList};

use crate::processor::Record;

/// The input span of one partition inside the batch.
#[derive(Debug, Clone, Copy)]
struct Span {
    /// First offset read in this batch: where a redo starts.
    start: i64,
    /// Offset after the last record fully processed: what a commit stores.
    next: Option<i64>,
    /// The last offset read.
    last: i64,
    /// The partition's stream time after its last record fully processed:
    /// committed with the offset (see `crate::stream_time`).
    stream_time: Option<i64>,
}

/// A place to rewind a partition to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RewindPoint {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
}

/// The records, offsets and effects of the batch in progress.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    started: Option<Instant>,
    records: usize,
    spans: BTreeMap<(String, i32), Span>,
    effects: Vec<Effect>,
}

impl Batch {
    /// Notes that `record` is about to be processed in this batch.
    pub fn track(&mut self, record: &Record) {
        self.started.get_or_insert_with(Instant::now);
        self.spans
            .entry((record.topic.clone(), record.partition))
            .or_insert(Span {
                start: record.offset,
                next: None,
                last: record.offset,
                stream_time: None,
            })
            .last = record.offset;
    }

    /// Notes that `record` was fully processed and its outputs sent.
    pub fn complete(&mut self, record: &Record, effects: Vec<Effect>) {
        if let Some(span) = self
            .spans
            .get_mut(&(record.topic.clone(), record.partition))
        {
            span.next = Some(record.offset + 1);
            span.stream_time = record.stream_time.now_ms.or(span.stream_time);
        }
        self.records += 1;
        self.effects.extend(effects);
    }

    /// How many records the batch has processed.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the batch holds nothing to commit or redo.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Whether the batch should commit now.
    pub fn due(&self, max_records: usize, interval: Duration) -> bool {
        self.records >= max_records || self.started.is_some_and(|t| t.elapsed() >= interval)
    }

    /// Time until the batch is due by age (the full interval when empty).
    pub fn time_left(&self, interval: Duration) -> Duration {
        self.started
            .map_or(interval, |t| interval.saturating_sub(t.elapsed()))
    }

    /// The effects to apply before committing.
    pub fn effects(&self) -> &[Effect] {
        &self.effects
    }

    /// The offsets a commit stores: the next record to read per partition,
    /// each with its partition's stream time in the offset's metadata.
    /// Where every record read from a partition is processed, that is the
    /// consumer's `position` if it lies further on: the reader has skipped
    /// transaction markers (or aborted records) there, and a committed
    /// offset short of them would show as lag that never drains.
    pub fn commit_offsets(
        &self,
        position: impl Fn(&str, i32) -> Option<i64>,
    ) -> TopicPartitionList {
        let mut list = TopicPartitionList::new();
        for ((topic, partition), span) in &self.spans {
            if let Some(next) = span.next {
                let next = match position(topic, *partition) {
                    Some(position) if next == span.last + 1 => next.max(position),
                    _ => next,
                };
                let mut element = list.add_partition(topic, *partition);
                // Cannot fail: a valid offset.
                let _ = element.set_offset(Offset::Offset(next));
                if let Some(ms) = span.stream_time {
                    element.set_metadata(crate::stream_time::encode(ms));
                }
            }
        }
        list
    }

    /// Where each partition must restart if the batch is redone.
    pub fn rewind_points(&self) -> Vec<RewindPoint> {
        self.spans
            .iter()
            .map(|((topic, partition), span)| RewindPoint {
                topic: topic.clone(),
                partition: *partition,
                offset: span.start,
            })
            .collect()
    }

    /// Forgets everything: after a commit, or before a redo.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64) -> Record {
        Record {
            topic: "t".into(),
            partition,
            offset,
            key: None,
            payload: None,
            headers: vec![],
            timestamp_ms: None,
            stream_time: crate::processor::StreamTime::default(),
        }
    }

    #[test]
    fn commits_next_offsets_and_rewinds_to_first_offsets() {
        let mut batch = Batch::default();
        for (p, o) in [(0, 10), (1, 5), (0, 11)] {
            batch.track(&record(p, o));
            batch.complete(&record(p, o), vec![]);
        }
        batch.track(&record(2, 7)); // in flight, not complete
        let offsets = batch.commit_offsets(|_, _| None).to_topic_map();
        assert_eq!(offsets[&("t".to_string(), 0)], Offset::Offset(12));
        assert_eq!(offsets[&("t".to_string(), 1)], Offset::Offset(6));
        assert!(!offsets.contains_key(&("t".to_string(), 2)));
        // Past a transaction marker the reader skipped: the position.
        let offsets = batch
            .commit_offsets(|_, p| Some(13 + i64::from(p)))
            .to_topic_map();
        assert_eq!(offsets[&("t".to_string(), 0)], Offset::Offset(13));
        assert_eq!(offsets[&("t".to_string(), 1)], Offset::Offset(14));
        let rewind: Vec<_> = batch
            .rewind_points()
            .into_iter()
            .map(|r| (r.partition, r.offset))
            .collect();
        assert_eq!(rewind, vec![(0, 10), (1, 5), (2, 7)]);
        assert!(batch.due(3, Duration::from_secs(60)));
        // A partition whose last record read is not processed yet keeps
        // the offset after its last processed record.
        batch.track(&record(1, 6));
        let offsets = batch.commit_offsets(|_, _| Some(20)).to_topic_map();
        assert_eq!(offsets[&("t".to_string(), 1)], Offset::Offset(6));
        batch.clear();
        assert!(batch.is_empty());
    }
}

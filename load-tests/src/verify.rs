//! Checking a benchmark's output: reading topics to their end, which ids
//! came back, how often.

use std::collections::HashMap;
use std::time::Duration;

use moneta_kafka::KafkaConfig;
use moneta_runtime::Guarantee;
use rdkafka::message::BorrowedMessage;

/// Reads every partition of `topic` from the beginning to its end as a
/// `read_committed` consumer sees it (see [`moneta_kafka::read_to_end`]),
/// calling `each` for every record; returns how many there were.
/// Transaction markers and aborted records are skipped, so the count is of
/// the records a processor reads. Fails after `limit`.
pub fn read_to_end(
    bootstrap: &str,
    topic: &str,
    limit: Duration,
    each: impl FnMut(&BorrowedMessage<'_>),
) -> anyhow::Result<u64> {
    let kafka = KafkaConfig::new(bootstrap);
    let reader = moneta_testkit::unique("bench-read");
    Ok(moneta_kafka::read_to_end(&kafka, topic, &reader, limit, each)?.records)
}

/// Records in `topics` a `read_committed` processor reads (see [`read_to_end`]).
pub fn count_records(bootstrap: &str, topics: &[String]) -> anyhow::Result<u64> {
    topics.iter().try_fold(0, |total, topic| {
        Ok(total + read_to_end(bootstrap, topic, COUNT_LIMIT, |_| ())?)
    })
}

/// Longest [`count_records`] reads one topic.
const COUNT_LIMIT: Duration = Duration::from_secs(300);

/// How the ids read back compare with the ids produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Distinct expected ids read back.
    pub unique: usize,
    /// Expected ids not read back.
    pub missing: usize,
    /// Records read back beyond the first of each id.
    pub duplicates: usize,
    /// Records read back whose id was not produced (or that had none).
    pub unexpected: usize,
}

/// Counts how often each `expected` id occurs in `read`; `None` stands for
/// a record without a readable id.
pub fn count_ids(expected: &[String], read: impl Iterator<Item = Option<String>>) -> Counts {
    let mut seen: HashMap<&str, usize> = expected.iter().map(|id| (id.as_str(), 0)).collect();
    let mut unexpected = 0;
    for id in read {
        match id.as_deref().and_then(|id| seen.get_mut(id)) {
            Some(n) => *n += 1,
            None => unexpected += 1,
        }
    }
    Counts {
        unique: seen.values().filter(|&&n| n > 0).count(),
        missing: seen.values().filter(|&&n| n == 0).count(),
        duplicates: seen.values().map(|&n| n.saturating_sub(1)).sum(),
        unexpected,
    }
}

/// Whether the output satisfies the guarantee, and what the guarantee
/// requires of it.
pub fn judge(guarantee: Guarantee, counts: &Counts) -> (bool, String) {
    match guarantee {
        Guarantee::AtLeastOnce => (
            counts.missing == 0 && counts.unexpected == 0,
            "every id must be present; duplicates are allowed and reported".into(),
        ),
        Guarantee::ExactlyOnce => (
            counts.missing == 0 && counts.duplicates == 0 && counts.unexpected == 0,
            "the read_committed output must equal the input: every id exactly once".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<Option<String>> {
        list.iter().map(|s| Some((*s).to_owned())).collect()
    }

    #[test]
    fn counts_missing_duplicate_and_unexpected_ids() {
        let expected: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let mut read = ids(&["a", "a", "b", "x", "a"]);
        read.push(None);
        assert_eq!(
            count_ids(&expected, read.into_iter()),
            Counts {
                unique: 2,
                missing: 1,
                duplicates: 2,
                unexpected: 2,
            }
        );
    }

    #[test]
    fn exactly_once_allows_no_duplicates_at_least_once_does() {
        let expected: Vec<String> = ["a", "b"].map(String::from).to_vec();
        let twice = count_ids(&expected, ids(&["a", "b", "b"]).into_iter());
        let exact = count_ids(&expected, ids(&["b", "a"]).into_iter());
        let short = count_ids(&expected, ids(&["a", "a"]).into_iter());
        assert!(judge(Guarantee::AtLeastOnce, &twice).0);
        assert!(!judge(Guarantee::ExactlyOnce, &twice).0);
        assert!(judge(Guarantee::ExactlyOnce, &exact).0);
        assert!(!judge(Guarantee::AtLeastOnce, &short).0);
        assert!(!judge(Guarantee::ExactlyOnce, &short).0);
    }
}

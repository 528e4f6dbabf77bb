//! Checking a benchmark's output: which ids came back, how often.

use std::collections::HashMap;

use moneta_runtime::Guarantee;

/// How the ids read back compare with the ids produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Distinct expected ids read back.
    pub unique: usize,
    /// Expected ids not read back.
    pub missing: usize,
    /// Records read back beyond the first of each id.
    pub duplicates: usize,
}

/// Counts how often each `expected` id occurs in `read`; other ids are ignored.
pub fn count_ids(expected: &[String], read: impl Iterator<Item = String>) -> Counts {
    let mut seen: HashMap<String, usize> = expected.iter().map(|id| (id.clone(), 0)).collect();
    for id in read {
        if let Some(n) = seen.get_mut(&id) {
            *n += 1;
        }
    }
    Counts {
        unique: seen.values().filter(|&&n| n > 0).count(),
        missing: seen.values().filter(|&&n| n == 0).count(),
        duplicates: seen.values().map(|&n| n.saturating_sub(1)).sum(),
    }
}

/// Whether the output satisfies the guarantee, and a note on how to read it.
pub fn judge(guarantee: Guarantee, counts: &Counts) -> (bool, String) {
    match guarantee {
        Guarantee::AtLeastOnce => (
            counts.missing == 0,
            "every id must be present; duplicates are allowed".into(),
        ),
        Guarantee::ExactlyOnce => (
            counts.missing == 0,
            "counts only: the mock cluster shows aborted records to read_committed readers".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_missing_and_duplicate_ids() {
        let expected: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let read = ["a", "a", "b", "x", "a"].map(String::from).into_iter();
        assert_eq!(
            count_ids(&expected, read),
            Counts {
                unique: 2,
                missing: 1,
                duplicates: 2
            }
        );
    }
}

//! How long Kafka keeps each class of data: every topic of the topology
//! belongs to one [`DataClass`], and `[topics.retention]` gives each class
//! its `retention.ms`.

use serde::{Deserialize, Serialize};

/// One day in milliseconds.
const DAY_MS: i64 = 86_400_000;

/// What a topic holds, which decides how long it is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DataClass {
    /// Partners' events and the steps they go through (ingest, partner
    /// ingress, validated, recorded, rejected): kept hot for 90 days.
    Events,
    /// What money and signed contracts rest on: countersigned contracts,
    /// the ledger, settlements and their adjustments, reconciliation
    /// reports, settlement comparisons: kept 7 years.
    Financial,
    /// Dead letters: kept long enough to be looked at and replayed.
    DeadLetters,
    /// The registry and contract changelogs: compacted, the latest record
    /// of every key kept.
    Changelog,
}

impl DataClass {
    /// The class's name in `moneta topics list`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataClass::Events => "events",
            DataClass::Financial => "financial",
            DataClass::DeadLetters => "dead_letters",
            DataClass::Changelog => "changelog",
        }
    }
}

/// `[topics.retention]`: `retention.ms` per data class; `-1` keeps records forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Contract events (90 days).
    pub events_ms: i64,
    /// Countersigned contracts, ledger, settlements, reconciliation reports (7 years).
    pub financial_ms: i64,
    /// Dead letters (30 days).
    pub dead_letters_ms: i64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            events_ms: 90 * DAY_MS,
            // 7 years of 365 days and the 2 leap days they hold at most.
            financial_ms: (7 * 365 + 2) * DAY_MS,
            dead_letters_ms: 30 * DAY_MS,
        }
    }
}

impl RetentionConfig {
    /// `retention.ms` of `class`; `None` for a compacted class.
    pub fn of(&self, class: DataClass) -> Option<i64> {
        match class {
            DataClass::Events => Some(self.events_ms),
            DataClass::Financial => Some(self.financial_ms),
            DataClass::DeadLetters => Some(self.dead_letters_ms),
            DataClass::Changelog => None,
        }
    }
}

//! What the console reads from Kafka (and writes back, replaying): given by
//! the process that serves it, which has the brokers' settings and the
//! codecs. The admin API itself never talks to Kafka.

use std::future::Future;
use std::pin::Pin;

/// A boxed future, as the trait's methods return.
pub type Pending<T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'static>>;

/// One record of a dead-letter topic, decoded where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// When it was dead-lettered, ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// Its key (a contract id), decoded.
    pub key: String,
    /// `topic/partition/offset` of the record that failed.
    pub source: String,
    /// The stable code of why.
    pub code: String,
    /// Why, for a person.
    pub reason: String,
    /// The value: JSON where it decodes, else a text excerpt.
    pub value: String,
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Records written back to their source topics.
    pub emitted: usize,
    /// Of those, contract events Moneta had already applied (replaying them
    /// changes nothing: effects are keyed by deterministic ids).
    pub already_applied: usize,
}

/// The settlements as finance exports them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettlementExport {
    /// One row per settlement or adjustment: the CSV's columns by name.
    pub rows: Vec<serde_json::Map<String, serde_json::Value>>,
    /// The same, as `moneta settlements export --format csv` writes it.
    pub csv: String,
    /// The parties' own settlements compared with Moneta's (reconcile-match's
    /// comparisons), by field name.
    pub comparisons: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Kafka, as the console needs it.
pub trait LogAccess: Send + Sync {
    /// The last `limit` records of dead-letter topic `topic`, oldest first.
    fn dead_letters(&self, topic: &str, limit: usize) -> Pending<Vec<DeadLetter>>;
    /// Writes the records of `topic` at `(partition, offset)` back to their
    /// source topics, as `moneta replay` does.
    fn replay(&self, topic: &str, records: Vec<(i32, i64)>) -> Pending<Replayed>;
    /// Every settlement and adjustment, with the parties' answers.
    fn settlements(&self) -> Pending<SettlementExport>;
}

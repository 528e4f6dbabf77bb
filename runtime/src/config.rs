//! The runtime's settings: processing guarantee, batching and timeouts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How records move between topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    /// Kafka transactions: outputs and input offsets commit atomically.
    ExactlyOnce,
    /// Idempotent producer; offsets committed after every output is acknowledged.
    AtLeastOnce,
}

impl Guarantee {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Guarantee::ExactlyOnce => "exactly_once",
            Guarantee::AtLeastOnce => "at_least_once",
        }
    }
}

impl std::fmt::Display for Guarantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[processing]`: how every processor commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessingConfig {
    /// `exactly_once` (the default: Kafka transactions) or `at_least_once`.
    pub guarantee: Guarantee,
    /// Prefix of consumer group ids and transactional ids.
    pub application_id: String,
    /// A batch (one transaction) commits at least this often, in ms.
    pub commit_interval_ms: u64,
    /// A batch commits once it holds this many input records (the interval
    /// bounds it first unless the rate is above 100,000 records/s). Each
    /// transaction costs about 30 ms of broker round trips whatever its
    /// size, so small batches cap a stage's throughput.
    pub max_batch_records: usize,
    /// Records taken from the consumer in one step (Kafka's
    /// `max.poll.records`): their decoding runs at once across the cores,
    /// then they are processed in order.
    pub max_poll_records: usize,
    /// Nice value of the processors' threads, their Kafka clients' and the
    /// decode threads (Linux; `moneta` gives it to the webhook worker too):
    /// above the edge's 0, so an HTTP request never waits for a batch to get
    /// a core. 0 shares the cores equally.
    pub thread_niceness: i32,
    /// Broker-side transaction timeout, in ms.
    pub transaction_timeout_ms: u64,
    /// Timeout of one blocking broker call (commit, flush, init), in ms.
    pub operation_timeout_ms: u64,
    /// Times a retriable commit error is retried before the batch is redone.
    pub commit_retries: u32,
    /// Consumer group session timeout, in ms.
    pub session_timeout_ms: u64,
    /// Longest gap between two polls before the instance leaves its group,
    /// in ms; also the rebalance timeout, i.e. how long a rebalance waits for
    /// members that died without leaving (SIGKILL) before going on.
    pub max_poll_interval_ms: u64,
    /// Static group membership (KIP-345): each instance joins its group as
    /// `<application_id>.<stage>.<instance>`, so a restarted instance gets
    /// its partitions back at once, without waiting `session_timeout_ms`
    /// for a rebalance. Off by default: an instance that stops for good
    /// keeps its partitions until its session times out, and with
    /// librdkafka a group coordinator that fails over more slowly than the
    /// session timeout can fence a live instance, which then stops.
    pub static_membership: bool,
    /// Upper bound on a graceful stop (SIGTERM/SIGINT), in ms.
    pub shutdown_timeout_ms: u64,
    /// First backoff after a transient processing failure, in ms (doubles, capped at 30 s).
    pub retry_backoff_ms: u64,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            guarantee: Guarantee::ExactlyOnce,
            application_id: "moneta".into(),
            commit_interval_ms: 100,
            max_batch_records: 10_000,
            max_poll_records: 500,
            thread_niceness: 10,
            transaction_timeout_ms: 60_000,
            operation_timeout_ms: 30_000,
            commit_retries: 5,
            session_timeout_ms: 10_000,
            max_poll_interval_ms: 60_000,
            static_membership: false,
            shutdown_timeout_ms: 10_000,
            retry_backoff_ms: 100,
        }
    }
}

impl ProcessingConfig {
    /// The commit interval as a duration.
    pub fn commit_interval(&self) -> Duration {
        Duration::from_millis(self.commit_interval_ms)
    }

    /// The timeout of one blocking broker call.
    pub fn operation_timeout(&self) -> Duration {
        Duration::from_millis(self.operation_timeout_ms)
    }

    /// The bound on a graceful stop.
    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

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

/// How an instance gets its input partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assignment {
    /// Consumer-group membership: the broker balances partitions between
    /// live instances (KIP-447 fencing under `exactly_once`).
    Group,
    /// Instance `n` of `instances` owns the partitions `p` with
    /// `p % instances == n`; no membership, so an instance that died without
    /// leaving never holds partitions hostage. Offsets are still committed
    /// under the group id. For brokers whose group coordinator is slow to
    /// drop dead members (tansu 0.6), and for fixed deployments.
    Static,
}

/// `[processing]`: how every processor commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessingConfig {
    /// `exactly_once` (needs broker transactions) or `at_least_once`.
    pub guarantee: Guarantee,
    /// Prefix of consumer group ids and transactional ids.
    pub application_id: String,
    /// A batch (one transaction) commits at least this often, in ms.
    pub commit_interval_ms: u64,
    /// A batch commits once it holds this many input records.
    pub max_batch_records: usize,
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
    /// `group` (default) or `static` partition assignment.
    pub assignment: Assignment,
    /// Number of instances of each stage, used by `static` assignment.
    pub instances: u32,
    /// Upper bound on a graceful stop (SIGTERM/SIGINT), in ms.
    pub shutdown_timeout_ms: u64,
    /// First backoff after a transient processing failure, in ms (doubles, capped at 30 s).
    pub retry_backoff_ms: u64,
    /// Longest the broker may hold a fetch waiting for records, in ms
    /// (librdkafka's `fetch.wait.max.ms`). Kafka answers as soon as records
    /// arrive; tansu 0.6 holds every fetch for about this long even when it
    /// has records, so on tansu it is a floor on each stage's latency:
    /// `moneta.toml` sets 25.
    pub fetch_wait_max_ms: u64,
}

impl Default for ProcessingConfig {
    fn default() -> Self {
        Self {
            guarantee: Guarantee::AtLeastOnce,
            application_id: "moneta".into(),
            commit_interval_ms: 100,
            max_batch_records: 1000,
            transaction_timeout_ms: 60_000,
            operation_timeout_ms: 30_000,
            commit_retries: 5,
            session_timeout_ms: 10_000,
            max_poll_interval_ms: 60_000,
            assignment: Assignment::Group,
            instances: 1,
            shutdown_timeout_ms: 10_000,
            retry_backoff_ms: 100,
            fetch_wait_max_ms: 500,
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

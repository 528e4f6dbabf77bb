//! Kafka clients written once: settings (the producer every writer uses,
//! the `read_committed` reader, the group member a processor is), reading a
//! topic to its end, the capability probe and topic administration. Every
//! crate that talks to Kafka configures it here.

mod admin;
mod lag;
mod login;
mod probe;
mod read;
mod settings;
mod topic_config;

pub use admin::{TopicSpec, TopicStatus, ensure_topics, missing_topics, partition_ids, watermarks};
pub use lag::{PartitionLag, group_lag, lag_reader};
pub use login::{LoginWatch, fetch_metadata};
pub use probe::{ApiKey, ApiRange, BrokerApis, ProbeError, probe_apis};
pub use read::{PartitionRange, ReadError, ReadSummary, TopicReader, read_to_end};
pub use settings::{KafkaConfig, is_secret_key};
pub use topic_config::{Drift, align_topics, topic_drift};

/// Header the ingest edge sets on each accepted event: the edge's clock in
/// milliseconds since the Unix epoch. Processors copy it to their outputs
/// and measure end-to-end latency from it; nothing decides on it.
pub const INGESTED_AT_HEADER: &str = "moneta-ingested-at-ms";

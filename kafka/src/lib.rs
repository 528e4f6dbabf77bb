//! Kafka clients written once: settings, the capability probe and topic
//! administration. Every crate that talks to Kafka configures it here.

mod admin;
mod probe;
mod settings;

pub use admin::{TopicSpec, TopicStatus, ensure_topics, missing_topics, partition_ids};
pub use probe::{ApiKey, ApiRange, BrokerApis, ProbeError, probe_apis};
pub use settings::{KafkaConfig, is_secret_key};

/// Header the ingest edge sets on each accepted event: the edge's clock in
/// milliseconds since the Unix epoch. Processors copy it to their outputs
/// and measure end-to-end latency from it; nothing decides on it.
pub const INGESTED_AT_HEADER: &str = "moneta-ingested-at-ms";

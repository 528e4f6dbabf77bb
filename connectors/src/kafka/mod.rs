//! Kafka: client settings, capability probe and topic administration.

mod admin;
mod probe;
mod settings;

pub use admin::{TopicSpec, TopicStatus, ensure_topics, partition_ids};
pub use probe::{ApiKey, ApiRange, BrokerApis, ProbeError, probe_apis};
pub use settings::{KafkaConfig, is_secret_key};

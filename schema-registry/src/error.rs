//! Errors of the registry and of its client helper.

use rdkafka::error::KafkaError;

/// Everything that can go wrong starting, running or calling the registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A Kafka client could not be created or a Kafka call failed.
    #[error("schema registry topic '{topic}': {source}")]
    Kafka {
        /// The registry topic.
        topic: String,
        /// The Kafka error.
        #[source]
        source: KafkaError,
    },
    /// The registry topic exists but cannot hold a registry log.
    #[error("schema registry topic '{topic}': {reason}")]
    Topic {
        /// The registry topic.
        topic: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the topic back failed or did not reach its end in time.
    #[error("replaying the schema registry topic: {0}")]
    Replay(#[from] moneta_kafka::ReadError),
    /// The HTTP listener could not be bound or served.
    #[error("schema registry HTTP server on {listen}: {source}")]
    Serve {
        /// The address.
        listen: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The registry URL given to the client is not a valid base URL.
    #[error("schema registry URL '{url}' is invalid: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The registry could not be reached or answered something unreadable.
    #[error("registering the schema for subject '{subject}' at {url}: {source}")]
    Http {
        /// The subject being registered.
        subject: String,
        /// The registry URL.
        url: String,
        /// The HTTP error.
        #[source]
        source: reqwest::Error,
    },
    /// The registry refused a schema as incompatible with the registered ones.
    #[error("schema for subject '{subject}' is incompatible: {message}")]
    Incompatible {
        /// The subject.
        subject: String,
        /// The registry's explanation.
        message: String,
    },
    /// The registry refused a schema for another reason.
    #[error(
        "schema for subject '{subject}' was refused (HTTP {status}, error {error_code}): {message}"
    )]
    Refused {
        /// The subject.
        subject: String,
        /// The HTTP status.
        status: u16,
        /// The Confluent error code.
        error_code: i64,
        /// The registry's explanation.
        message: String,
    },
}

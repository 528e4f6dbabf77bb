//! The runtime's errors: each says what failed and what to change.

use moneta_kafka::ProbeError;
use moneta_state::StateError;
use rdkafka::error::KafkaError;

/// Why a processor could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// `exactly_once` was asked for on a broker without transactions.
    #[error(
        "processing.guarantee = \"exactly_once\" needs Kafka transactions, but the broker at \
         {broker} does not implement {missing}. Set processing.guarantee = \"at_least_once\" \
         (environment: MONETA_PROCESSING__GUARANTEE=at_least_once), or point \
         kafka.bootstrap_servers at a broker with transaction support"
    )]
    NoTransactions {
        /// The broker that was asked.
        broker: String,
        /// The missing APIs, comma-separated.
        missing: String,
    },
    /// The broker could not be asked what it supports.
    #[error("cannot check the broker's capabilities: {0}")]
    Probe(#[from] ProbeError),
    /// A Kafka client call failed in a way the runtime cannot recover from.
    #[error("{what} failed: {source}")]
    Client {
        /// Which client or call.
        what: &'static str,
        /// The librdkafka error.
        #[source]
        source: KafkaError,
    },
    /// The consumer could not be moved back to a batch's first offsets; the
    /// processor stops so a restart resumes from the committed offsets.
    #[error("cannot rewind {topic}[{partition}] to offset {offset}: {source}")]
    Rewind {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Offset to rewind to.
        offset: i64,
        /// The librdkafka error.
        #[source]
        source: KafkaError,
    },
    /// Another instance with the same identity took over: this one is a
    /// zombie (stalled, or started twice) and stops without writing.
    #[error(
        "processor {processor} instance {instance} was fenced: another instance with the same \
         identity ({identity}) took over its partitions ({reason}); this one stops. Two running \
         instances of a stage must not share an instance number"
    )]
    Fenced {
        /// The processor.
        processor: String,
        /// Its instance number.
        instance: u32,
        /// Transactional id and group instance id.
        identity: String,
        /// What the broker said.
        reason: String,
    },
    /// The state store failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The processor thread could not be started or panicked.
    #[error("processor thread: {0}")]
    Thread(String),
}

impl RuntimeError {
    /// Maps a librdkafka error of the call `what` into a runtime error.
    pub fn client(what: &'static str) -> impl FnOnce(KafkaError) -> RuntimeError {
        move |source| RuntimeError::Client { what, source }
    }
}

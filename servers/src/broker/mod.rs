//! Apache Kafka on this machine: the pinned broker run from its jars in
//! KRaft mode, as the embedded broker of `moneta up` ([`LocalBroker`]) and
//! as the test harness's nodes and clusters ([`KafkaNode`], [`NodeSpec`]).
//!
//! - [`install`]: the pinned version and where Java and the jars are;
//! - [`node`]: one node process: its settings, format, start, stop;
//! - [`local`]: the supervised broker `moneta up` owns;
//! - [`secure`]: the optional `SASL_SSL` client listener.

mod install;
mod local;
mod node;
mod ownership;
mod secure;

use std::path::{Path, PathBuf};

pub use crate::jvm::MIN_JAVA;
pub use install::{Install, KAFKA_VERSION, LIBS_ENV, default_libs};
pub use local::{Local, LocalBroker, LocalOptions};
pub use node::{KafkaNode, NodeSpec, random_cluster_id};
pub use secure::{SCRAM_MECHANISMS, SaslSslListener};

/// Errors of the local broker, each saying how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No Java runtime.
    #[error(
        "Java not found (`{0}`): the embedded Kafka broker needs Java 17 or newer; \
         `scripts/setup.sh kafka` installs it (apt-get install openjdk-17-jre-headless), \
         or set broker.java to a java executable"
    )]
    JavaMissing(String),
    /// The Java runtime is older than the broker needs.
    #[error(
        "{java} is {found}; the embedded Kafka broker needs Java {MIN_JAVA} or newer: \
         `scripts/setup.sh kafka` installs it (apt-get install openjdk-17-jre-headless), \
         or set broker.java to a newer java executable"
    )]
    JavaTooOld {
        /// The java executable.
        java: String,
        /// The version it reported.
        found: String,
    },
    /// The Kafka jars are not where they should be.
    #[error(
        "Apache Kafka {KAFKA_VERSION} is not installed in {0}: run `scripts/setup.sh kafka` \
         (it fetches the jars with Maven from deploy/kafka/pom.xml), or point broker.kafka_libs \
         (or MONETA_KAFKA_LIBS) at a directory of its jars"
    )]
    JarsMissing(PathBuf),
    /// A port the broker needs is taken by a program that is not Kafka.
    #[error(
        "{address} ({setting}) is taken by a program that is not a Kafka broker: stop it \
         (`ss -ltnp` shows which) or choose another address with {setting}"
    )]
    PortTaken {
        /// The address.
        address: String,
        /// The setting that names it.
        setting: &'static str,
    },
    /// Another live process owns the directory, but its broker does not answer.
    #[error(
        "another moneta process owns the broker in {dir}, but nothing answers on {listen}; \
         stop that process or use another broker.data_dir"
    )]
    OwnedElsewhere {
        /// The broker directory.
        dir: String,
        /// The address nothing answers on.
        listen: String,
    },
    /// A file or process operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The `SASL_SSL` listener's settings are unusable.
    #[error("the broker's SASL_SSL listener: {0}")]
    SaslSsl(String),
    /// `StorageTool format` failed.
    #[error("formatting the broker's storage failed ({status}):\n{output}")]
    Format {
        /// Exit status.
        status: String,
        /// The end of its output.
        output: String,
    },
    /// The broker exited while starting.
    #[error(
        "the Kafka broker exited while starting ({status}); its log ({log}) ends with:\n{tail}"
    )]
    Exited {
        /// Exit status.
        status: String,
        /// The log directory.
        log: String,
        /// The log's last lines.
        tail: String,
    },
    /// The broker did not answer in time.
    #[error(
        "the Kafka broker on {listen} did not become ready within {seconds} s; its log ({log}) ends with:\n{tail}"
    )]
    NotReady {
        /// Client address.
        listen: String,
        /// The limit in seconds.
        seconds: u64,
        /// The log directory.
        log: String,
        /// The log's last lines.
        tail: String,
    },
}

impl BrokerError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_owned(),
            source,
        }
    }
}

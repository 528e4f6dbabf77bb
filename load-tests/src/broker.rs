//! The broker a benchmark runs against: Apache Kafka (the pinned version,
//! one KRaft node) started on free ports with fresh data, as `moneta up`
//! starts its embedded broker.

use anyhow::Context as _;
use moneta_servers::broker::KAFKA_VERSION;

/// A running broker, stopped when dropped.
pub struct Broker {
    broker: moneta_testkit::Broker,
}

impl Broker {
    /// Starts a single-node Kafka on free ports with a fresh data directory.
    pub fn kafka() -> anyhow::Result<Self> {
        Ok(Self {
            broker: moneta_testkit::Broker::start()
                .context("starting Apache Kafka (install it with `scripts/setup.sh kafka`)")?,
        })
    }

    /// `host:port` clients connect to.
    pub fn bootstrap_servers(&self) -> String {
        self.broker.bootstrap_servers().to_owned()
    }

    /// Name and version, e.g. `Apache Kafka 4.1.1 (KRaft, one node)`.
    pub fn label(&self) -> String {
        format!("Apache Kafka {KAFKA_VERSION} (KRaft, one node)")
    }

    /// Process id of the broker.
    pub fn pid(&self) -> Option<u32> {
        self.broker.pid()
    }

    /// Creates `topics` with `partitions` partitions each (replication 1).
    pub fn create_topics(
        &self,
        tokio: &tokio::runtime::Runtime,
        topics: &[&str],
        partitions: i32,
    ) -> anyhow::Result<()> {
        tokio
            .block_on(moneta_testkit::kafka::create_topics(
                self.broker.bootstrap_servers(),
                topics,
                partitions,
            ))
            .context("creating topics")
    }
}

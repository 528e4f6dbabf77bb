//! The brokers a benchmark runs against: a real tansu process or
//! librdkafka's in-process mock cluster.

use std::process::Command;

use anyhow::Context as _;
use moneta_testkit::{MockCluster, TestTansu};
use rdkafka::producer::DefaultProducerContext;

/// A running broker, stopped when dropped.
pub enum Broker {
    /// A tansu process on a free port (no transactions).
    Tansu(TestTansu),
    /// librdkafka's mock cluster, with transactions.
    Mock(MockCluster<'static, DefaultProducerContext>),
}

impl Broker {
    /// Starts tansu on a free port with a fresh data directory.
    pub fn tansu() -> anyhow::Result<Self> {
        Ok(Self::Tansu(moneta_testkit::tansu().context(
            "starting tansu (install it with `cargo install tansu`, or set TANSU_BIN)",
        )?))
    }

    /// Starts a one-broker mock cluster.
    pub fn mock() -> anyhow::Result<Self> {
        Ok(Self::Mock(
            MockCluster::new(1).context("starting the mock cluster")?,
        ))
    }

    /// `host:port` clients connect to.
    pub fn bootstrap_servers(&self) -> String {
        match self {
            Self::Tansu(tansu) => tansu.bootstrap_servers().to_owned(),
            Self::Mock(cluster) => cluster.bootstrap_servers(),
        }
    }

    /// Name and version, e.g. `tansu 0.6.0`.
    pub fn label(&self) -> String {
        match self {
            Self::Tansu(_) => tansu_version().unwrap_or_else(|| "tansu (unknown version)".into()),
            Self::Mock(_) => format!(
                "librdkafka mock cluster {}",
                rdkafka::util::get_rdkafka_version().1
            ),
        }
    }

    /// Creates `topics` with `partitions` partitions each (replication 1).
    pub fn create_topics(
        &self,
        tokio: &tokio::runtime::Runtime,
        topics: &[&str],
        partitions: i32,
    ) -> anyhow::Result<()> {
        match self {
            Self::Tansu(tansu) => tokio
                .block_on(moneta_testkit::kafka::create_topics(
                    tansu.bootstrap_servers(),
                    topics,
                    partitions,
                ))
                .context("creating topics on tansu"),
            Self::Mock(cluster) => topics.iter().try_for_each(|topic| {
                cluster
                    .create_topic(topic, partitions, 1)
                    .with_context(|| format!("creating {topic} on the mock cluster"))
            }),
        }
    }

    /// Lines of the broker's own log that report warnings or errors
    /// (tansu only; the mock cluster logs through librdkafka).
    pub fn log_problems(&self) -> Vec<String> {
        let Self::Tansu(tansu) = self else {
            return Vec::new();
        };
        let log = tansu.broker.data_dir().join("tansu.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains("ERROR") || line.contains("WARN"))
            .map(str::to_owned)
            .collect()
    }
}

/// `tansu --version`, e.g. `tansu 0.6.0`.
fn tansu_version() -> Option<String> {
    let binary = std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into());
    let path = moneta_connectors::tansu::find_binary(&binary).ok()?;
    let output = Command::new(path).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    (output.status.success() && !text.is_empty()).then_some(text)
}

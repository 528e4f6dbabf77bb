//! Test harness: real broker processes on free ports.
//!
//! - [`tansu`]: a tansu process with a fresh data directory (at-least-once tests);
//! - [`MockCluster`]: librdkafka's own mock cluster, with transactions and
//!   error injection (exactly-once tests); `moneta broker mock` runs one in
//!   its own process when a test must kill the processor but keep the broker.

pub mod kafka;

use std::net::TcpListener;

pub use moneta_connectors::tansu::{Tansu, TansuOptions};
pub use rdkafka::mocking::MockCluster;

/// A running tansu and the temporary directory that holds its data.
pub struct TestTansu {
    /// The broker; dropped (stopped) before its directory.
    pub broker: Tansu,
    /// The data directory, removed when dropped.
    pub dir: tempfile::TempDir,
}

impl TestTansu {
    /// `host:port` of the broker.
    pub fn bootstrap_servers(&self) -> &str {
        self.broker.bootstrap_servers()
    }
}

/// Starts tansu on a free loopback port with a fresh data directory.
pub fn tansu() -> anyhow::Result<TestTansu> {
    let dir = tempfile::tempdir()?;
    let broker = Tansu::start(TansuOptions {
        binary: std::env::var("TANSU_BIN").unwrap_or_else(|_| "tansu".into()),
        listen: format!("127.0.0.1:{}", free_port()?),
        data_dir: dir.path().join("broker"),
    })?;
    Ok(TestTansu { broker, dir })
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A unique name for a topic or group, so tests sharing a broker never collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

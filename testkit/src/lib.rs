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

/// librdkafka's mock cluster in its own process (`moneta broker mock`), so a
/// test can SIGKILL a processor and keep the broker; killed when dropped.
pub struct MockProcess {
    child: std::process::Child,
    bootstrap: String,
}

impl MockProcess {
    /// Starts `program broker mock` (the `moneta` binary) and reads its bootstrap servers.
    pub fn spawn(program: &std::path::Path) -> anyhow::Result<Self> {
        use std::io::BufRead;
        let mut child = std::process::Command::new(program)
            .args(["broker", "mock"])
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut line = String::new();
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let bootstrap = line.trim().to_owned();
        anyhow::ensure!(
            !bootstrap.is_empty(),
            "mock broker printed no bootstrap servers"
        );
        Ok(Self { child, bootstrap })
    }

    /// `host:port,…` of the mock brokers.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for MockProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A whole Moneta under test: an Apache Kafka broker (one KRaft node, the
//! pinned version) and a `moneta up` process on free ports (embedded state,
//! embedded schema registry, admin API, ingest edge, webhook worker and
//! every stage of the chain, `exactly_once`), seeded with the simulated
//! partner network.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::broker::Broker;

/// The admin token of the process under test.
pub const TOKEN: &str = "load-tests-admin-token";

/// A running `moneta up` and the broker it uses; both stopped when dropped.
pub struct Hub {
    child: Child,
    /// Ingest edge `host:port`.
    pub ingest: String,
    /// Admin API `host:port`.
    pub admin: String,
    /// `/metrics` `host:port`.
    pub metrics: String,
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// Its log file.
    pub log: PathBuf,
    /// The broker (dropped after the process).
    pub broker: Broker,
    /// State, configuration and log; removed when dropped.
    _dir: tempfile::TempDir,
}

impl Drop for Hub {
    fn drop(&mut self) {
        // SIGTERM first so the stages commit and leave; then make sure.
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `moneta` binary: `$MONETA_BIN`, else `target/release/moneta` of
/// this workspace.
pub fn moneta_binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MONETA_BIN") {
        return Ok(PathBuf::from(path));
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"));
    let path = target.join("release").join("moneta");
    if !path.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p moneta-cli` (or set MONETA_BIN)",
            path.display()
        );
    }
    Ok(path)
}

impl Hub {
    /// Starts Kafka and `moneta up` (with `extra` TOML appended to its
    /// configuration) against it; waits until the edge answers.
    pub fn start(extra: &str) -> anyhow::Result<Self> {
        let binary = moneta_binary()?;
        let broker = Broker::kafka()?;
        let bootstrap = broker.bootstrap_servers();
        let dir = tempfile::Builder::new().prefix("moneta-load-").tempdir()?;
        let port = || moneta_testkit::free_port().map(|p| format!("127.0.0.1:{p}"));
        let (ingest, admin, registry, metrics) = (port()?, port()?, port()?, port()?);
        let config = dir.path().join("moneta.toml");
        std::fs::write(
            &config,
            config_toml(&bootstrap, dir.path(), &ingest, &admin, &registry, &metrics) + extra,
        )?;
        let log = dir.path().join("moneta.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(&binary)
            .arg("--config")
            .arg(&config)
            .arg("up")
            .env("MONETA_ADMIN__TOKEN", TOKEN)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut hub = Self {
            child,
            ingest,
            admin,
            metrics,
            bootstrap,
            log,
            broker,
            _dir: dir,
        };
        hub.wait_ready()?;
        Ok(hub)
    }

    /// Pid of `moneta up`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Pid of the broker's JVM.
    pub fn broker_pid(&self) -> Option<u32> {
        self.broker.pid()
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(&self.ingest).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("moneta up exited ({status}): {}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!("moneta up did not start in 90 s: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Lines of its log at WARN or ERROR.
    pub fn log_problems(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("ERROR") || l.contains("WARN"))
            .map(str::to_owned)
            .collect()
    }

    /// The ingest edge's base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.ingest)
    }
}

/// The configuration of the process under test: the defaults (exactly_once,
/// consumer groups with cooperative rebalancing) on free ports against the
/// generator's broker (`moneta up` starts none of its own), with loopback
/// webhooks allowed for the local receiver.
fn config_toml(
    bootstrap: &str,
    dir: &Path,
    ingest: &str,
    admin: &str,
    registry: &str,
    metrics: &str,
) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[processing]
guarantee = "exactly_once"
[broker]
embedded = false
[state]
dir = "{state}"
[admin]
listen = "{admin}"
[ingest]
listen = "{ingest}"
[schema_registry]
listen = "{registry}"
[metrics]
listen = "{metrics}"
[signing]
key_file = "{key}"
[log]
level = "warn"
[processors.copy]
enabled = false
[webhooks]
allow_loopback = true
allow_http = true
"#,
        state = dir.join("state").display(),
        key = dir.join("signing.key").display(),
    )
}

/// The sum of every sample of `metric` whose labels contain all of `labels`.
pub fn metric_sum(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_labelled_samples() {
        let text = "# HELP x\nmoneta_records_in_total{processor=\"validate\"} 10\n\
                    moneta_records_in_total{processor=\"countersign\"} 4\n\
                    moneta_records_in_total_other 99\n";
        assert_eq!(
            metric_sum(text, "moneta_records_in_total", &["\"validate\""]),
            10.0
        );
        assert_eq!(metric_sum(text, "moneta_records_in_total", &[]), 14.0);
    }
}

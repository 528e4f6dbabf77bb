//! The `moneta up` harness the end-to-end tests share: one process against a
//! real broker, its ports, its log, and the admin API.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::ensure;
use serde_json::Value;

pub const TOKEN: &str = "signing-path-test-token";

/// A `moneta up` process and where it listens.
pub struct Moneta {
    child: Child,
    /// The configuration file.
    pub config: PathBuf,
    /// Ingest edge address.
    pub ingest: String,
    /// Admin API address.
    pub admin: String,
    /// Schema registry address.
    pub registry: String,
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// `/metrics`, `/healthz`, `/readyz` address.
    pub metrics: String,
    /// What this process's topic names start with (`topics.prefix`): tests
    /// share one broker, each with topics, groups and transactional ids of
    /// its own.
    pub prefix: String,
    log: PathBuf,
}

impl Drop for Moneta {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moneta {
    /// Starts `moneta up` (`exactly_once`) on free ports, state in `dir`,
    /// plus `extra` TOML.
    pub fn start(bootstrap: &str, dir: &Path, extra: &str) -> anyhow::Result<Self> {
        Self::start_with(bootstrap, dir, "exactly_once", extra)
    }

    /// [`Moneta::start`] under the given processing guarantee.
    pub fn start_with(
        bootstrap: &str,
        dir: &Path,
        guarantee: &str,
        extra: &str,
    ) -> anyhow::Result<Self> {
        let port = || moneta_testkit::free_port().map(|p| format!("127.0.0.1:{p}"));
        let (ingest, admin, registry, metrics) = (port()?, port()?, port()?, port()?);
        let prefix = format!("{}.", moneta_testkit::unique("t"));
        let config = dir.join("moneta.toml");
        let base = format!(
            r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[processing]
guarantee = "{guarantee}"
application_id = "{prefix}moneta"
session_timeout_ms = 3000
[topics]
prefix = "{prefix}"
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
[processors.copy]
enabled = false
input = "moneta.copy.input"
output = "moneta.copy.output"
dead_letter = "moneta.copy.dlq"
"#,
            state = dir.join("state").display(),
            key = dir.join("signing.key").display(),
        );
        std::fs::write(&config, merge_toml(&base, extra)?)?;
        let log = dir.join("moneta.log");
        let child = spawn(&config, &log)?;
        let mut moneta = Self {
            child,
            config,
            ingest,
            admin,
            registry,
            bootstrap: bootstrap.to_owned(),
            metrics,
            prefix,
            log,
        };
        moneta.wait_ready()?;
        Ok(moneta)
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        // The edge and the admin API start side by side: wait for both.
        for listen in [self.ingest.clone(), self.admin.clone()] {
            while std::net::TcpStream::connect(&listen).is_err() {
                if let Some(status) = self.child.try_wait()? {
                    anyhow::bail!(
                        "moneta up exited ({status}) before {listen} was served: {}",
                        self.problems()
                    );
                }
                ensure!(
                    Instant::now() < deadline,
                    "moneta up did not serve {listen} within 60 s: {}",
                    self.problems()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Ok(())
    }

    /// SIGKILLs the process and starts it again on the same ports and state.
    pub fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill_then(|| Ok(()))
    }

    /// SIGKILLs the process, runs `meanwhile`, and starts it again on the
    /// same ports and state.
    pub fn kill_then(
        &mut self,
        meanwhile: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        meanwhile()?;
        // The ports are free again once the process is gone.
        self.child = spawn(&self.config, &self.log)?;
        self.wait_ready()
    }

    /// The last lines of the process's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The log's warnings and errors, or its tail if it has none.
    pub fn problems(&self) -> String {
        let log = self.full_log();
        let problems: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.starts_with("moneta: ")
                    || l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("panicked")
            })
            .take(40)
            .collect();
        if problems.is_empty() {
            self.log_tail()
        } else {
            problems.join("\n")
        }
    }

    /// The whole log of the process (every restart appends).
    pub fn full_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `moneta seed-demo` against it.
    pub fn seed(&self) -> anyhow::Result<()> {
        let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
            .arg("--config")
            .arg(&self.config)
            .arg("seed-demo")
            .env("MONETA_ADMIN__TOKEN", TOKEN)
            .output()?;
        ensure!(
            out.status.success(),
            "seed-demo: {}\nmoneta up's log ends:\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail()
        );
        Ok(())
    }

    /// The name of topic `name` (as the default configuration names it) here.
    pub fn topic(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// The ingest edge's base URL.
    pub fn base(&self) -> String {
        format!("http://{}", self.ingest)
    }

    /// POSTs `body` to the admin API.
    pub async fn admin(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = reqwest::Client::new()
            .post(format!("http://{}/v1/admin{path}", self.admin))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "admin {path}: {status} {body}");
        Ok(body)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn scrape(&self) -> anyhow::Result<String> {
        Ok(reqwest::get(format!("http://{}/metrics", self.metrics))
            .await?
            .text()
            .await?)
    }

    /// The value of the first sample of `metric` whose labels contain every one of `labels`.
    pub fn sample(text: &str, metric: &str, labels: &[&str]) -> Option<f64> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.starts_with(metric) && l[metric.len()..].starts_with(['{', ' ']))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .find_map(|l| l.rsplit(' ').next().and_then(|v| v.parse().ok()))
    }

    /// GETs an admin API path.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = reqwest::Client::new()
            .get(format!("http://{}/v1/admin{path}", self.admin))
            .bearer_auth(TOKEN)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "admin {path}: {status} {body}");
        Ok(body)
    }
}

/// `base` with the tables and keys of `extra` merged in (extra wins).
fn merge_toml(base: &str, extra: &str) -> anyhow::Result<String> {
    fn merge(into: &mut toml::Table, from: toml::Table) {
        for (key, value) in from {
            match (into.get_mut(&key), value) {
                (Some(toml::Value::Table(inner)), toml::Value::Table(more)) => merge(inner, more),
                (_, value) => {
                    into.insert(key, value);
                }
            }
        }
    }
    let mut config: toml::Table = base.parse()?;
    merge(&mut config, extra.parse()?);
    Ok(toml::to_string(&config)?)
}

fn spawn(config: &Path, log: &Path) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Ok(Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(config)
        .arg("up")
        .env("MONETA_ADMIN__TOKEN", TOKEN)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

impl Moneta {
    /// Like [`Moneta::start`], but the process logs with the `RUST_LOG`
    /// filter `rust_log` (e.g. `trace`), for tests that scan the log.
    pub fn start_logging(
        bootstrap: &str,
        dir: &Path,
        extra: &str,
        rust_log: &str,
    ) -> anyhow::Result<Self> {
        let mut moneta = Self::start(bootstrap, dir, extra)?;
        moneta.restart_logging(rust_log)?;
        Ok(moneta)
    }

    /// SIGKILLs the process and starts it again (same ports and state),
    /// logging with the `RUST_LOG` filter `rust_log`.
    pub fn restart_logging(&mut self, rust_log: &str) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.child = spawn_logging(&self.config, &self.log, rust_log)?;
        self.wait_ready()
    }
}

fn spawn_logging(config: &Path, log: &Path, rust_log: &str) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    Ok(Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(config)
        .arg("up")
        .env("MONETA_ADMIN__TOKEN", TOKEN)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?)
}

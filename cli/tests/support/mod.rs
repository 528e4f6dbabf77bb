//! The harness the end-to-end tests share: Moneta against a real broker,
//! as one `moneta up` or scaled out over many `moneta run` processes, its
//! ports, its logs, and the admin API.

#![allow(dead_code)]

pub mod chaos;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use moneta_ingest::PartnerClient;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::Value;

pub const TOKEN: &str = "signing-path-test-token";

/// How Moneta runs in a test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Everything in one `moneta up`.
    Up,
    /// As production runs it: the schema registry, the admin API, the edge,
    /// the webhook worker and every stage in processes of their own
    /// (`moneta run …`, `moneta admin serve`), two instances each of
    /// validate and countersign sharing their consumer groups.
    ScaledOut,
}

/// The processes of [`Layout::ScaledOut`], in start order: a name and the
/// arguments after `moneta --config <file>`.
pub const SCALED_OUT: &[(&str, &[&str])] = &[
    ("schema-registry", &["run", "schema-registry"]),
    ("admin", &["admin", "serve"]),
    ("edge", &["run", "edge"]),
    ("webhook-worker", &["run", "webhook-worker"]),
    ("validate-0", &["run", "validate", "--instance", "0"]),
    ("validate-1", &["run", "validate", "--instance", "1"]),
    ("template-check-0", &["run", "template-check"]),
    ("countersign-0", &["run", "countersign", "--instance", "0"]),
    ("countersign-1", &["run", "countersign", "--instance", "1"]),
    ("webhook-dispatch-0", &["run", "webhook-dispatch"]),
    ("ledger-0", &["run", "ledger"]),
    ("settle-aggregate-0", &["run", "settle-aggregate"]),
    ("reconcile-match-0", &["run", "reconcile-match"]),
];

/// One process of a run.
struct Process {
    /// `up`, or a name of [`SCALED_OUT`].
    name: &'static str,
    args: &'static [&'static str],
    child: Child,
    log: PathBuf,
}

/// Moneta's processes and where they listen.
pub struct Moneta {
    layout: Layout,
    processes: Vec<Process>,
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
    /// The `RUST_LOG` filter the processes run with.
    rust_log: String,
    dir: PathBuf,
    /// `http`, or `https` once [`Moneta::speak_tls`] was called.
    scheme: &'static str,
    /// The client for the edge and the admin API.
    http: reqwest::Client,
}

impl Drop for Moneta {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.child.kill();
            let _ = process.child.wait();
        }
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
        Self::start_as(Layout::Up, bootstrap, dir, guarantee, extra)
    }

    /// Starts Moneta in `layout` under `guarantee`, plus `extra` TOML.
    pub fn start_as(
        layout: Layout,
        bootstrap: &str,
        dir: &Path,
        guarantee: &str,
        extra: &str,
    ) -> anyhow::Result<Self> {
        Self::launch(layout, bootstrap, dir, guarantee, extra, "info")
    }

    /// [`Moneta::start`] logging with the `RUST_LOG` filter `rust_log` from
    /// its first start on (no restart, unlike [`Moneta::start_logging`]).
    pub fn start_traced(
        bootstrap: &str,
        dir: &Path,
        extra: &str,
        rust_log: &str,
    ) -> anyhow::Result<Self> {
        Self::launch(Layout::Up, bootstrap, dir, "exactly_once", extra, rust_log)
    }

    fn launch(
        layout: Layout,
        bootstrap: &str,
        dir: &Path,
        guarantee: &str,
        extra: &str,
        rust_log: &str,
    ) -> anyhow::Result<Self> {
        let mut moneta = Self::configure(layout, bootstrap, dir, guarantee, extra)?;
        moneta.rust_log = rust_log.into();
        match layout {
            Layout::Up => moneta.spawn("up", &["up"])?,
            Layout::ScaledOut => {
                // What `moneta up` does for itself, and production's
                // moneta-init: topics and the countersigning key first.
                moneta.command(&["topics", "create"])?;
                moneta.command(&["signing-key", "generate"])?;
                for (name, args) in SCALED_OUT {
                    moneta.spawn(name, args)?;
                    if *name == "schema-registry" {
                        // Every other process registers its schemas there.
                        let registry = moneta.registry.clone();
                        moneta.wait_for_port(&registry)?;
                    }
                }
            }
        }
        moneta.wait_ready()?;
        Ok(moneta)
    }

    /// Writes the configuration Moneta runs on in `layout` (every listener
    /// on a free port, state in `dir`, `guarantee`, plus `extra` TOML) and
    /// starts nothing.
    pub fn configure(
        layout: Layout,
        bootstrap: &str,
        dir: &Path,
        guarantee: &str,
        extra: &str,
    ) -> anyhow::Result<Self> {
        moneta_tls::install_crypto_provider();
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
url = "{registry_url}"
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
            // Scaled out, every process finds the registry process here;
            // `moneta up` serves its own (an empty url).
            registry_url = match layout {
                Layout::Up => String::new(),
                Layout::ScaledOut => format!("http://{registry}"),
            },
        );
        std::fs::write(&config, merge_toml(&base, extra)?)?;
        Ok(Self {
            layout,
            processes: Vec::new(),
            config,
            ingest,
            admin,
            registry,
            bootstrap: bootstrap.to_owned(),
            metrics,
            prefix,
            rust_log: "info".into(),
            dir: dir.to_owned(),
            scheme: "http",
            http: reqwest::Client::new(),
        })
    }

    /// Runs `moneta <args>` on this configuration to completion.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("MONETA_ADMIN__TOKEN", TOKEN)
            .output()?;
        ensure!(
            out.status.success(),
            "moneta {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Starts process `name` (`moneta <args>`), its log appended to `<name>.log`.
    fn spawn(&mut self, name: &'static str, args: &'static [&'static str]) -> anyhow::Result<()> {
        let log = self.dir.join(if self.layout == Layout::Up {
            "moneta.log".to_owned()
        } else {
            format!("{name}.log")
        });
        let child = spawn(
            &self.config,
            &log,
            args,
            &self.rust_log,
            self.serves_metrics(name),
        )?;
        self.processes.push(Process {
            name,
            args,
            child,
            log,
        });
        Ok(())
    }

    /// Scaled out, only the edge serves `/metrics` (on `metrics.listen`).
    fn serves_metrics(&self, name: &str) -> bool {
        self.layout == Layout::Up || name == "edge"
    }

    fn wait_ready(&mut self) -> anyhow::Result<()> {
        // The edge and the admin API start side by side: wait for both.
        for listen in [self.ingest.clone(), self.admin.clone()] {
            self.wait_for_port(&listen)?;
        }
        Ok(())
    }

    /// Waits until something accepts connections on `listen`; fails if a
    /// process exits meanwhile, or after 60 s.
    fn wait_for_port(&mut self, listen: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(listen).is_err() {
            for process in &mut self.processes {
                if let Some(status) = process.child.try_wait()? {
                    let name = process.name;
                    anyhow::bail!(
                        "{name} exited ({status}) before {listen} was served: {}",
                        self.problems()
                    );
                }
            }
            ensure!(
                Instant::now() < deadline,
                "{listen} not served within 60 s: {}",
                self.problems()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(())
    }

    /// Stops every process with SIGTERM, as an operator does, and waits
    /// (30 s at most) until each has exited 0.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        for process in &self.processes {
            kill(Pid::from_raw(process.child.id() as i32), Signal::SIGTERM)?;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        for process in &mut self.processes {
            loop {
                if let Some(status) = process.child.try_wait()? {
                    ensure!(status.success(), "{} exited {status}", process.name);
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "{} did not stop within 30 s",
                    process.name
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }

    /// The names of the processes, in start order.
    pub fn process_names(&self) -> Vec<&'static str> {
        self.processes.iter().map(|p| p.name).collect()
    }

    /// SIGKILLs every process and starts them again on the same ports and state.
    pub fn kill_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill_then(|| Ok(()))
    }

    /// SIGKILLs every process, runs `meanwhile`, and starts them again on
    /// the same ports and state.
    pub fn kill_then(
        &mut self,
        meanwhile: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let stopped: Vec<Process> = self.processes.drain(..).collect();
        let mut again = Vec::new();
        for mut process in stopped {
            process.child.kill()?;
            process.child.wait()?;
            again.push((process.name, process.args));
        }
        meanwhile()?;
        // The ports are free again once the processes are gone.
        for (name, args) in again {
            self.spawn(name, args)?;
            if name == "schema-registry" {
                let registry = self.registry.clone();
                self.wait_for_port(&registry)?;
            }
        }
        self.wait_ready()
    }

    /// SIGKILLs process `name` alone and starts it again.
    pub fn kill_and_restart_one(&mut self, name: &str) -> anyhow::Result<()> {
        let at = self
            .processes
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| anyhow::anyhow!("no process {name}"))?;
        let mut process = self.processes.remove(at);
        process.child.kill()?;
        process.child.wait()?;
        self.spawn(process.name, process.args)?;
        self.wait_ready()
    }

    /// The nice value of each thread named `thread` in process `name`
    /// (Linux: `/proc/<pid>/task/*/stat`).
    pub fn niceness_of_threads(&self, name: &str, thread: &str) -> anyhow::Result<Vec<i32>> {
        let process = self
            .processes
            .iter()
            .find(|p| p.name == name)
            .with_context(|| format!("no process {name}"))?;
        let mut found = Vec::new();
        for task in std::fs::read_dir(format!("/proc/{}/task", process.child.id()))? {
            let stat = std::fs::read_to_string(task?.path().join("stat")).unwrap_or_default();
            let Some((head, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            if head.split_once('(').is_some_and(|(_, comm)| comm == thread) {
                // Fields from the 3rd on; the nice value is the 19th.
                let nice = rest.split_whitespace().nth(16).context("nice field")?;
                found.push(nice.parse()?);
            }
        }
        Ok(found)
    }

    /// The last lines of every process's log.
    pub fn log_tail(&self) -> String {
        let lines = if self.processes.len() > 1 { 10 } else { 40 };
        self.logs()
            .map(|(name, text)| {
                let tail: Vec<&str> = text.lines().rev().take(lines).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                if self.processes.len() > 1 {
                    format!("--- {name} ---\n{}", tail.join("\n"))
                } else {
                    tail.join("\n")
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Each process's name and whole log.
    fn logs(&self) -> impl Iterator<Item = (&'static str, String)> + '_ {
        self.processes
            .iter()
            .map(|p| (p.name, std::fs::read_to_string(&p.log).unwrap_or_default()))
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

    /// The whole log of every process (every restart appends).
    pub fn full_log(&self) -> String {
        self.logs().map(|(_, text)| text).collect()
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
        format!("{}://{}", self.scheme, self.ingest)
    }

    /// The admin API's base URL (`…/v1/admin`).
    pub fn admin_base(&self) -> String {
        format!("{}://{}/v1/admin", self.scheme, self.admin)
    }

    /// From now on talks HTTPS to the edge and the admin API (both must
    /// serve TLS), trusting the CA in `ca` and presenting `identity`.
    pub fn speak_tls(
        &mut self,
        ca: &Path,
        identity: Option<&moneta_tls::ClientIdentity>,
    ) -> anyhow::Result<()> {
        let tls = moneta_tls::client_config(Some(ca), identity)?;
        self.http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .build()?;
        self.scheme = "https";
        Ok(())
    }

    /// The client for the edge and the admin API.
    pub fn http(&self) -> reqwest::Client {
        self.http.clone()
    }

    /// POSTs `body` to the admin API.
    pub async fn admin(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.admin_base()))
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

    /// Waits until no stage has taken an input record for `quiet` (the sum
    /// of `moneta_records_in_total` unchanged), `limit` at most: the
    /// pipeline has done what the log holds, so what the store holds can be
    /// compared with a rebuild from the log (after a graceful [`stop`]).
    ///
    /// [`stop`]: Moneta::stop
    pub async fn wait_quiet(&self, quiet: Duration, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let (mut last, mut since) = (f64::NAN, Instant::now());
        loop {
            let text = self.scrape().await?;
            let taken: f64 = text
                .lines()
                .filter(|l| l.starts_with("moneta_records_in_total{"))
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            if taken != last {
                (last, since) = (taken, Instant::now());
            } else if since.elapsed() >= quiet {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "the stages still took records after {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// GETs an admin API path.
    pub async fn admin_get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.admin_base()))
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

fn spawn(
    config: &Path,
    log: &Path,
    args: &[&str],
    rust_log: &str,
    metrics: bool,
) -> anyhow::Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let mut command = Command::new(env!("CARGO_BIN_EXE_moneta"));
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("MONETA_ADMIN__TOKEN", TOKEN)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(log);
    if !metrics {
        command.env("MONETA_METRICS__LISTEN", "");
    }
    Ok(command.spawn()?)
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

    /// SIGKILLs the processes and starts them again (same ports and state),
    /// logging with the `RUST_LOG` filter `rust_log`.
    pub fn restart_logging(&mut self, rust_log: &str) -> anyhow::Result<()> {
        rust_log.clone_into(&mut self.rust_log);
        self.kill_and_restart()
    }
}

/// Fails if any of `secrets` (what it is, its text) appears in `log`, which
/// must be a `trace`-level log of a real run (so that an empty or quiet log
/// cannot pass). The secret scan every end-to-end test with secrets uses.
pub fn assert_no_secrets(log: &str, secrets: &[(&str, String)]) -> anyhow::Result<()> {
    ensure!(
        log.len() > 100_000 && log.contains("TRACE"),
        "the log is not a trace-level log ({} bytes)",
        log.len()
    );
    for (what, secret) in secrets {
        ensure!(!secret.is_empty(), "the {what} to look for is empty");
        ensure!(
            !log.contains(secret.as_str()),
            "the {what} appears in the log"
        );
    }
    Ok(())
}

/// Waits for `event_id` (submitted by `client`) to reach `state`.
pub async fn wait_for(
    client: &PartnerClient,
    event_id: &str,
    state: &str,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = client.get(&format!("/v1/events/{event_id}")).await?;
        let steps = reply.body["steps"].as_array().cloned().unwrap_or_default();
        if steps.iter().any(|s| s["state"] == state) {
            return Ok(reply.body);
        }
        if let Some(rejected) = steps.iter().find(|s| s["state"] == "rejected") {
            bail!("{event_id} rejected: {rejected}");
        }
        ensure!(
            Instant::now() < deadline,
            "{event_id} never {state}: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A charge signed by both parties, countersigned by Moneta; returns the
/// contract as its MO reads it.
pub async fn countersigned_contract(moneta: &Moneta, contract_id: &str) -> anyhow::Result<Value> {
    let terms = subscription_charge(contract_id);
    let (globe, acme) = (
        GLOBE.client(&moneta.base()).with_http(moneta.http()),
        ACME.client(&moneta.base()).with_http(moneta.http()),
    );
    let body = globe.submission(&format!("{contract_id}-publisher"), &terms, "publisher")?;
    let reply = globe.submit("subscription_charges", &body, None).await?;
    ensure!(reply.status == 202, "publisher: {}", reply.body);
    wait_for(&globe, &format!("{contract_id}-publisher"), "recorded").await?;
    let body = acme.submission(&format!("{contract_id}-mo"), &terms, "mo")?;
    let reply = acme.submit("subscription_charges", &body, None).await?;
    ensure!(reply.status == 202, "mo: {}", reply.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = acme.get(&format!("/v1/contracts/{contract_id}")).await?;
        if reply.status == 200 && reply.body["signatures"].get("moneta").is_some() {
            return Ok(reply.body);
        }
        ensure!(
            Instant::now() < deadline,
            "{contract_id} never countersigned: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Serves `app` on a free port of 127.0.0.1 in the background; its address.
pub async fn serve(app: axum::Router) -> anyhow::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// A webhook receiver for the parties' endpoints: keeps every body POSTed
/// to `/{to}` (`to` names the receiving organization), answers 204.
#[derive(Clone, Default)]
pub struct Inbox(std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>);

impl Inbox {
    /// Serves the inbox on a free loopback port.
    pub async fn serve(&self) -> anyhow::Result<std::net::SocketAddr> {
        use axum::extract::{Path, State};
        async fn receive(
            State(inbox): State<Inbox>,
            Path(to): Path<String>,
            body: axum::body::Bytes,
        ) -> axum::http::StatusCode {
            if let (Ok(json), Ok(mut all)) =
                (serde_json::from_slice::<Value>(&body), inbox.0.lock())
            {
                all.push((to, json));
            }
            axum::http::StatusCode::NO_CONTENT
        }
        let app = axum::Router::new()
            .route("/{to}", axum::routing::post(receive))
            .with_state(self.clone());
        serve(app).await
    }

    /// The `data` of the messages of `event_type` that `to` received so far.
    pub fn of_type(&self, to: &str, event_type: &str) -> Vec<Value> {
        self.0
            .lock()
            .map(|all| {
                all.iter()
                    .filter(|(path, body)| path == to && body["type"] == event_type)
                    .map(|(_, body)| body["data"].clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits (60 s at most) until `to` received a message of `event_type`
    /// about `contract`; its `data`.
    pub async fn wait_for(
        &self,
        to: &str,
        event_type: &str,
        contract: &str,
    ) -> anyhow::Result<Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(data) = self
                .of_type(to, event_type)
                .into_iter()
                .find(|d| d["contract_id"] == contract)
            {
                return Ok(data);
            }
            ensure!(
                Instant::now() < deadline,
                "{to} never received {event_type} for {contract}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Polls `client`'s event `event_id` until it reaches step `want` (60 s at
/// most); fails as soon as it is rejected unless `want` is `rejected`.
/// Returns the event's last status document.
pub async fn wait_event(
    client: &PartnerClient,
    event_id: &str,
    want: &str,
) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = client.get(&format!("/v1/events/{event_id}")).await?;
        if reply.body["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["state"] == want))
        {
            return Ok(reply.body);
        }
        ensure!(
            want == "rejected" || reply.body["status"] != "rejected",
            "{event_id} rejected: {}",
            reply.body
        );
        ensure!(
            Instant::now() < deadline,
            "{event_id} never reached {want}: {}",
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Signs `terms` as `partner`, submits them to `/v1/events/{domain}` as
/// event `event_id` and waits until it reaches `want`.
pub async fn submit_as(
    moneta: &Moneta,
    partner: moneta_topology::demo::DemoPartner,
    domain: &str,
    event_id: &str,
    terms: &moneta_domain::ContractTerms,
    want: &str,
) -> anyhow::Result<Value> {
    let client = partner.client(&moneta.base());
    let body = client.submission(event_id, terms, partner.party)?;
    let reply = client.submit(domain, &body, None).await?;
    ensure!(
        reply.status == 202,
        "{event_id}: {} {}",
        reply.status,
        reply.body
    );
    wait_event(&client, event_id, want).await
}

/// A partner producing its signed events straight to
/// `moneta.contracts.partner-ingress`, as docs/contracts.md ("Producing to
/// Kafka directly") describes: Avro `ContractEvent` in the Confluent wire
/// format (schemas from Moneta's registry), keyed by the contract id.
pub struct PartnerIngress {
    codec: moneta_avro::AvroCodec,
    producer: rdkafka::producer::ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    topic: String,
}

impl PartnerIngress {
    /// A producer to `moneta`'s partner-ingress topic.
    pub fn new(moneta: &Moneta) -> anyhow::Result<Self> {
        Ok(Self {
            codec: moneta_avro::AvroCodec::new(&format!("http://{}", moneta.registry))?,
            producer: moneta_testkit::kafka::client(&moneta.bootstrap).create()?,
            topic: moneta.topic("moneta.contracts.partner-ingress"),
        })
    }

    /// The event `event_id`: `terms` signed (ed25519 over the canonical
    /// terms) by `partner` as its party, with no edge fields (source Kafka).
    pub fn event(
        partner: moneta_topology::demo::DemoPartner,
        event_id: &str,
        terms: &moneta_domain::ContractTerms,
    ) -> anyhow::Result<moneta_avro::ContractEvent> {
        let party = match partner.party {
            "mo" => moneta_avro::Party::Mo,
            "publisher" => moneta_avro::Party::Publisher,
            other => bail!("no party {other}"),
        };
        let signed_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs();
        Ok(moneta_avro::ContractEvent {
            event_id: event_id.into(),
            contract: moneta_avro::ContractTerms {
                contract_id: terms.contract_id.clone(),
                contract_type: terms.contract_type.clone(),
                template_name: terms.template_name.clone(),
                template_version: i32::try_from(terms.template_version)?,
                mo_id: terms.mo_id.clone(),
                publisher_id: terms.publisher_id.clone(),
                mpass_id: terms.mpass_id.clone(),
                description: terms.description.clone(),
                terms_json: terms.terms.to_string(),
            },
            signature: moneta_avro::PartySignature {
                party,
                key_id: partner.key_id.into(),
                signature: moneta_signing::sign_ed25519(
                    &partner.signing_key(),
                    &terms.signing_input()?,
                ),
                signed_at: i64::try_from(signed_at)?,
            },
            source: moneta_avro::Source::Kafka,
            submitted_by: None,
            received_at_ms: None,
        })
    }

    /// Produces `event` and waits for the broker's acknowledgement.
    pub async fn send(&self, event: &moneta_avro::ContractEvent) -> anyhow::Result<()> {
        use rdkafka::producer::Producer;
        let key = self
            .codec
            .encode_key(&self.topic, &event.contract.contract_id)
            .await?;
        let value = self
            .codec
            .encode(&self.topic, moneta_avro::SchemaName::ContractEvent, event)
            .await?;
        moneta_testkit::kafka::produce_raw(&self.producer, &self.topic, Some(&key), &value)?;
        self.producer.flush(Duration::from_secs(10))?;
        Ok(())
    }

    /// Signs `terms` as `partner`, produces them as event `event_id`, and
    /// waits (following the event as `partner` at `GET /v1/events/{id}`)
    /// until it reaches `want`. Returns the event's status document.
    pub async fn produce(
        &self,
        moneta: &Moneta,
        partner: moneta_topology::demo::DemoPartner,
        event_id: &str,
        terms: &moneta_domain::ContractTerms,
        want: &str,
    ) -> anyhow::Result<Value> {
        self.send(&Self::event(partner, event_id, terms)?).await?;
        wait_event(&partner.client(&moneta.base()), event_id, want).await
    }
}

impl Inbox {
    /// Registers a webhook endpoint for each party that delivers `types`
    /// into this inbox (`/acme` for the MO, `/globe` for the publisher),
    /// ids `wh-acme-<tag>` and `wh-globe-<tag>`.
    pub async fn subscribe(
        &self,
        moneta: &Moneta,
        addr: std::net::SocketAddr,
        tag: &str,
        types: &[&str],
    ) -> anyhow::Result<()> {
        for (org, path) in [
            (ACME.organization_id, "acme"),
            (GLOBE.organization_id, "globe"),
        ] {
            moneta
                .admin(
                    "/webhook-endpoints",
                    serde_json::json!({"id": format!("wh-{path}-{tag}"), "organization_id": org,
                           "url": format!("http://{addr}/{path}"), "event_types": types,
                           "enabled": true, "secret": null, "created_at": 0}),
                )
                .await?;
        }
        Ok(())
    }
}

/// Waits (30 s at most) until the event `event_id` of `client` has one
/// `delivered` step per party, and says `delivered`.
pub async fn wait_delivered_to_both(client: &PartnerClient, event_id: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let event = client.get(&format!("/v1/events/{event_id}")).await?.body;
        let mut delivered_to: Vec<&str> = event["steps"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["state"] == "delivered")
            .filter_map(|s| s["stage"].as_str())
            .collect();
        delivered_to.sort_unstable();
        let want = [
            format!("webhook-delivery:{}", ACME.organization_id),
            format!("webhook-delivery:{}", GLOBE.organization_id),
        ];
        if delivered_to == want {
            ensure!(event["status"] == "delivered", "{event}");
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "delivered steps: {event}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The MO's dispute `id` of `amount_minor` against charge `charge`.
pub fn dispute(id: &str, charge: &str, amount: i64) -> moneta_domain::ContractTerms {
    moneta_domain::ContractTerms {
        contract_id: id.into(),
        contract_type: "dispute".into(),
        template_name: "dispute".into(),
        template_version: 2,
        mo_id: ACME.organization_id.into(),
        publisher_id: GLOBE.organization_id.into(),
        mpass_id: None,
        description: "member says the service never started".into(),
        terms: serde_json::json!({"charge_contract_id": charge, "reason": "not_received",
                      "amount_minor": amount, "currency": "EUR", "opened_at": "2026-11-10T00:00:00Z",
                      "details": "no access since the 1st; ticket 118"}),
    }
}

/// The resolution `id` of dispute `dispute_id` against charge `charge`.
pub fn resolution(
    id: &str,
    dispute_id: &str,
    charge: &str,
    outcome: &str,
    amount: i64,
) -> moneta_domain::ContractTerms {
    moneta_domain::ContractTerms {
        contract_id: id.into(),
        contract_type: "dispute_resolution".into(),
        template_name: "dispute-resolution".into(),
        template_version: 1,
        mo_id: ACME.organization_id.into(),
        publisher_id: GLOBE.organization_id.into(),
        mpass_id: None,
        description: "agreed".into(),
        terms: serde_json::json!({"dispute_contract_id": dispute_id, "charge_contract_id": charge,
                      "outcome": outcome, "amount_minor": amount, "currency": "EUR",
                      "resolved_at": "2026-11-20T00:00:00Z"}),
    }
}

//! The embedded Apache Kafka broker as users meet it: `moneta up` runs the
//! demo exactly once on it, and a broker never outlives the `moneta` that
//! owns it, not even a SIGKILLed one; the next `moneta` starts its own.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const LIMIT: Duration = Duration::from_secs(120);

fn address() -> anyhow::Result<String> {
    Ok(format!("127.0.0.1:{}", moneta_testkit::free_port()?))
}

/// A configuration with an embedded broker of its own on free ports.
fn write_config(dir: &Path, extra: &str) -> anyhow::Result<std::path::PathBuf> {
    let (listen, controller) = (address()?, address()?);
    let config = dir.join("moneta.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[kafka]
bootstrap_servers = "{listen}"
[broker]
embedded = true
listen = "{listen}"
controller_listen = "{controller}"
data_dir = "{broker}"
heap_mb = 512
[state]
dir = "{state}"
{extra}
"#,
            broker = dir.join("broker").display(),
            state = dir.join("state").display(),
        ),
    )?;
    Ok(config)
}

fn moneta(config: &Path, args: &[&str], log: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)?,
        )
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)?,
        )
        .spawn()?)
}

fn wait_for_line(child: &mut Child, log: &Path, line: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + LIMIT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.lines().any(|l| l.starts_with(line)) {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("moneta exited ({status}) before `{line}`:\n{text}");
        }
        ensure!(
            Instant::now() < deadline,
            "no `{line}` within {LIMIT:?}:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn broker_pid(dir: &Path) -> anyhow::Result<Pid> {
    let text =
        std::fs::read_to_string(dir.join("broker").join("broker.pid")).context("broker.pid")?;
    Ok(Pid::from_raw(text.trim().parse()?))
}

fn alive(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

fn wait_gone(pid: Pid, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        ensure!(
            Instant::now() < deadline,
            "broker {pid} still runs after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// SIGTERM and wait: a graceful stop exits 0.
fn stop(mut child: Child) -> anyhow::Result<()> {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
    let status = child.wait()?;
    ensure!(status.success(), "moneta stopped with {status}");
    Ok(())
}

#[test]
fn a_broker_never_outlives_a_sigkilled_moneta_and_the_next_one_starts_its_own() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let config = write_config(dir.path(), "")?;
    let log = dir.path().join("moneta.log");

    let mut first = moneta(&config, &["broker", "start"], &log)?;
    wait_for_line(&mut first, &log, "ready ")?;
    let broker = broker_pid(dir.path())?;
    first.kill()?; // SIGKILL: moneta cannot stop its broker itself
    first.wait()?;
    wait_gone(broker, Duration::from_secs(30))?;

    // The next `moneta` on the same directory starts a broker of its own
    // on the data the first one left.
    std::fs::write(&log, "")?;
    let mut second = moneta(&config, &["broker", "start"], &log)?;
    wait_for_line(&mut second, &log, "ready ")?;
    let restarted = broker_pid(dir.path())?;
    ensure!(restarted != broker, "a new broker process");
    stop(second)?;
    wait_gone(restarted, Duration::from_secs(5))
}

#[test]
fn moneta_up_runs_the_demo_exactly_once_on_its_embedded_broker() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ports = [address()?, address()?, address()?, address()?];
    let config = write_config(
        dir.path(),
        &format!(
            "[admin]\nlisten = \"{}\"\ntoken = \"embedded-test-token\"\n[ingest]\nlisten = \"{}\"\n\
             [schema_registry]\nlisten = \"{}\"\n[metrics]\nlisten = \"{}\"\n\
             [signing]\nkey_file = \"{}\"\n[webhooks]\nallow_loopback = true\nallow_http = true\n",
            ports[0],
            ports[1],
            ports[2],
            ports[3],
            dir.path().join("signing.key").display()
        ),
    )?;
    let log = dir.path().join("moneta.log");
    let mut up = moneta(&config, &["up"], &log)?;
    wait_for_line(&mut up, &log, "Moneta is up.")?;
    let text = std::fs::read_to_string(&log)?;
    ensure!(
        text.contains("embedded Apache Kafka 4.1.1, started in"),
        "{text}"
    );
    ensure!(text.contains("guarantee   exactly_once"), "{text}");
    let broker = broker_pid(dir.path())?;

    for demo in ["seed-demo", "submit-demo"] {
        let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
            .arg("--config")
            .arg(&config)
            .arg(demo)
            .output()?;
        let shown = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ensure!(
            out.status.success(),
            "{demo}: {shown}\n--- moneta up ---\n{}",
            std::fs::read_to_string(&log)?
        );
        if demo == "submit-demo" {
            ensure!(shown.contains("every signature verifies"), "{shown}");
        }
    }
    stop(up)?;
    wait_gone(broker, Duration::from_secs(5))
}

/// The pid of the Cassandra whose data lies under `dir`.
fn cassandra_pid(dir: &Path) -> anyhow::Result<Pid> {
    let marker = format!("-Dcassandra.storagedir={}", dir.display());
    for entry in std::fs::read_dir("/proc")?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if cmdline
            .split(|b| *b == 0)
            .any(|arg| arg.starts_with(marker.as_bytes()))
        {
            return Ok(Pid::from_raw(pid));
        }
    }
    anyhow::bail!("no Cassandra process with {marker}")
}

#[test]
fn moneta_up_cql_runs_on_a_local_cassandra_that_never_outlives_it() -> anyhow::Result<()> {
    if !moneta_testkit::cql::installed_or_skip("moneta up --cql")? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let cql = address()?;
    let config = write_config(
        dir.path(),
        &format!("scylla_nodes = \"{cql}\"\nscylla_keyspace = \"moneta_up\"\n"),
    )?;
    let log = dir.path().join("moneta.log");
    let mut up = moneta(&config, &["up", "--cql"], &log)?;
    wait_for_line(&mut up, &log, "cql ")?;
    wait_for_line(&mut up, &log, "Moneta is up.")?;
    let cassandra = cassandra_pid(&dir.path().join("state").join("cassandra").join("data"))?;
    ensure!(
        std::net::TcpStream::connect(&cql).is_ok(),
        "nothing serves CQL on {cql}"
    );
    up.kill()?; // SIGKILL: moneta cannot stop its Cassandra itself
    up.wait()?;
    wait_gone(cassandra, Duration::from_secs(60))
}

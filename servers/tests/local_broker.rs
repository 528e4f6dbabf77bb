//! The embedded broker's life: it starts, serves transactions, is reused by
//! a second owner-to-be, is restarted when it dies, and refuses a port taken
//! by something else with the fix in the message. That it never outlives a
//! SIGKILLed owner is tested on `moneta` itself (cli/tests/embedded_broker.rs).

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use moneta_kafka::{ApiKey, probe_apis};
use moneta_servers::broker::{BrokerError, Local, LocalBroker, LocalOptions, default_libs};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn options(dir: &Path) -> anyhow::Result<LocalOptions> {
    let port = || moneta_testkit::free_port().map(|p| format!("127.0.0.1:{p}"));
    Ok(LocalOptions {
        java: "java".into(),
        libs: default_libs(),
        listen: port()?,
        controller: port()?,
        dir: dir.to_owned(),
        heap_mb: 512,
        settings: Default::default(),
        sasl_ssl: None,
    })
}

fn started(local: Local) -> LocalBroker {
    match local {
        Local::Started(broker) => broker,
        Local::Reused => panic!("expected a broker of its own"),
    }
}

fn broker_pid(dir: &Path) -> anyhow::Result<Pid> {
    let text = std::fs::read_to_string(dir.join("broker.pid"))?;
    Ok(Pid::from_raw(text.trim().parse()?))
}

fn alive(pid: Pid) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, r)| !r.trim_start().starts_with('Z'))
    })
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn the_embedded_broker_starts_serves_transactions_and_is_reused_not_restarted() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let options = options(dir.path())?;
    let mut broker = started(LocalBroker::start_or_reuse(options.clone())?);
    let apis = probe_apis(&options.listen, Duration::from_secs(5))?;
    assert!(apis.missing_transaction_apis().is_empty());
    assert!(apis.supports(ApiKey::EndTxn));
    let pid = broker_pid(dir.path())?;

    // A second `moneta up` on the same directory uses the running broker.
    assert!(matches!(
        LocalBroker::start_or_reuse(options.clone())?,
        Local::Reused
    ));
    assert_eq!(broker_pid(dir.path())?, pid);

    broker.stop();
    assert!(!alive(pid), "the broker outlived its stop");
    // Started again on the same data: formatted once, reused after.
    let _broker = started(LocalBroker::start_or_reuse(options)?);
    assert_ne!(broker_pid(dir.path())?, pid);
    Ok(())
}

#[test]
fn a_broker_that_dies_is_restarted_by_its_owner() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let options = options(dir.path())?;
    let _broker = started(LocalBroker::start_or_reuse(options.clone())?);
    let first = broker_pid(dir.path())?;
    kill(first, Signal::SIGKILL)?;
    wait_until("a new broker process", Duration::from_secs(120), || {
        broker_pid(dir.path()).is_ok_and(|pid| pid != first)
            && probe_apis(&options.listen, Duration::from_millis(500)).is_ok()
    })
}

#[test]
fn a_port_taken_by_another_program_is_refused_with_the_setting_to_change() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut options = options(dir.path())?;
    let squatter = TcpListener::bind("127.0.0.1:0")?;
    options.listen = squatter.local_addr()?.to_string();
    let error = LocalBroker::start_or_reuse(options.clone()).expect_err("port is taken");
    assert!(matches!(error, BrokerError::PortTaken { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains(&options.listen), "{text}");
    assert!(text.contains("broker.listen"), "{text}");
    Ok(())
}

#[test]
fn missing_jars_are_reported_with_the_setup_command() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut options = options(dir.path())?;
    options.libs = dir.path().join("no-kafka");
    let error = LocalBroker::start_or_reuse(options).expect_err("no jars");
    assert!(
        error.to_string().contains("scripts/setup.sh kafka"),
        "{error}"
    );
    Ok(())
}

//! `moneta offsets reset`: refused while the stage runs; once it is
//! stopped, `earliest` makes it reprocess its input and `latest` skips it.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::ensure;
use moneta_testkit::kafka::{produce_ids, read_topic};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn moneta(config: &Path, args: &[&str]) -> anyhow::Result<Output> {
    Ok(Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(config)
        .args(args)
        .output()?)
}

fn start(config: &Path, log: &Path) -> anyhow::Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(config)
        .args(["run", "copy"])
        .stdout(Stdio::null())
        .stderr(File::options().create(true).append(true).open(log)?)
        .spawn()?)
}

fn stop(mut child: Child) -> anyhow::Result<()> {
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
    let status = child.wait()?;
    ensure!(status.success(), "copy did not stop cleanly: {status}");
    Ok(())
}

fn wait_output(bootstrap: &str, topic: &str, want: usize) -> anyhow::Result<usize> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = read_topic(bootstrap, topic, usize::MAX, Duration::from_secs(1))?.len();
        if n >= want || Instant::now() > deadline {
            return Ok(n);
        }
    }
}

#[test]
fn reset_is_refused_while_running_and_moves_offsets_when_stopped() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("moneta.toml");
    let prefix = format!("{}.", moneta_testkit::unique("offsets"));
    std::fs::write(
        &config,
        format!(
            "[kafka]\nbootstrap_servers = \"{bootstrap}\"\n[processing]\napplication_id = \"{prefix}moneta\"\n\
             session_timeout_ms = 3000\n[topics]\nprefix = \"{prefix}\"\n\
             [state]\ndir = \"{}\"\n[metrics]\nlisten = \"\"\n",
            dir.path().join("state").display()
        ),
    )?;
    let topic = |name: &str| format!("{prefix}{name}");
    let created = moneta(&config, &["topics", "create"])?;
    ensure!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let log = dir.path().join("copy.log");
    produce_ids(
        &bootstrap,
        &topic("moneta.copy.input"),
        (0..100).map(|i| format!("r-{i}")),
    )?;

    let running = start(&config, &log)?;
    ensure!(wait_output(&bootstrap, &topic("moneta.copy.output"), 100)? == 100);
    let refused = moneta(&config, &["offsets", "reset", "copy", "--to", "earliest"])?;
    ensure!(
        !refused.status.success(),
        "a reset while copy runs must be refused"
    );
    let why = String::from_utf8_lossy(&refused.stderr);
    ensure!(
        why.contains("running") || why.contains("active member"),
        "{why}"
    );
    stop(running)?;

    let reset = moneta(&config, &["offsets", "reset", "copy", "--to", "earliest"])?;
    ensure!(
        reset.status.success(),
        "{}",
        String::from_utf8_lossy(&reset.stderr)
    );
    let again = start(&config, &log)?;
    let n = wait_output(&bootstrap, &topic("moneta.copy.output"), 200)?;
    ensure!(
        n == 200,
        "after a reset to earliest the input is reprocessed: {n} outputs"
    );
    stop(again)?;

    produce_ids(
        &bootstrap,
        &topic("moneta.copy.input"),
        (100..150).map(|i| format!("r-{i}")),
    )?;
    let skip = moneta(&config, &["offsets", "reset", "copy", "--to", "latest"])?;
    ensure!(
        skip.status.success(),
        "{}",
        String::from_utf8_lossy(&skip.stderr)
    );
    let last = start(&config, &log)?;
    std::thread::sleep(Duration::from_secs(5));
    let n = read_topic(
        &bootstrap,
        &topic("moneta.copy.output"),
        usize::MAX,
        Duration::from_secs(2),
    )?
    .len();
    ensure!(
        n == 200,
        "after a reset to latest the 50 new records are skipped: {n} outputs"
    );
    stop(last)?;
    Ok(())
}

//! A listener whose port is taken fails `moneta up`'s start, naming the
//! listener and the address, instead of leaving a process that runs without
//! answering there (before, the log only warned, or said the task stopped).

mod support;

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::ensure;
use support::{Layout, Moneta};

/// Longest `moneta up` may take to give up on a taken port.
const LIMIT: Duration = Duration::from_secs(90);

/// How `child` exited (waiting [`LIMIT`] at most; killed if it still runs).
fn exit_of(mut child: Child) -> anyhow::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() > deadline {
            child.kill()?;
            child.wait()?;
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_taken_port_fails_the_start_and_names_the_listener() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let listeners = [
        ("ingest", "ingest edge"),
        ("admin", "admin API"),
        ("metrics", "metrics and health endpoints"),
        ("schema_registry", "schema registry"),
    ];
    for (section, what) in listeners {
        // Another process's port: bound and held for the whole start.
        let holder = std::net::TcpListener::bind("127.0.0.1:0")?;
        let taken = holder.local_addr()?.to_string();
        let dir = tempfile::tempdir()?;
        let taken_here = format!("[{section}]\nlisten = \"{taken}\"\n");
        let file = Moneta::configure(
            Layout::Up,
            &bootstrap,
            dir.path(),
            "exactly_once",
            &taken_here,
        )?
        .config
        .clone();
        let log = dir.path().join("moneta.log");
        let child = Command::new(env!("CARGO_BIN_EXE_moneta"))
            .arg("--config")
            .arg(&file)
            .arg("up")
            .env("RUST_LOG", "warn")
            .env("MONETA_ADMIN__TOKEN", support::TOKEN)
            .stdout(std::fs::File::create(dir.path().join("stdout.log"))?)
            .stderr(std::fs::File::create(&log)?)
            .spawn()?;
        let status = exit_of(child)?;
        let stderr = std::fs::read_to_string(&log)?;
        let Some(status) = status else {
            anyhow::bail!(
                "[{section}] listen on a taken port: moneta up still ran after {LIMIT:?}: {stderr}"
            );
        };
        ensure!(
            !status.success(),
            "[{section}]: moneta up exited 0: {stderr}"
        );
        let want = format!("binding the {what} to {taken}");
        ensure!(
            stderr.contains(&want),
            "[{section}]: no `{want}` in what moneta said: {stderr}"
        );
        drop(holder);
    }
    Ok(())
}

//! 50,000 records through `moneta run copy` (at_least_once) on a real tansu
//! process while the processor process is SIGKILLed and restarted. Every
//! input id must reach the output, and the effect keyed by record id must be
//! applied exactly 50,000 times.

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moneta_state::EffectLedger;
use moneta_testkit::kafka::{create_topics, id_of, produce_ids, read_topic};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

const RECORDS: usize = 50_000;
const KILLS: usize = 4;

struct Processor {
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Processor {
    fn start(&mut self) -> anyhow::Result<()> {
        let log = File::options().create(true).append(true).open(&self.log)?;
        let child = Command::new(env!("CARGO_BIN_EXE_moneta"))
            .args(["--config"])
            .arg(&self.config)
            .args(["run", "copy"])
            .env("RUST_LOG", "warn,moneta_runtime=info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    fn sigkill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?; // SIGKILL
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait: a graceful stop must exit 0.
    fn stop(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| anyhow::anyhow!("not running"))?;
        kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        anyhow::bail!("processor did not stop within 30 s of SIGTERM")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Processor {
    fn drop(&mut self) {
        let _ = self.sigkill();
    }
}

fn write_config(
    dir: &Path,
    bootstrap: &str,
    input: &str,
    output: &str,
    dlq: &str,
) -> anyhow::Result<PathBuf> {
    let path = dir.join("moneta.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[kafka]
bootstrap_servers = "{bootstrap}"
[processing]
guarantee = "at_least_once"
commit_interval_ms = 100
session_timeout_ms = 6000
max_poll_interval_ms = 10000
assignment = "static"
[state]
dir = "{state}"
[processors.copy]
enabled = true
input = "{input}"
output = "{output}"
dead_letter = "{dlq}"
"#,
            state = dir.join("state").display()
        ),
    )?;
    Ok(path)
}

#[test]
fn sigkilled_at_least_once_processor_loses_nothing_and_applies_each_effect_once()
-> anyhow::Result<()> {
    let broker = moneta_testkit::tansu()?;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let dir = tempfile::tempdir()?;
    let (input, output, dlq) = (
        moneta_testkit::unique("kill-in"),
        moneta_testkit::unique("kill-out"),
        moneta_testkit::unique("kill-dlq"),
    );
    tokio::runtime::Runtime::new()?.block_on(create_topics(
        &bootstrap,
        &[&input, &output, &dlq],
        3,
    ))?;
    let mut processor = Processor {
        config: write_config(dir.path(), &bootstrap, &input, &output, &dlq)?,
        log: dir.path().join("processor.log"),
        child: None,
    };

    // Input arrives in chunks while the processor runs and is killed.
    let ids: Vec<String> = (0..RECORDS).map(|i| format!("rec-{i:06}")).collect();
    let producer = {
        let (bootstrap, input, ids) = (bootstrap.clone(), input.clone(), ids.clone());
        std::thread::spawn(move || -> anyhow::Result<()> {
            for chunk in ids.chunks(RECORDS / 10) {
                produce_ids(&bootstrap, &input, chunk.to_vec())?;
                std::thread::sleep(Duration::from_millis(700));
            }
            Ok(())
        })
    };

    processor.start()?;
    for kill_no in 1..=KILLS {
        std::thread::sleep(Duration::from_millis(1_500 + 500 * kill_no as u64));
        processor.sigkill()?;
        eprintln!("SIGKILL {kill_no} sent");
        std::thread::sleep(Duration::from_millis(200));
        processor.start()?;
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;

    // Wait until every id reached the output.
    let deadline = Instant::now() + Duration::from_secs(240);
    let expected: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let (outputs, seen) = loop {
        let out = read_topic(&bootstrap, &output, usize::MAX, Duration::from_secs(3))?;
        let seen: HashSet<String> = out.iter().filter_map(id_of).collect();
        if seen.len() >= RECORDS || Instant::now() > deadline {
            break (out.len(), seen);
        }
        std::thread::sleep(Duration::from_secs(2));
    };
    let missing = expected.iter().filter(|id| !seen.contains(**id)).count();
    assert_eq!(
        missing,
        0,
        "{missing} ids missing; processor log:\n{}",
        processor.log_tail()
    );

    let status = processor.stop()?;
    assert!(
        status.success(),
        "graceful stop exited {status}; log:\n{}",
        processor.log_tail()
    );

    let ledger = EffectLedger::open(&dir.path().join("state").join("copy-0"))?;
    let totals = ledger.totals()?;
    eprintln!(
        "records={RECORDS} kills={KILLS} outputs={outputs} (duplicates {}) effects applied={} duplicates recognised={}",
        outputs - RECORDS,
        totals.new,
        totals.duplicates
    );
    assert_eq!(ledger.len()?, RECORDS as u64);
    assert_eq!(
        totals.new, RECORDS as u64,
        "each effect applied exactly once"
    );
    Ok(())
}

//! Records through `moneta run copy` while the processor process is
//! SIGKILLed (mid-transaction) and restarted, again and again, on the real
//! broker; the effect keyed by record id must be applied once per id.
//!
//! - `exactly_once`: the `read_committed` output equals the input record
//!   for record: nothing lost, nothing twice, in order per partition;
//! - `at_least_once`: every input id reaches the output (repeats allowed).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use moneta_state::EffectLedger;
use moneta_testkit::kafka::{
    assert_record_for_record, create_topics, id_of, produce_ids, read_topic,
};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

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
    guarantee: &str,
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
guarantee = "{guarantee}"
application_id = "{dlq}"
commit_interval_ms = 100
session_timeout_ms = 3000
max_poll_interval_ms = 10000
[state]
dir = "{state}"
[metrics]
listen = ""
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
fn sigkilled_exactly_once_stage_output_equals_input_record_for_record() -> anyhow::Result<()> {
    kill_and_verify("exactly_once", 8, 20_000)
}

#[test]
fn sigkilled_at_least_once_stage_loses_nothing_and_applies_each_effect_once() -> anyhow::Result<()>
{
    kill_and_verify("at_least_once", 4, 20_000)
}

struct Topics {
    input: String,
    output: String,
    dlq: String,
}

impl Topics {
    fn unique() -> Self {
        Self {
            input: moneta_testkit::unique("kill-in"),
            output: moneta_testkit::unique("kill-out"),
            dlq: moneta_testkit::unique("kill-dlq"),
        }
    }
}

fn kill_and_verify(guarantee: &str, kills: usize, records: usize) -> anyhow::Result<()> {
    let bootstrap = &moneta_testkit::kafka()?;
    let topics = &Topics::unique();
    tokio::runtime::Runtime::new()?.block_on(create_topics(
        bootstrap,
        &[&topics.input, &topics.output, &topics.dlq],
        3,
    ))?;
    let dir = tempfile::tempdir()?;
    let mut processor = Processor {
        config: write_config(
            dir.path(),
            bootstrap,
            guarantee,
            &topics.input,
            &topics.output,
            &topics.dlq,
        )?,
        log: dir.path().join("processor.log"),
        child: None,
    };

    // Input arrives in chunks while the processor runs and is killed.
    let ids: Vec<String> = (0..records).map(|i| format!("rec-{i:06}")).collect();
    produce_ids(bootstrap, &topics.input, ids[..records / 10].to_vec())?;
    let producer = {
        let (bootstrap, input, rest) = (
            bootstrap.to_owned(),
            topics.input.clone(),
            ids[records / 10..].to_vec(),
        );
        std::thread::spawn(move || -> anyhow::Result<()> {
            for chunk in rest.chunks(records / 10) {
                std::thread::sleep(Duration::from_millis(700));
                produce_ids(&bootstrap, &input, chunk.to_vec())?;
            }
            Ok(())
        })
    };

    processor.start()?;
    for kill_no in 1..=kills {
        std::thread::sleep(Duration::from_millis(1_000 + 300 * kill_no as u64));
        processor.sigkill()?;
        eprintln!("{guarantee}: SIGKILL {kill_no} sent");
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
        let out = read_topic(
            bootstrap,
            &topics.output,
            usize::MAX,
            Duration::from_secs(3),
        )?;
        let seen: HashSet<String> = out.iter().filter_map(id_of).collect();
        if seen.len() >= records || Instant::now() > deadline {
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
        "{guarantee}: records={records} kills={kills} outputs={outputs} (repeats {}) effects applied={} duplicates recognised={}",
        outputs - records,
        totals.new,
        totals.duplicates
    );
    assert_eq!(ledger.len()?, records as u64);
    assert_eq!(
        totals.new, records as u64,
        "each effect applied exactly once"
    );
    if guarantee == "exactly_once" {
        assert_record_for_record(bootstrap, &topics.input, &topics.output, records)?;
    }
    Ok(())
}

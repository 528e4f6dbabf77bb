//! The results of a run: a JSON document for machines and a Markdown
//! table for people, written side by side as `<benchmark>-<date>.{json,md}`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::machine::{Commit, Machine, UtcTime};
use crate::scenario::Measurement;

/// Everything one run of a benchmark measured, and where.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Benchmark name, e.g. `copy`.
    pub benchmark: String,
    /// UTC start time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub started_at: String,
    /// The machine it ran on.
    pub machine: Machine,
    /// The commit it measured.
    pub git: Commit,
    /// Input records per scenario.
    pub records: usize,
    /// Partitions of each topic.
    pub partitions: i32,
    /// The runtime's batch size (input records per commit at most).
    pub max_batch_records: usize,
    /// The runtime's commit interval, in ms.
    pub commit_interval_ms: u64,
    /// One entry per guarantee and broker.
    pub scenarios: Vec<Measurement>,
}

impl Report {
    /// Writes `<dir>/<benchmark>-<date>.json` and `.md`; returns their paths.
    pub fn write(&self, dir: &Path, date: &UtcTime) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = format!("{}-{}", self.benchmark, date.date());
        let json = dir.join(format!("{stem}.json"));
        let md = dir.join(format!("{stem}.md"));
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        std::fs::write(&json, text).with_context(|| format!("writing {}", json.display()))?;
        std::fs::write(&md, self.markdown())
            .with_context(|| format!("writing {}", md.display()))?;
        Ok(vec![json, md])
    }

    /// The run as a Markdown section: context line, then one row per scenario.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let dirty = if self.git.dirty { " (dirty)" } else { "" };
        let _ = writeln!(
            out,
            "# `{}` benchmark, {}\n",
            self.benchmark, self.started_at
        );
        let _ = writeln!(
            out,
            "Commit `{}`{dirty} · {} CPUs, {} · {} MiB RAM · {} records, {} partitions, \
             batches of ≤ {} records or {} ms\n",
            self.git.commit,
            self.machine.cpus,
            self.machine.cpu_model,
            self.machine.memory_mib,
            self.records,
            self.partitions,
            self.max_batch_records,
            self.commit_interval_ms,
        );
        out.push_str(
            "| Guarantee | Broker | Seconds | Records/s | Steady records/s | Startup s \
             | Produce-only records/s | Outputs read | Missing | Duplicates \
             | Batches committed / aborted | Check |\n",
        );
        out.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
        for s in &self.scenarios {
            let check = match (s.verified, s.guarantee) {
                (true, _) => "pass",
                (false, moneta_runtime::Guarantee::AtLeastOnce) => "FAIL",
                (false, moneta_runtime::Guarantee::ExactlyOnce) => "see note",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.0} | {:.0} | {:.2} | {:.0} | {} | {} | {} | {} / {} | {check} |",
                s.guarantee,
                s.broker,
                s.seconds,
                s.records_per_sec,
                s.steady_records_per_sec,
                s.startup_seconds,
                s.produce_records_per_sec,
                s.outputs_read,
                s.missing,
                s.duplicates,
                s.batches_committed,
                s.batches_aborted,
            );
        }
        out.push_str(
            "\nRecords/s: input records ÷ time from a cold start until all were processed, \
             committed and the processor stopped. Steady: the same without the time to the \
             first processed record. Produce-only: pre-producing the input with an \
             idempotent producer, for context.\n",
        );
        for s in self.scenarios.iter().filter(|s| !s.verified) {
            let _ = writeln!(out, "\nNote ({}): {}.", s.guarantee, s.note);
        }
        out
    }
}

//! The results of a run: a JSON document for machines and a Markdown
//! table for people, written side by side as `<benchmark>-<date>.{json,md}`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::machine::{Commit, Machine, UtcTime};
use crate::scenario::{Measurement, Scenario};

/// The bare transactional copy must reach this many records/s on the
/// project's 2-core machine (issue 17).
pub const BARE_TARGET_RECORDS_PER_SEC: f64 = 50_000.0;

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
    /// Load averages (1, 5, 15 min) when the run started.
    pub load_average_at_start: String,
    /// Input records per scenario.
    pub records: usize,
    /// Partitions of each topic.
    pub partitions: i32,
    /// The runtime's batch size (input records per commit at most); the
    /// bare loop commits by the same rule.
    pub max_batch_records: usize,
    /// The runtime's commit interval, in ms; the bare loop's too.
    pub commit_interval_ms: u64,
    /// Extra librdkafka settings of the bare loop's consumer, if any.
    pub bare_consumer_settings: BTreeMap<String, String>,
    /// Extra librdkafka settings of the bare loop's producer, if any.
    pub bare_producer_settings: BTreeMap<String, String>,
    /// One entry per scenario, each on a fresh broker.
    pub scenarios: Vec<Measurement>,
    /// Each runtime scenario's records/s ÷ the bare loop's.
    pub ratios_to_bare: Vec<RatioToBare>,
    /// The bare loop's target and whether it was met.
    pub bare_target: Option<BareTarget>,
}

/// A runtime scenario against the bare loop of the same run.
#[derive(Debug, Clone, Serialize)]
pub struct RatioToBare {
    /// The runtime scenario.
    pub scenario: Scenario,
    /// Its records/s ÷ the bare loop's (cold start included).
    pub ratio: f64,
    /// The same on steady records/s (startup excluded).
    pub steady_ratio: f64,
}

/// The bare transactional copy against its target.
#[derive(Debug, Clone, Serialize)]
pub struct BareTarget {
    /// Records/s it must reach.
    pub target_records_per_sec: f64,
    /// Steady records/s measured (startup excluded): the figure judged.
    pub measured_steady_records_per_sec: f64,
    /// Records/s measured from a cold start, for reference.
    pub measured_records_per_sec: f64,
    /// Whether the steady figure reached the target.
    pub met: bool,
}

impl Report {
    /// Fills in the ratios to the bare loop and its target, from `scenarios`.
    pub fn judge(&mut self) {
        let Some(bare) = self
            .scenarios
            .iter()
            .find(|s| s.scenario == Scenario::BareTransactional)
            .cloned()
        else {
            return;
        };
        self.bare_target = Some(BareTarget {
            target_records_per_sec: BARE_TARGET_RECORDS_PER_SEC,
            measured_steady_records_per_sec: bare.steady_records_per_sec,
            measured_records_per_sec: bare.records_per_sec,
            met: bare.steady_records_per_sec >= BARE_TARGET_RECORDS_PER_SEC,
        });
        self.ratios_to_bare = self
            .scenarios
            .iter()
            .filter(|s| s.scenario != Scenario::BareTransactional)
            .map(|s| RatioToBare {
                scenario: s.scenario,
                ratio: s.records_per_sec / bare.records_per_sec,
                steady_ratio: s.steady_records_per_sec / bare.steady_records_per_sec,
            })
            .collect();
    }

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
        let _ = writeln!(
            out,
            "# `{}` benchmark, {}\n",
            self.benchmark, self.started_at
        );
        let broker = self
            .scenarios
            .first()
            .map_or("no broker", |s| s.broker.as_str());
        let _ = writeln!(
            out,
            "{} · {broker}, \
             a fresh broker per scenario · {} records, {} partitions, \
             transactions (batches) of ≤ {} records or {} ms\n",
            crate::machine::context(&self.git, &self.machine, &self.load_average_at_start),
            self.records,
            self.partitions,
            self.max_batch_records,
            self.commit_interval_ms,
        );
        out.push_str(
            "| Scenario | Copier | Guarantee | Seconds | Records/s | Steady records/s | Startup s \
             | Produce-only records/s | Outputs read | Missing | Duplicates \
             | Batches committed / aborted | Check |\n",
        );
        out.push_str("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n");
        for s in &self.scenarios {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.2} | {:.0} | {:.0} | {:.2} | {:.0} | {} | {} | {} | {} / {} | {} |",
                s.scenario,
                s.copier,
                s.guarantee,
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
                if s.verified { "pass" } else { "**FAIL**" },
            );
        }
        out.push_str(
            "\nRecords/s: input records ÷ time from a cold start (clients created) until all \
             were copied, committed and the copier stopped. Steady: the same without the time \
             to the first record (client set-up, transaction init, group join). Produce-only: \
             pre-producing the input with an idempotent producer, for context. Check: under \
             exactly_once (and the bare loop, which is transactional) the read_committed output \
             must equal the input, every id exactly once; under at_least_once every id must be \
             present, and duplicates are reported.\n",
        );
        if let Some(target) = &self.bare_target {
            let _ = writeln!(
                out,
                "\nTarget: the bare transactional copy ≥ {:.0} records/s on this machine. \
                 Measured {:.0} steady records/s ({:.0} from a cold start): **{}**.",
                target.target_records_per_sec,
                target.measured_steady_records_per_sec,
                target.measured_records_per_sec,
                if target.met { "met" } else { "not met" },
            );
        }
        if let Some(bare) = self
            .scenarios
            .iter()
            .find(|s| s.scenario == Scenario::BareTransactional)
            && let Some(c) = bare.commits
        {
            let per = |seconds: f64| seconds * 1000.0 / bare.batches_committed.max(1) as f64;
            let _ = writeln!(
                out,
                "\nThe bare loop's {} transactions took {:.2} s of its {:.2} s to commit, \
                 {:.1} ms each: {:.1} ms waiting for the outputs' delivery reports, {:.1} ms in \
                 `send_offsets_to_transaction`, {:.1} ms in `commit_transaction`{}.",
                bare.batches_committed,
                c.total_seconds,
                bare.seconds,
                per(c.total_seconds),
                per(c.delivery_wait_seconds),
                per(c.send_offsets_seconds),
                per(c.commit_transaction_seconds),
                if c.plain_commit {
                    " (called with outputs in flight, as the runtime does: rdkafka's flush \
                     inside it waits in steps of 100 ms)"
                } else {
                    ""
                },
            );
        }
        if !self.ratios_to_bare.is_empty() {
            out.push_str("\nThe runtime's `copy` as a share of the bare loop (same run):\n\n");
            for r in &self.ratios_to_bare {
                let _ = writeln!(
                    out,
                    "- {}: {:.2} × bare ({:.2} on steady records/s)",
                    r.scenario, r.ratio, r.steady_ratio
                );
            }
        }
        if !self.bare_consumer_settings.is_empty() || !self.bare_producer_settings.is_empty() {
            let _ = writeln!(
                out,
                "\nBare loop settings over its defaults: consumer {:?}, producer {:?}.",
                self.bare_consumer_settings, self.bare_producer_settings
            );
        }
        for s in self.scenarios.iter().filter(|s| !s.verified) {
            let _ = writeln!(
                out,
                "\n{} failed its check: {} missing, {} duplicates, {} unexpected records; {}.",
                s.scenario, s.missing, s.duplicates, s.unexpected, s.requirement
            );
        }
        out
    }
}

/// Writes `<stem>.<extension>` for each of `files` (extension, text);
/// returns their paths.
pub fn write_files(stem: &Path, files: Vec<(&str, String)>) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for (extension, text) in files {
        let path = stem.with_extension(extension);
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        paths.push(path);
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(scenario: Scenario, records_per_sec: f64, steady: f64) -> Measurement {
        Measurement {
            scenario,
            copier: scenario.copier().into(),
            guarantee: scenario.guarantee(),
            broker: "Apache Kafka 4.1.1 (KRaft, one node)".into(),
            warmup_records: 0,
            seconds: 1.0,
            records_per_sec,
            startup_seconds: 0.1,
            processed_seconds: 0.9,
            steady_records_per_sec: steady,
            produce_seconds: 1.0,
            produce_records_per_sec: 1.0,
            records_in: 10,
            records_out: 10,
            outputs_read: 10,
            unique_ids: 10,
            missing: 0,
            duplicates: 0,
            unexpected: 0,
            batches_committed: 1,
            batches_aborted: 0,
            commit_retries: 0,
            producers_recreated: 0,
            commits: None,
            verified: true,
            requirement: String::new(),
        }
    }

    fn report(scenarios: Vec<Measurement>) -> Report {
        let mut report = Report {
            benchmark: "copy".into(),
            started_at: "2026-12-04T00:00:00Z".into(),
            machine: Machine::detect(),
            git: Commit {
                commit: "abc1234".into(),
                dirty: false,
            },
            load_average_at_start: "0.00 0.00 0.00".into(),
            records: 10,
            partitions: 3,
            max_batch_records: 1000,
            commit_interval_ms: 100,
            bare_consumer_settings: BTreeMap::new(),
            bare_producer_settings: BTreeMap::new(),
            scenarios,
            ratios_to_bare: Vec::new(),
            bare_target: None,
        };
        report.judge();
        report
    }

    #[test]
    fn runtime_scenarios_are_shares_of_the_bare_loop() {
        let report = report(vec![
            measured(Scenario::BareTransactional, 40_000.0, 60_000.0),
            measured(Scenario::AtLeastOnce, 20_000.0, 30_000.0),
            measured(Scenario::ExactlyOnce, 10_000.0, 15_000.0),
        ]);
        let ratios: Vec<(Scenario, f64, f64)> = report
            .ratios_to_bare
            .iter()
            .map(|r| (r.scenario, r.ratio, r.steady_ratio))
            .collect();
        assert_eq!(
            ratios,
            vec![
                (Scenario::AtLeastOnce, 0.5, 0.5),
                (Scenario::ExactlyOnce, 0.25, 0.25)
            ]
        );
        let target = report.bare_target.as_ref().map(|t| t.met);
        assert_eq!(target, Some(true), "judged on steady records/s");
        let text = report.markdown();
        assert!(
            text.contains("Measured 60000 steady records/s (40000 from a cold start): **met**")
        );
        assert!(text.contains("- exactly_once: 0.25 × bare"));
    }

    #[test]
    fn without_the_bare_loop_there_is_no_target_or_ratio() {
        let report = report(vec![measured(Scenario::ExactlyOnce, 10.0, 10.0)]);
        assert!(report.bare_target.is_none());
        assert!(report.ratios_to_bare.is_empty());
        assert!(!report.markdown().contains("Target"));
    }

    #[test]
    fn a_slow_bare_loop_misses_the_target() {
        let report = report(vec![measured(
            Scenario::BareTransactional,
            20_000.0,
            49_999.0,
        )]);
        assert_eq!(report.bare_target.map(|t| t.met), Some(false));
    }
}

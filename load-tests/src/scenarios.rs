//! The load scenarios (`steady`, `ramp`, `burst`), their verdicts against
//! the targets of issue #8, and their results: JSON, Markdown and an SVG
//! latency plot per run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Serialize;

use crate::load::{LoadRun, LoadSettings, PhaseResult, edge_saturated};
use crate::machine::{Commit, Machine, UtcTime};
use crate::schedule::Phase;
use crate::svg::{COLOURS, Series, line_chart};

/// Edge target: p99 under this at the steady rate, ms.
pub const EDGE_P99_TARGET_MS: f64 = 20.0;
/// End-to-end target: p99 ingest → countersigned under this, ms.
pub const E2E_P99_TARGET_MS: f64 = 500.0;

/// `steady`: a warm-up, then `rate` for `seconds`.
pub fn steady(rate: f64, seconds: f64, warmup: f64) -> Vec<Phase> {
    let mut phases = Vec::new();
    if warmup > 0.0 {
        phases.push(Phase {
            label: "warm-up".into(),
            rate,
            seconds: warmup,
        });
    }
    phases.push(Phase {
        label: "steady".into(),
        rate,
        seconds,
    });
    phases
}

/// `ramp`: one step per rate, `seconds` each.
pub fn ramp(rates: &[f64], seconds: f64) -> Vec<Phase> {
    rates
        .iter()
        .map(|&rate| Phase {
            label: format!("{rate:.0}/s"),
            rate,
            seconds,
        })
        .collect()
}

/// `soak`: `rate` for `minutes`, reported in windows of `window` seconds
/// so memory can be followed over time.
pub fn soak(rate: f64, minutes: f64, window: f64) -> Vec<Phase> {
    let windows = ((minutes * 60.0) / window).ceil().max(1.0) as usize;
    (0..windows)
        .map(|w| Phase {
            label: format!(
                "{:.0}–{:.0} min",
                w as f64 * window / 60.0,
                (w + 1) as f64 * window / 60.0
            ),
            rate,
            seconds: window,
        })
        .collect()
}

/// Most RSS growth allowed over a soak's second half, MiB per minute.
pub const SOAK_GROWTH_BOUND_MIB_PER_MIN: f64 = 1.0;

/// The soak's verdicts: every window kept up, and `moneta up`'s RSS stayed
/// under `rss_bound_mib` and stopped growing (second half).
pub fn soak_verdicts(run: &LoadRun, rss_bound_mib: f64) -> Vec<Verdict> {
    let rss: Vec<(f64, f64)> = run
        .phases
        .iter()
        .scan(0.0, |elapsed, p| {
            *elapsed += p.seconds / 60.0;
            Some((*elapsed, p))
        })
        .filter_map(|(at, p)| {
            let u = p.processes.iter().find(|u| u.process == "moneta up")?;
            Some((at, u.rss_mib))
        })
        .collect();
    let (Some(first), Some(last)) = (rss.first(), rss.last()) else {
        return Vec::new();
    };
    let max = rss.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    let half = &rss[rss.len() / 2..];
    let growth = match (half.first(), half.last()) {
        (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) / (b.0 - a.0),
        _ => 0.0,
    };
    let kept = run.phases.iter().filter(|p| keeps_up(p)).count();
    let rate = run.phases.first().map_or(0.0, |p| p.offered_per_sec);
    vec![
        Verdict {
            target: format!("every window at {rate:.0} req/s kept up with"),
            measured: format!("{kept} of {} windows", run.phases.len()),
            met: kept == run.phases.len(),
        },
        Verdict {
            target: format!(
                "moneta up RSS bounded: ≤ {rss_bound_mib:.0} MiB, growth over the second half ≤ {SOAK_GROWTH_BOUND_MIB_PER_MIN} MiB/min"
            ),
            measured: format!(
                "{:.0} MiB after the first window, {max:.0} MiB at most, {:.0} MiB at the end; {growth:+.2} MiB/min over the second half",
                first.1, last.1
            ),
            met: max <= rss_bound_mib && growth <= SOAK_GROWTH_BOUND_MIB_PER_MIN,
        },
    ]
}

/// `burst`: `base` rate, a burst at `peak`, then `base` again to recover.
pub fn burst(base: f64, peak: f64, before: f64, burst: f64, after: f64) -> Vec<Phase> {
    vec![
        Phase {
            label: "before".into(),
            rate: base,
            seconds: before,
        },
        Phase {
            label: "burst".into(),
            rate: peak,
            seconds: burst,
        },
        Phase {
            label: "after".into(),
            rate: base,
            seconds: after,
        },
    ]
}

/// A target, met or not, with the measured figure.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// The target, in words.
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// Whether it was met.
    pub met: bool,
}

/// The ramp's reading: how far the topology keeps up, and what gives first.
#[derive(Debug, Clone, Serialize)]
pub struct Saturation {
    /// Highest step meeting every target (edge p99, zero errors, e2e p99).
    pub highest_rate_meeting_targets: Option<f64>,
    /// Highest step the topology kept up with (see `keeps_up`).
    pub highest_rate_kept_up: Option<f64>,
    /// The first step it did not keep up with.
    pub first_saturated_rate: Option<f64>,
    /// What saturated first, and the evidence.
    pub bottleneck: String,
}

/// A step keeps up when the edge accepts ≥ 95% of the offered rate with
/// under 1% errors, every stage processes ≥ 90% of what arrives at it over
/// the step (no growing backlog), and every contract co-signed in the step is
/// countersigned by the end of the drain.
pub fn keeps_up(p: &PhaseResult) -> bool {
    let offered = p.offered_per_sec * p.seconds;
    p.accepted as f64 >= 0.95 * offered
        && p.errors * 100 <= p.sent
        && p.countersigned_missing == 0
        && slowest_stage(p).is_none_or(|(_, got, want)| got >= 0.9 * want)
}

/// Each stage's (name, records/s processed, records/s arriving), from the
/// stages feeding it; stages with nothing arriving are left out.
///
/// Per contract (two events): validate reads 2 and writes 2 validated;
/// template-check reads those 2 and the 1 countersigned contract, and writes
/// 2 recorded, which countersign reads (completing 1 contract); the
/// countersigned contract feeds webhook-dispatch, ledger and reconcile-match,
/// which also reads the ledger's entry; settle-aggregate reads the ledger.
fn stage_rates(p: &PhaseResult) -> Vec<(&'static str, f64, f64)> {
    let per_sec = |name: &str| {
        p.stages
            .iter()
            .find(|s| s.stage == name)
            .map_or(0.0, |s| s.per_sec)
    };
    let validated = per_sec("validate");
    let countersigned = per_sec("countersign") / 2.0;
    [
        ("validate", p.accepted_per_sec),
        ("template-check", validated + countersigned),
        ("countersign", validated),
        ("webhook-dispatch", countersigned),
        ("ledger", countersigned),
        ("reconcile-match", countersigned + per_sec("ledger")),
        ("settle-aggregate", per_sec("ledger")),
    ]
    .into_iter()
    .filter(|(_, want)| *want > 0.0)
    .map(|(name, want)| (name, per_sec(name), want))
    .collect()
}

/// The stage furthest behind what arrives at it.
fn slowest_stage(p: &PhaseResult) -> Option<(&'static str, f64, f64)> {
    stage_rates(p)
        .into_iter()
        .min_by(|a, b| (a.1 / a.2).total_cmp(&(b.1 / b.2)))
}

fn meets_targets(p: &PhaseResult) -> bool {
    p.errors == 0
        && p.edge.p99_ms < EDGE_P99_TARGET_MS
        && p.countersigned_missing == 0
        && p.countersigned.p99_ms < E2E_P99_TARGET_MS
}

/// Reads a ramp: the saturation point and the first component to give.
pub fn saturation(phases: &[PhaseResult]) -> Saturation {
    let highest = |f: &dyn Fn(&PhaseResult) -> bool| {
        phases
            .iter()
            .take_while(|p| f(p))
            .map(|p| p.offered_per_sec)
            .last()
    };
    let first_bad = phases.iter().find(|p| !keeps_up(p));
    let bottleneck = match first_bad {
        None => "nothing saturated within the ramp".to_owned(),
        Some(p) => bottleneck(p),
    };
    Saturation {
        highest_rate_meeting_targets: highest(&meets_targets),
        highest_rate_kept_up: highest(&keeps_up),
        first_saturated_rate: first_bad.map(|p| p.offered_per_sec),
        bottleneck,
    }
}

/// Names what gave first in a step: the edge if it failed or slowed,
/// otherwise the stage that fell furthest behind its input.
fn bottleneck(p: &PhaseResult) -> String {
    let cpu: Vec<String> = p
        .processes
        .iter()
        .map(|u| format!("{} {:.0}%", u.process, u.cpu_percent))
        .collect();
    let total_cpu: f64 = p.processes.iter().map(|u| u.cpu_percent).sum();
    let cpu = format!("CPU {} (total {total_cpu:.0}% of 200%)", cpu.join(", "));
    if edge_saturated(p.sent, p.errors, p.edge.p99_ms)
        || (p.accepted as f64) < 0.95 * p.offered_per_sec * p.seconds
    {
        return format!(
            "the ingest edge at {:.0}/s: {} of {} accepted, {} errors, edge p99 {:.1} ms; {cpu}",
            p.offered_per_sec, p.accepted, p.sent, p.errors, p.edge.p99_ms
        );
    }
    let stage = match slowest_stage(p) {
        Some((name, got, want)) => {
            let lag = p
                .stages
                .iter()
                .find(|s| s.stage == name)
                .and_then(|s| s.lag_at_end)
                .map(|lag| format!(", consumer lag {lag:.0} records at the end of the step"))
                .unwrap_or_default();
            format!("stage {name} ({got:.0} records/s processed of {want:.0}/s arriving{lag})")
        }
        None => "the chain (no stage metrics)".to_owned(),
    };
    format!(
        "{stage} at {:.0}/s: countersigned p99 {:.0} ms, {} of {} contracts not countersigned in the drain; {cpu}",
        p.offered_per_sec, p.countersigned.p99_ms, p.countersigned_missing, p.contracts
    )
}

/// The verdicts of a steady run, on its `steady` phase.
pub fn steady_verdicts(run: &LoadRun) -> Vec<Verdict> {
    let Some(p) = run.phases.iter().find(|p| p.label == "steady") else {
        return Vec::new();
    };
    vec![
        Verdict {
            target: format!(
                "edge at a steady {:.0} req/s: p99 < {EDGE_P99_TARGET_MS} ms, zero errors",
                p.offered_per_sec
            ),
            measured: format!(
                "p99 {:.2} ms (p50 {:.2}, p95 {:.2}, max {:.1}); {} of {} scheduled requests failed or could not be sent",
                p.edge.p99_ms,
                p.edge.p50_ms,
                p.edge.p95_ms,
                p.edge.max_ms,
                p.errors,
                p.sent
                    + p.error_kinds
                        .iter()
                        .filter(|(k, _)| k.as_str() == "in_flight_cap"
                            || k.as_str() == "publisher_failed")
                        .map(|(_, v)| v)
                        .sum::<u64>()
            ),
            met: p.edge.p99_ms < EDGE_P99_TARGET_MS && p.errors == 0,
        },
        Verdict {
            target: format!(
                "end to end at {:.0} req/s: p99 ingest → countersigned < {E2E_P99_TARGET_MS} ms",
                p.offered_per_sec
            ),
            measured: format!(
                "p99 {:.0} ms (p50 {:.0}, p95 {:.0}, max {:.0}); {} of {} contracts not countersigned",
                p.countersigned.p99_ms,
                p.countersigned.p50_ms,
                p.countersigned.p95_ms,
                p.countersigned.max_ms,
                p.countersigned_missing,
                p.contracts
            ),
            met: p.countersigned.p99_ms < E2E_P99_TARGET_MS && p.countersigned_missing == 0,
        },
    ]
}

/// One load run's results, as written.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// `load`.
    pub benchmark: String,
    /// `steady`, `ramp` or `burst`.
    pub scenario: String,
    /// UTC start time.
    pub started_at: String,
    /// The machine.
    pub machine: Machine,
    /// The commit.
    pub git: Commit,
    /// The broker.
    pub broker: String,
    /// Load averages (1, 5, 15 min) when the run started.
    pub load_average_at_start: String,
    /// Generator settings.
    pub settings: LoadSettings,
    /// The phases as planned.
    pub plan: Vec<Phase>,
    /// What was measured.
    pub run: LoadRun,
    /// Targets met or not.
    pub verdicts: Vec<Verdict>,
    /// The ramp's saturation reading.
    pub saturation: Option<Saturation>,
    /// How to read it.
    pub notes: Vec<String>,
}

/// How every load result is to be read.
pub fn notes() -> Vec<String> {
    vec![
        "Open loop: every request has an intended send time fixed in advance; latency runs from it to the answer's last byte, so a slow edge cannot hide its delay (no coordinated omission). Includes up to ~1 ms of timer slack.".into(),
        "End to end: from the intended send time of the MO's co-sign (the event that completes a contract) to the moment this generator's read_committed consumer reads the contract from moneta.contracts.countersigned (fetch.wait.max.ms = 5), so after countersign's transaction committed, and to the moment the local receiver gets each party's webhook (the worker scans its queue every webhooks.poll_interval_ms = 100 ms, the default).".into(),
        "The generator, moneta up and the Kafka broker's JVM share this machine's cores; absolute figures are noisy. CPU is % of one core, from /proc/<pid>/stat; RSS from /proc/<pid>/status.".into(),
        "Broker: Apache Kafka (one KRaft node, broker and controller), started by the generator with the test harness's settings (moneta_testkit::Broker) on fresh data; moneta up runs every stage exactly_once (transactions, read_committed), consumer groups with cooperative-sticky rebalancing, every other setting at its default.".into(),
    ]
}

impl LoadReport {
    /// The results as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# `{}` load scenario, {}\n",
            self.scenario, self.started_at
        );
        let _ = writeln!(
            out,
            "{} · {} · {} simulated partners ({} MO–publisher pairs), co-sign {} ms after the publisher\n",
            crate::machine::context(&self.git, &self.machine, &self.load_average_at_start),
            self.broker,
            self.settings.pairs * 2,
            self.settings.pairs,
            self.settings.cosign_delay_ms,
        );
        out.push_str(
            "| Phase | Offered req/s | Sent | Accepted/s | Errors | Edge p50 / p95 / p99 / max ms | Refused (429/503) p50 / p99 / max ms | Contracts | → countersigned p50 / p95 / p99 / max ms | Not countersigned | → webhook p50 / p95 / p99 / max ms | CPU % (moneta up / Kafka / generator) | RSS MiB (moneta up / Kafka) |\n",
        );
        out.push_str("|---|--:|--:|--:|--:|---|---|--:|---|--:|---|---|---|\n");
        for p in &self.run.phases {
            let cpu = |name: &str| {
                p.processes
                    .iter()
                    .find(|u| u.process == name)
                    .map_or("–".to_owned(), |u| format!("{:.0}", u.cpu_percent))
            };
            let rss = |name: &str| {
                p.processes
                    .iter()
                    .find(|u| u.process == name)
                    .map_or("–".to_owned(), |u| format!("{:.0}", u.rss_mib))
            };
            let pct = |x: &crate::tracker::Percentiles, digits: usize| {
                format!(
                    "{:.d$} / {:.d$} / {:.d$} / {:.d$}",
                    x.p50_ms,
                    x.p95_ms,
                    x.p99_ms,
                    x.max_ms,
                    d = digits
                )
            };
            let refused = |x: &crate::tracker::Percentiles| match x.count {
                0 => "–".to_owned(),
                n => format!("{:.1} / {:.1} / {:.1} ({n})", x.p50_ms, x.p99_ms, x.max_ms),
            };
            let _ = writeln!(
                out,
                "| {} | {:.0} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} / {} / {} | {} / {} |",
                p.label,
                p.offered_per_sec,
                p.sent,
                p.accepted_per_sec,
                p.errors,
                pct(&p.edge, 1),
                refused(&p.refused),
                p.contracts,
                pct(&p.countersigned, 0),
                p.countersigned_missing,
                pct(&p.webhook, 0),
                cpu("moneta up"),
                cpu(crate::procstat::BROKER),
                cpu("load generator"),
                rss("moneta up"),
                rss(crate::procstat::BROKER),
            );
        }
        let errors: Vec<String> = self
            .run
            .phases
            .iter()
            .filter(|p| !p.error_kinds.is_empty())
            .map(|p| format!("{}: {:?}", p.label, p.error_kinds))
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(out, "\nErrors by kind: {}.", errors.join("; "));
        }
        out.push_str("\nStage throughput per phase (input records/s; consumer lag at the end of the phase):\n\n| Phase |");
        for s in crate::load::STAGES {
            let _ = write!(out, " {s} |");
        }
        out.push_str("\n|---|");
        for _ in crate::load::STAGES {
            out.push_str("--:|");
        }
        out.push('\n');
        for p in &self.run.phases {
            let _ = write!(out, "| {} |", p.label);
            for s in &p.stages {
                match s.lag_at_end {
                    Some(lag) => {
                        let _ = write!(out, " {:.0} (lag {lag:.0}) |", s.per_sec);
                    }
                    None => {
                        let _ = write!(out, " {:.0} |", s.per_sec);
                    }
                }
            }
            out.push('\n');
        }
        let _ = writeln!(
            out,
            "\nDrain after the last request: {:.1} s.",
            self.run.drain_seconds
        );
        if !self.verdicts.is_empty() {
            out.push_str("\n| Target | Measured | Met |\n|---|---|---|\n");
            for v in &self.verdicts {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    v.target,
                    v.measured,
                    if v.met { "yes" } else { "**no**" }
                );
            }
        }
        if let Some(s) = &self.saturation {
            let rate = |r: Option<f64>| r.map_or("none".to_owned(), |r| format!("{r:.0} req/s"));
            let _ = writeln!(
                out,
                "\nSaturation: highest step meeting every target: {}; highest step kept up with: {}; first step not kept up with: {}.\nWhat gave first: {}.",
                rate(s.highest_rate_meeting_targets),
                rate(s.highest_rate_kept_up),
                rate(s.first_saturated_rate),
                s.bottleneck
            );
        }
        if !self.run.moneta_log_problems.is_empty() {
            let _ = writeln!(
                out,
                "\n`moneta up` logged {} warning/error lines (first: `{}`).",
                self.run.moneta_log_problems.len(),
                self.run.moneta_log_problems[0]
                    .chars()
                    .take(200)
                    .collect::<String>()
            );
        }
        out.push('\n');
        for n in &self.notes {
            let _ = writeln!(out, "- {n}");
        }
        out
    }

    /// The latency plot: for a ramp, p99 by step; otherwise, the latency
    /// percentiles of each phase.
    pub fn svg(&self) -> String {
        let phases = &self.run.phases;
        if self.scenario == "ramp" {
            let x: Vec<String> = phases
                .iter()
                .map(|p| format!("{:.0}", p.offered_per_sec))
                .collect();
            let pick = |f: fn(&PhaseResult) -> f64| {
                phases
                    .iter()
                    .map(|p| Some(f(p)).filter(|v| *v > 0.0))
                    .collect()
            };
            let series = vec![
                Series {
                    name: "edge p99".into(),
                    colour: COLOURS[0],
                    values: pick(|p| p.edge.p99_ms),
                },
                Series {
                    name: "edge p50".into(),
                    colour: COLOURS[4],
                    values: pick(|p| p.edge.p50_ms),
                },
                Series {
                    name: "countersigned p99".into(),
                    colour: COLOURS[1],
                    values: pick(|p| p.countersigned.p99_ms),
                },
                Series {
                    name: "webhook p99".into(),
                    colour: COLOURS[2],
                    values: pick(|p| p.webhook.p99_ms),
                },
            ];
            return line_chart(
                &format!("ramp {}: latency by offered rate", self.started_at),
                "offered requests/s (step)",
                "ms (log scale)",
                &x,
                &series,
                true,
                Some((EDGE_P99_TARGET_MS, "edge target 20 ms")),
            );
        }
        let x: Vec<String> = ["p50", "p90", "p95", "p99", "p99.9", "max"]
            .map(String::from)
            .to_vec();
        let mut series = Vec::new();
        for (k, p) in phases.iter().enumerate() {
            for (what, pc, colour) in [
                ("edge", &p.edge, COLOURS[(2 * k) % COLOURS.len()]),
                (
                    "countersigned",
                    &p.countersigned,
                    COLOURS[(2 * k + 1) % COLOURS.len()],
                ),
            ] {
                if pc.count == 0 {
                    continue;
                }
                series.push(Series {
                    name: format!("{} {what}", p.label),
                    colour,
                    values: vec![
                        Some(pc.p50_ms),
                        Some(pc.p90_ms),
                        Some(pc.p95_ms),
                        Some(pc.p99_ms),
                        Some(pc.p999_ms),
                        Some(pc.max_ms),
                    ],
                });
            }
        }
        line_chart(
            &format!("{} {}: latency percentiles", self.scenario, self.started_at),
            "percentile",
            "ms (log scale)",
            &x,
            &series,
            true,
            Some((EDGE_P99_TARGET_MS, "edge target 20 ms")),
        )
    }

    /// Writes `<dir>/load-<scenario>-<date>.{json,md,svg}`; returns the paths.
    pub fn write(&self, dir: &Path, date: &UtcTime) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let stem = dir.join(format!("load-{}-{}", self.scenario, date.date()));
        let paths = [
            (
                stem.with_extension("json"),
                serde_json::to_string_pretty(self)? + "\n",
            ),
            (stem.with_extension("md"), self.markdown()),
            (stem.with_extension("svg"), self.svg()),
        ];
        for (path, text) in &paths {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(paths.into_iter().map(|(p, _)| p).collect())
    }
}

//! `micro-report`: collects the criterion micro-benchmarks' estimates
//! (`target/criterion/<group>/<bench>/new/estimates.json`, written by
//! `cargo bench -p moneta-load-tests --bench micro`) into
//! `results/micro-<date>.{json,md}` with the machine and commit.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::Serialize;

use crate::machine::{Commit, Machine, UtcTime, load_average};

/// One benchmark's estimate.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// `group/name`.
    pub benchmark: String,
    /// Mean time per iteration, ns.
    pub mean_ns: f64,
    /// Lower bound of the mean's 95% confidence interval, ns.
    pub mean_low_ns: f64,
    /// Upper bound, ns.
    pub mean_high_ns: f64,
    /// Median, ns.
    pub median_ns: f64,
}

/// The collected run.
#[derive(Debug, Clone, Serialize)]
struct MicroReport {
    benchmark: String,
    collected_at: String,
    machine: Machine,
    git: Commit,
    load_average_at_collection: String,
    estimates: Vec<Estimate>,
}

fn point(value: &serde_json::Value, field: &str) -> f64 {
    value[field]["point_estimate"].as_f64().unwrap_or(f64::NAN)
}

fn collect(dir: &Path, prefix: &str, out: &mut Vec<Estimate>) -> anyhow::Result<()> {
    let estimates = dir.join("new").join("estimates.json");
    if estimates.exists() {
        let value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&estimates)?)
            .with_context(|| format!("reading {}", estimates.display()))?;
        out.push(Estimate {
            benchmark: prefix.to_owned(),
            mean_ns: point(&value, "mean"),
            mean_low_ns: value["mean"]["confidence_interval"]["lower_bound"]
                .as_f64()
                .unwrap_or(f64::NAN),
            mean_high_ns: value["mean"]["confidence_interval"]["upper_bound"]
                .as_f64()
                .unwrap_or(f64::NAN),
            median_ns: point(&value, "median"),
        });
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n != "report"))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let next = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        collect(&entry, &next, out)?;
    }
    Ok(())
}

fn human(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// Collects `criterion_dir` for the groups of the `micro` bench and writes the results.
pub fn report(criterion_dir: &Path, out: &Path) -> anyhow::Result<()> {
    let mut estimates = Vec::new();
    for group in ["signing", "avro", "templates", "state"] {
        let dir = criterion_dir.join(group);
        if dir.is_dir() {
            collect(&dir, group, &mut estimates)?;
        }
    }
    if estimates.is_empty() {
        bail!(
            "no estimates under {}: run `cargo bench -p moneta-load-tests --bench micro` first",
            criterion_dir.display()
        );
    }
    let now = UtcTime::now();
    let report = MicroReport {
        benchmark: "micro".into(),
        collected_at: now.rfc3339(),
        machine: Machine::detect(),
        git: Commit::detect(),
        load_average_at_collection: load_average(),
        estimates,
    };
    let mut md = String::new();
    let dirty = if report.git.dirty { " (dirty)" } else { "" };
    let _ = writeln!(
        md,
        "# Micro-benchmarks (criterion), collected {}\n\nCommit `{}`{dirty} · {} CPUs, {} · {} MiB RAM · load average {}\n\n| Benchmark | Mean | 95% CI of the mean | Median | Per second (1 / mean) |\n|---|--:|--:|--:|--:|",
        report.collected_at,
        report.git.commit,
        report.machine.cpus,
        report.machine.cpu_model,
        report.machine.memory_mib,
        report.load_average_at_collection,
    );
    for e in &report.estimates {
        let _ = writeln!(
            md,
            "| {} | {} | {} – {} | {} | {:.0} |",
            e.benchmark,
            human(e.mean_ns),
            human(e.mean_low_ns),
            human(e.mean_high_ns),
            human(e.median_ns),
            1e9 / e.mean_ns
        );
    }
    md.push_str("\nAvro figures are the datum encode/decode with the shipped schema and the Confluent framing, as the codec does once the schema id is cached (no registry round trip). State figures are the embedded store (redb): a plain write returns once it is durable (one fsync, shared by concurrent writers), so it measures this machine's fsync; `_deferred_batch100` is the handle the stages use, whose writes become durable at the runtime's next flush (one redb commit without fsync each, one fsync per 100 writes).\n");
    std::fs::create_dir_all(out)?;
    let stem = out.join(format!("micro-{}", now.date()));
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(stem.with_extension("md"), &md)?;
    print!("{md}");
    eprintln!("wrote {}.{{json,md}}", stem.display());
    Ok(())
}

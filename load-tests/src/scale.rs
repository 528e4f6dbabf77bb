//! `scale`: a stage's throughput with one instance and with two instances
//! sharing its consumer group, same broker, same run, same input.
//!
//! Two lanes on one broker, each with topics, groups, transactional ids and
//! an embedded state store of its own (`a.` and `b.`), are prepared the same
//! way: the partner network seeded and the same signed contracts submitted
//! through each lane's edge (untimed). Then, stage by stage in chain order
//! up to the last stage measured, lane `a` runs it with one instance and
//! lane `b` with two (one instance where the stage is not measured), each
//! timed alone from start until every input record is processed and
//! committed. Both lanes meet each stage's input for the first time, as
//! production does; a second pass over one lane would only find replays.
//! The figure is `two instances ÷ one instance` per stage.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use moneta_topology::{Config, Services, Topology};
use serde::Serialize;

use crate::broker::Broker;
use crate::machine::{Commit, Machine, UtcTime};
use crate::network;
use crate::procstat::{Usage, Watched};
use crate::stages::{Timing, config, prepare, timed};
use crate::svg::{COLOURS, Series, line_chart};
use crate::verify::count_records;

/// The chain up to countersign, in order.
const CHAIN: [&str; 3] = ["validate", "template-check", "countersign"];

/// Options of `scale`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stages measured (of [`CHAIN`]).
    pub stages: Vec<String>,
    pub contracts: u64,
    pub pairs: usize,
    pub timeout: Duration,
    /// Keep each lane's state in CQL on a local Apache Cassandra node, as
    /// production keeps it in ScyllaDB, instead of the embedded store.
    pub cql: bool,
    /// Partitions of every topic of a lane.
    pub partitions: u32,
    pub out: PathBuf,
}

/// One stage: one instance against two.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub stage: String,
    pub input_records: u64,
    pub one: Timing,
    pub two: Timing,
    /// CPU of the benchmark process (the stage) and the broker, one instance.
    pub one_cpu: Vec<Usage>,
    /// The same, two instances.
    pub two_cpu: Vec<Usage>,
    /// `two.records_per_sec ÷ one.records_per_sec`.
    pub ratio: f64,
    /// The same, start-up (first record) excluded.
    pub steady_ratio: f64,
}

/// What `scale` writes.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    pub benchmark: String,
    pub started_at: String,
    pub machine: Machine,
    pub git: Commit,
    pub broker: String,
    pub load_average_at_start: String,
    pub contracts: u64,
    pub events: u64,
    pub partners: usize,
    /// Partitions of every topic.
    pub partitions: u32,
    /// Where the lanes keep their state.
    pub state: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

/// One lane: its configuration and services.
struct Lane {
    config: Config,
    services: Services,
}

/// Runs the benchmark and writes its results.
pub fn main(options: &Options) -> anyhow::Result<()> {
    if let Some(unknown) = options.stages.iter().find(|s| !CHAIN.contains(&s.as_str())) {
        bail!("--stages: {unknown} is not one of {}", CHAIN.join(", "));
    }
    let last = CHAIN
        .iter()
        .rposition(|s| options.stages.iter().any(|m| m == s))
        .ok_or_else(|| anyhow!("--stages names no stage"))?;
    let started = UtcTime::now();
    let load_average = crate::machine::load_average();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let broker = Broker::kafka()?;
    let dir = tempfile::Builder::new().prefix("moneta-scale-").tempdir()?;
    let pairs = network::network(options.pairs);
    let cql = if options.cql {
        Some(
            moneta_testkit::cql::cql_or_skip("scale --cql").ok_or_else(|| {
                anyhow!("--cql: Cassandra is not installed (scripts/setup.sh cassandra)")
            })?,
        )
    } else {
        None
    };
    let mut lanes = Vec::new();
    for lane in ["a.", "b."] {
        let lane_dir = dir.path().join(lane.trim_end_matches('.'));
        std::fs::create_dir_all(&lane_dir)?;
        let state = match &cql {
            Some(node) => format!(
                "backend = \"scylla\"\nscylla_nodes = \"{node}\"\nscylla_keyspace = \"moneta_scale_{}\"",
                lane.trim_end_matches('.')
            ),
            None => String::new(),
        };
        let topics = format!("partitions = {}", options.partitions);
        let config = config(
            &broker.bootstrap_servers(),
            &lane_dir,
            lane,
            &state,
            &topics,
        )?;
        std::fs::create_dir_all(&config.state.dir)?;
        eprintln!("lane {lane}");
        let (services, _) = tokio.block_on(prepare(&config, &pairs, options.contracts))?;
        lanes.push(Lane { config, services });
    }
    let mut rows = Vec::new();
    for name in &CHAIN[..=last] {
        let measured = options.stages.iter().any(|s| s == name);
        let mut timings = Vec::new();
        let mut cpu = Vec::new();
        let mut input_records = 0;
        for (lane, instances) in lanes.iter().zip([1, if measured { 2 } else { 1 }]) {
            let topology = Topology::new(&lane.config);
            let stage = topology
                .stage(name)
                .ok_or_else(|| anyhow!("no stage {name}"))?;
            input_records =
                count_records(&lane.config.kafka.bootstrap_servers, &stage.input_names())?;
            eprintln!("[{name}] {input_records} input records, {instances} instance(s)");
            let mut watched = vec![Watched::new("benchmark (the stage)", std::process::id())];
            watched.extend(broker.pid().map(|pid| Watched::new("broker", pid)));
            if cql.is_some() {
                watched.extend(
                    child_running("CassandraDaemon").map(|pid| Watched::new("cassandra", pid)),
                );
            }
            let timing = timed(
                &lane.config,
                name,
                input_records,
                options.timeout,
                |runtime| {
                    let mut handles = Vec::new();
                    for instance in 0..instances {
                        handles.push(topology.spawn(
                            stage,
                            runtime,
                            instance,
                            &lane.config.state.dir,
                            tokio.handle().clone(),
                            Some(&lane.services),
                        )?);
                    }
                    Ok((handles, runtime.metrics.processor(name)))
                },
            )
            .with_context(|| format!("[{name}] {instances} instance(s)"))?;
            eprintln!(
                "[{name}] {instances} instance(s): {:.0} records/s",
                timing.records_per_sec
            );
            cpu.push(
                watched
                    .iter_mut()
                    .map(|w| w.interval(timing.seconds))
                    .collect::<Vec<_>>(),
            );
            timings.push(timing);
        }
        if measured
            && let [one, two] = timings[..]
            && let [one_cpu, two_cpu] = &cpu[..]
        {
            rows.push(Row {
                stage: (*name).to_owned(),
                input_records,
                one,
                two,
                one_cpu: one_cpu.clone(),
                two_cpu: two_cpu.clone(),
                ratio: two.records_per_sec / one.records_per_sec,
                steady_ratio: two.steady_records_per_sec / one.steady_records_per_sec,
            });
        }
    }
    let report = ScaleReport {
        benchmark: "scale".into(),
        started_at: started.rfc3339(),
        machine: Machine::detect(),
        git: Commit::detect(),
        broker: broker.label(),
        load_average_at_start: load_average,
        contracts: options.contracts,
        events: options.contracts * 2,
        partners: options.pairs * 2,
        partitions: options.partitions,
        state: match &cql {
            Some(node) => format!("CQL: Apache Cassandra {} on {node}, a keyspace per lane", moneta_servers::cassandra::CASSANDRA_VERSION),
            None => "embedded (redb), a store per lane shared by its instances".into(),
        },
        rows,
        notes: vec![
            "Two instances run in the benchmark's process as two threads with a consumer and a transactional producer each, in one consumer group over the stage's input partitions, as two `moneta run <stage> --instance N` processes would. The broker, both lanes and the benchmark share the machine's cores; a stage scales as far as the cores the broker leaves it.".into(),
            "Records/s = input records ÷ (start → all processed, committed, stopped); steady excludes the time to the first record (group join and rebalance, which two instances pay twice).".into(),
            "CPU is % of one core over the timed run: the benchmark process (the stage's instances and their clients; the lanes' edges are idle then), the broker's JVM and, with --cql, Cassandra's JVM. The machine has 200%.".into(),
        ],
    };
    let written = write(&report, &options.out, &started)?;
    println!("{}", markdown(&report));
    for path in written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The pid of a child of this process whose command line contains `needle`.
fn child_running(needle: &str) -> Option<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let parent = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (parent == me && String::from_utf8_lossy(&cmdline).contains(needle)).then_some(pid)
        })
}

fn markdown(report: &ScaleReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "# `scale` benchmark, {}\n", report.started_at);
    let _ = writeln!(
        out,
        "{} · {} · state {} · {} partitions per topic · {} contracts ({} signed events from {} partners) per lane\n",
        crate::machine::context(&report.git, &report.machine, &report.load_average_at_start),
        report.broker,
        report.state,
        report.partitions,
        report.contracts,
        report.events,
        report.partners,
    );
    let _ = writeln!(
        out,
        "| Stage | Input records | 1 instance records/s | 2 instances records/s | Ratio (2 ÷ 1) | Steady ratio | CPU, 1 instance (stage + broker [+ Cassandra]) | CPU, 2 instances |\n|---|--:|--:|--:|--:|--:|--:|--:|"
    );
    let cpu = |usage: &[Usage]| {
        usage
            .iter()
            .map(|u| format!("{:.0}%", u.cpu_percent))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    for r in &report.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} |",
            r.stage,
            r.input_records,
            r.one.records_per_sec,
            r.two.records_per_sec,
            r.ratio,
            r.steady_ratio,
            cpu(&r.one_cpu),
            cpu(&r.two_cpu)
        );
    }
    let _ = writeln!(out);
    for n in &report.notes {
        let _ = writeln!(out, "- {n}");
    }
    out
}

fn write(
    report: &ScaleReport,
    dir: &std::path::Path,
    date: &UtcTime,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let kind = if report.state.starts_with("CQL") {
        "scale-cql"
    } else {
        "scale"
    };
    let stem = dir.join(format!("{kind}-{}", date.date()));
    let x: Vec<String> = report.rows.iter().map(|r| r.stage.clone()).collect();
    let series = |name: &str, colour, pick: fn(&Row) -> f64| Series {
        name: name.into(),
        colour,
        values: report.rows.iter().map(|r| Some(pick(r))).collect(),
    };
    let svg = line_chart(
        &format!(
            "scale {}: records/s, one instance vs two",
            report.started_at
        ),
        "stage",
        "records/s",
        &x,
        &[
            series("1 instance", COLOURS[0], |r| r.one.records_per_sec),
            series("2 instances", COLOURS[1], |r| r.two.records_per_sec),
        ],
        false,
        None,
    );
    crate::report::write_files(
        &stem,
        vec![
            ("json", serde_json::to_string_pretty(report)? + "\n"),
            ("md", markdown(report)),
            ("svg", svg),
        ],
    )
}

//! `moneta-load-tests`: benchmarks that write comparable results, each on
//! Apache Kafka (the pinned version, one KRaft node) started for the run.
//!
//! `copy` measures, each on a fresh broker, a bare librdkafka
//! consume → transactional produce loop (the ceiling) and the runtime's
//! `copy` processor under both processing guarantees; the runtime is
//! reported as a share of the bare loop. `stages` times every processor of
//! the chain against a bare copy through the runtime over the same input.
//! `steady`, `ramp` and `burst` drive a running `moneta up` with an
//! open-loop generator of signed partner requests. See `load-tests/README.md`.

mod bare;
mod broker;
mod console;
mod hub;
mod load;
mod machine;
mod micro;
mod network;
mod observe;
mod procstat;
mod report;
mod scale;
mod scenario;
mod scenarios;
mod schedule;
mod stages;
mod svg;
mod tracker;
mod verify;
mod webhooks;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, Parser, Subcommand};
use moneta_runtime::ProcessingConfig;
use tracing_subscriber::EnvFilter;

use crate::broker::Broker;
use crate::machine::{Commit, Machine, UtcTime};
use crate::report::Report;
use crate::scenario::{Scenario, Settings};

/// Moneta benchmarks.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The `copy` baseline: a bare transactional librdkafka loop, then the
    /// runtime's `copy` under at_least_once and exactly_once, each on a
    /// fresh Kafka broker.
    Copy(CopyArgs),
    /// Webhook isolation: a healthy endpoint's delivery latency alone and
    /// with a dead neighbour.
    Webhooks(WebhooksArgs),
    /// Every processor's records/s against `copy` (and the bare transactional
    /// loop) over the same input, same broker, same run.
    Stages(StagesArgs),
    /// A stage with one instance against two sharing its consumer group.
    Scale(ScaleArgs),
    /// Load: a constant rate (default 1,000 req/s) against `moneta up`.
    Steady(SteadyArgs),
    /// Load: a step ramp to saturation against `moneta up`.
    Ramp(RampArgs),
    /// Load: a constant rate for a long time, memory followed per window.
    Soak(SoakArgs),
    /// Load: a burst over a base rate against `moneta up`.
    Burst(BurstArgs),
    /// Collects the criterion micro-benchmarks' estimates into results/micro-<date>.{json,md}.
    MicroReport(MicroArgs),
    /// The operator console's pages, timed at 100,000 contracts in the store.
    Console(ConsoleArgs),
}

/// Options of `console`.
#[derive(Debug, Args)]
struct ConsoleArgs {
    /// Contracts in the store.
    #[arg(long, default_value_t = 100_000)]
    contracts: usize,
    /// Timed requests per page.
    #[arg(long, default_value_t = 50)]
    samples: usize,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

/// Options of `micro-report`.
#[derive(Debug, Args)]
struct MicroArgs {
    /// Criterion's output directory.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

/// Options every load scenario shares.
#[derive(Debug, Args)]
struct LoadArgs {
    /// MO–publisher pairs; simulated partners are twice as many.
    #[arg(long, default_value_t = 50)]
    pairs: usize,
    /// Delay from a publisher's submission to the MO's co-sign, ms.
    #[arg(long, default_value_t = 250)]
    cosign_delay_ms: u64,
    /// Requests in flight at most (beyond it a request counts as an error).
    #[arg(long, default_value_t = 4096)]
    max_in_flight: usize,
    /// Per-request timeout, ms.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// After the last request, how long to wait for the chain to drain, s.
    #[arg(long, default_value_t = 120)]
    drain_secs: u64,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

/// Options of `steady`.
#[derive(Debug, Args)]
struct SteadyArgs {
    /// Requests per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Seconds at that rate (measured).
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Seconds of warm-up at that rate first (reported apart).
    #[arg(long, default_value_t = 10.0)]
    warmup: f64,
    #[command(flatten)]
    load: LoadArgs,
}

/// Options of `soak`.
#[derive(Debug, Args)]
struct SoakArgs {
    /// Requests per second (80 % of the ramp's saturation point).
    #[arg(long, default_value_t = 320.0)]
    rate: f64,
    /// Minutes at that rate.
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Seconds per reported window.
    #[arg(long, default_value_t = 60.0)]
    window_secs: f64,
    /// The RSS `moneta up` must stay under, MiB: by default the embedded
    /// store's page cache (`state.cache_mib`, 1024) plus 256.
    #[arg(long, default_value_t = 1280.0)]
    rss_bound_mib: f64,
    #[command(flatten)]
    load: LoadArgs,
}

/// Options of `ramp`.
#[derive(Debug, Args)]
struct RampArgs {
    /// Rates of the steps, requests per second.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "25,50,75,100,150,200,400,700,1000"
    )]
    rates: Vec<f64>,
    /// Seconds per step.
    #[arg(long, default_value_t = 20.0)]
    step_seconds: f64,
    /// Keep sending after a step in which the edge saturated.
    #[arg(long)]
    no_early_stop: bool,
    #[command(flatten)]
    load: LoadArgs,
}

/// Options of `burst`.
#[derive(Debug, Args)]
struct BurstArgs {
    /// Base rate, requests per second.
    #[arg(long, default_value_t = 500.0)]
    base: f64,
    /// Burst rate, requests per second.
    #[arg(long, default_value_t = 3000.0)]
    peak: f64,
    /// Seconds at the base rate before the burst.
    #[arg(long, default_value_t = 15.0)]
    before: f64,
    /// Seconds of burst.
    #[arg(long, default_value_t = 5.0)]
    burst: f64,
    /// Seconds at the base rate after the burst.
    #[arg(long, default_value_t = 30.0)]
    after: f64,
    #[command(flatten)]
    load: LoadArgs,
}

/// Options of `stages`.
#[derive(Debug, Args)]
struct StagesArgs {
    /// Contracts to pre-produce (two signed events each).
    #[arg(long, default_value_t = 5000)]
    contracts: u64,
    /// MO–publisher pairs.
    #[arg(long, default_value_t = 20)]
    pairs: usize,
    /// A stage still running after this many seconds fails.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Skip the bare transactional loop over each stage's input.
    #[arg(long)]
    no_bare: bool,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

/// Options of `scale`.
#[derive(Debug, Args)]
struct ScaleArgs {
    /// Stages measured, comma-separated (of validate, template-check, countersign).
    #[arg(long, value_delimiter = ',', default_value = "validate,countersign")]
    stages: Vec<String>,
    /// Contracts per lane (two signed events each).
    #[arg(long, default_value_t = 15000)]
    contracts: u64,
    /// Keep the lanes' state in CQL on a local Apache Cassandra (as
    /// production keeps it in ScyllaDB) instead of the embedded store.
    #[arg(long)]
    cql: bool,
    /// Partitions of every topic (6: two instances get three each).
    #[arg(long, default_value_t = 6)]
    partitions: u32,
    /// MO–publisher pairs.
    #[arg(long, default_value_t = 20)]
    pairs: usize,
    /// A stage still running after this many seconds fails.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

/// Options of the `webhooks` benchmark.
#[derive(Debug, Args)]
struct WebhooksArgs {
    /// Deliveries per second to each endpoint.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// Seconds of scheduling per scenario.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Per-attempt timeout, ms.
    #[arg(long, default_value_t = 2000)]
    timeout_ms: u64,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
}

/// Options of the `copy` benchmark.
#[derive(Debug, Args)]
struct CopyArgs {
    /// Input records per scenario.
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    /// Partitions of each topic.
    #[arg(long, default_value_t = 3)]
    partitions: i32,
    /// Directory the results are written to.
    #[arg(long, default_value = "load-tests/results")]
    out: PathBuf,
    /// A scenario still running after this many seconds fails.
    #[arg(long, default_value_t = 900)]
    timeout_secs: u64,
    /// Input records per transaction (batch) at most, for the bare loop and
    /// the runtime alike.
    #[arg(long, default_value_t = ProcessingConfig::default().max_batch_records)]
    max_batch_records: usize,
    /// A transaction (batch) commits this long after its first record at
    /// the latest, ms, for the bare loop and the runtime alike.
    #[arg(long, default_value_t = ProcessingConfig::default().commit_interval_ms)]
    commit_interval_ms: u64,
    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "bare_transactional,at_least_once,exactly_once"
    )]
    scenarios: Vec<Scenario>,
    /// Records of an untimed bare transactional copy on each fresh broker
    /// before its scenario, so the broker's JVM is warm (0: none).
    #[arg(long, default_value_t = 20_000)]
    warmup_records: usize,
    /// Let the bare loop call `commit_transaction` with outputs still in
    /// flight, as the runtime does (rdkafka's flush inside it then costs at
    /// least 100 ms per transaction), instead of waiting for their delivery first.
    #[arg(long)]
    bare_plain_commit: bool,
    /// Extra librdkafka setting of the bare loop's consumer, `key=value`
    /// (repeatable), e.g. `fetch.min.bytes=65536`.
    #[arg(long, value_parser = key_value)]
    bare_consumer: Vec<(String, String)>,
    /// Extra librdkafka setting of the bare loop's producer, `key=value`
    /// (repeatable), e.g. `linger.ms=0`.
    #[arg(long, value_parser = key_value)]
    bare_producer: Vec<(String, String)>,
}

/// Parses `key=value`.
fn key_value(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not key=value"))
}

fn main() -> anyhow::Result<()> {
    moneta_tls::install_crypto_provider();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Copy(args) => copy(&args),
        Command::Webhooks(args) => webhooks_benchmark(&args),
        Command::MicroReport(args) => micro::report(&args.criterion, &args.out),
        Command::Console(args) => console::main(&console::Options {
            contracts: args.contracts,
            samples: args.samples,
            out: args.out,
        }),
        Command::Stages(args) => stages::main(&stages::Options {
            contracts: args.contracts,
            pairs: args.pairs,
            timeout: Duration::from_secs(args.timeout_secs),
            bare: !args.no_bare,
            out: args.out,
        }),
        Command::Scale(args) => scale::main(&scale::Options {
            stages: args.stages,
            contracts: args.contracts,
            pairs: args.pairs,
            timeout: Duration::from_secs(args.timeout_secs),
            cql: args.cql,
            partitions: args.partitions,
            out: args.out,
        }),
        Command::Steady(args) => load_scenario(
            "steady",
            scenarios::steady(args.rate, args.seconds, args.warmup),
            &args.load,
            false,
            |run| (scenarios::steady_verdicts(run), None),
        ),
        Command::Ramp(args) => load_scenario(
            "ramp",
            scenarios::ramp(&args.rates, args.step_seconds),
            &args.load,
            !args.no_early_stop,
            |run| (Vec::new(), Some(scenarios::saturation(&run.phases))),
        ),
        Command::Soak(args) => load_scenario(
            "soak",
            scenarios::soak(args.rate, args.minutes, args.window_secs),
            &args.load,
            false,
            |run| (scenarios::soak_verdicts(run, args.rss_bound_mib), None),
        ),
        Command::Burst(args) => load_scenario(
            "burst",
            scenarios::burst(args.base, args.peak, args.before, args.burst, args.after),
            &args.load,
            false,
            |_| (Vec::new(), None),
        ),
    }
}

fn load_scenario(
    name: &str,
    phases: Vec<schedule::Phase>,
    args: &LoadArgs,
    early_stop: bool,
    judge: impl FnOnce(&load::LoadRun) -> (Vec<scenarios::Verdict>, Option<scenarios::Saturation>),
) -> anyhow::Result<()> {
    if args.pairs == 0 || phases.iter().any(|p| p.rate <= 0.0 || p.seconds <= 0.0) {
        bail!("--pairs, rates and seconds must be positive");
    }
    let started = UtcTime::now();
    let load_average = machine::load_average();
    let settings = load::LoadSettings {
        pairs: args.pairs,
        cosign_delay_ms: args.cosign_delay_ms,
        max_in_flight: args.max_in_flight,
        timeout_ms: args.timeout_ms,
        drain_secs: args.drain_secs,
        stop_when_edge_saturates: early_stop,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    eprintln!("starting Apache Kafka and moneta up");
    let hub = hub::Hub::start("")?;
    let broker = hub.broker.label();
    let tag = format!("{name}{}", started.seconds_of_day);
    let run = tokio.block_on(load::run(&hub, &phases, &settings, &tag));
    drop(hub);
    let run = run?;
    let (verdicts, saturation) = judge(&run);
    let report = scenarios::LoadReport {
        benchmark: "load".into(),
        scenario: name.into(),
        started_at: started.rfc3339(),
        machine: Machine::detect(),
        git: Commit::detect(),
        broker,
        load_average_at_start: load_average,
        settings,
        plan: phases,
        run,
        verdicts,
        saturation,
        notes: scenarios::notes(),
    };
    let written = report.write(&args.out, &started)?;
    print!("{}", report.markdown());
    for path in &written {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn copy(args: &CopyArgs) -> anyhow::Result<()> {
    if args.records == 0
        || args.partitions < 1
        || args.scenarios.is_empty()
        || args.max_batch_records == 0
        || args.commit_interval_ms == 0
    {
        bail!(
            "--records, --partitions, --scenarios, --max-batch-records and \
             --commit-interval-ms must not be zero or empty"
        );
    }
    let started = UtcTime::now();
    let load_average = machine::load_average();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let processing = ProcessingConfig {
        max_batch_records: args.max_batch_records,
        commit_interval_ms: args.commit_interval_ms,
        ..ProcessingConfig::default()
    };
    let settings = Settings {
        records: args.records,
        partitions: args.partitions,
        timeout: Duration::from_secs(args.timeout_secs),
        processing: processing.clone(),
        warmup_records: args.warmup_records,
        bare_plain_commit: args.bare_plain_commit,
        bare_consumer: args.bare_consumer.iter().cloned().collect(),
        bare_producer: args.bare_producer.iter().cloned().collect(),
    };

    let mut scenarios = Vec::new();
    for &scenario in &args.scenarios {
        eprintln!("[{scenario}] starting a fresh Apache Kafka broker");
        let broker = Broker::kafka()?;
        let measured = scenario::run_copy(&broker, scenario, &settings, &tokio)?;
        eprintln!(
            "[{scenario}] {:.0} records/s ({:.2} s; steady {:.0} records/s), produce-only {:.0} records/s",
            measured.records_per_sec,
            measured.seconds,
            measured.steady_records_per_sec,
            measured.produce_records_per_sec
        );
        scenarios.push(measured);
    }

    let mut report = Report {
        benchmark: "copy".into(),
        started_at: started.rfc3339(),
        machine: Machine::detect(),
        git: Commit::detect(),
        load_average_at_start: load_average,
        records: args.records,
        partitions: args.partitions,
        max_batch_records: processing.max_batch_records,
        commit_interval_ms: processing.commit_interval_ms,
        bare_consumer_settings: settings.bare_consumer.clone(),
        bare_producer_settings: settings.bare_producer.clone(),
        scenarios,
        ratios_to_bare: Vec::new(),
        bare_target: None,
    };
    report.judge();
    let written = report.write(&args.out, &started)?;
    print!("{}", report.markdown());
    for path in &written {
        eprintln!("wrote {}", path.display());
    }
    let failed: Vec<String> = report
        .scenarios
        .iter()
        .filter(|s| !s.verified)
        .map(|s| {
            format!(
                "{}: {} ids missing, {} duplicates, {} unexpected records",
                s.scenario, s.missing, s.duplicates, s.unexpected
            )
        })
        .collect();
    if !failed.is_empty() {
        bail!("output check failed: {}", failed.join("; "));
    }
    Ok(())
}

fn webhooks_benchmark(args: &WebhooksArgs) -> anyhow::Result<()> {
    let started = UtcTime::now();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let settings = webhooks::Settings {
        rate: args.rate,
        seconds: args.seconds,
        timeout_ms: args.timeout_ms,
    };
    let alone = tokio.block_on(webhooks::scenario(settings, false))?;
    let with_dead = tokio.block_on(webhooks::scenario(settings, true))?;
    let ratio = |a: u64, b: u64| if a == 0 { 0.0 } else { b as f64 / a as f64 };
    let report = serde_json::json!({
        "benchmark": "webhooks",
        "started_at": started.rfc3339(),
        "machine": Machine::detect(),
        "git": Commit::detect(),
        "rate_per_endpoint": args.rate,
        "seconds": args.seconds,
        "timeout_ms": args.timeout_ms,
        "scenarios": [alone, with_dead],
        "p50_ratio": ratio(alone.p50_ms, with_dead.p50_ms),
        "p95_ratio": ratio(alone.p95_ms, with_dead.p95_ms),
        "target": "with a dead neighbour, the healthy endpoint's latency within 20% of alone",
    });
    let mut md = format!(
        "# `webhooks` benchmark, {}\n\n{} deliveries/s per endpoint for {} s; the dead endpoint never answers (timeout {} ms).\n\n| scenario | scheduled | received | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|\n",
        started.rfc3339(),
        args.rate,
        args.seconds,
        args.timeout_ms
    );
    for s in [&alone, &with_dead] {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            s.scenario, s.scheduled, s.received, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
        ));
    }
    md.push_str(&format!(
        "\nHealthy latency with a dead neighbour / alone: p50 {:.2}, p95 {:.2} (target: at most 1.20).\n",
        ratio(alone.p50_ms, with_dead.p50_ms),
        ratio(alone.p95_ms, with_dead.p95_ms)
    ));
    std::fs::create_dir_all(&args.out)?;
    let stem = args.out.join(format!("webhooks-{}", started.date()));
    std::fs::write(
        stem.with_extension("json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    std::fs::write(stem.with_extension("md"), &md)?;
    print!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_key_value_settings() {
        assert_eq!(
            key_value("linger.ms = 0"),
            Ok(("linger.ms".to_owned(), "0".to_owned()))
        );
        assert_eq!(key_value("a=b=c"), Ok(("a".to_owned(), "b=c".to_owned())));
        assert!(key_value("linger.ms").is_err());
        assert!(key_value("=0").is_err());
    }

    #[test]
    fn copy_runs_every_scenario_by_default() {
        let cli = Cli::try_parse_from(["moneta-load-tests", "copy"]).map_err(|e| e.to_string());
        let Ok(Cli {
            command: Command::Copy(args),
        }) = cli
        else {
            panic!("copy did not parse: {cli:?}");
        };
        assert_eq!(
            args.scenarios,
            vec![
                Scenario::BareTransactional,
                Scenario::AtLeastOnce,
                Scenario::ExactlyOnce
            ]
        );
        assert_eq!(args.max_batch_records, 10_000);
        assert_eq!(args.commit_interval_ms, 100);
    }
}

//! `moneta up` and `moneta run`: run stages until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow};
use moneta_runtime::{Runtime, RuntimeError, RuntimeMetrics, Shutdown};
use moneta_topology::{Config, Topology};
use prometheus::Registry;

use super::{admin, broker, stop_signal, topics};

/// `moneta up`: embedded broker, topics, every enabled stage.
pub async fn up(config: Config) -> anyhow::Result<ExitCode> {
    let broker = if config.broker.embedded {
        broker::start_or_reuse(&config).await?
    } else {
        None
    };
    topics::create(&config).await.context("creating topics")?;
    if config.admin.enabled {
        let admin_config = config.clone();
        tokio::spawn(async move {
            if let Err(error) = admin::serve(&admin_config, stop_signal()).await {
                tracing::error!(error = %format!("{error:#}"), "admin API stopped");
            }
        });
    }
    let topology = Topology::new(&config);
    let stages: Vec<String> = topology
        .stages()
        .iter()
        .filter(|s| s.topics.enabled)
        .map(|s| s.name.to_owned())
        .collect();
    println!("Moneta is up.");
    println!(
        "  broker      {} ({})",
        config.kafka.bootstrap_servers,
        match &broker {
            Some(b) => format!("embedded tansu, data and log in {}", b.data_dir().display()),
            None => "external or already running".into(),
        }
    );
    println!("  guarantee   {}", config.processing.guarantee);
    println!("  state       {}", config.state.dir.display());
    if config.admin.enabled {
        println!(
            "  admin API   http://{}/v1/admin (OpenAPI: /v1/admin/openapi.json)",
            config.admin.listen
        );
    }
    for stage in topology.stages().iter().filter(|s| s.topics.enabled) {
        println!(
            "  stage       {}: {} -> {} (dead letters: {})",
            stage.name, stage.topics.input, stage.topics.output, stage.topics.dead_letter
        );
    }
    println!(
        "Try: echo '{{\"id\":\"c-1\"}}' | moneta produce moneta.copy.input && moneta consume moneta.copy.output --count 1"
    );
    println!("Registry: `moneta seed-demo`, then `moneta admin list membership-organizations`.");
    println!("Logs go to stderr. Ctrl-C stops everything.");
    let code = run(config, stages, 0).await;
    drop(broker);
    code
}

/// `moneta run <stage>…`: the named stages in this process.
pub async fn run(config: Config, names: Vec<String>, instance: u32) -> anyhow::Result<ExitCode> {
    let topology = Topology::new(&config);
    let stages = names
        .iter()
        .map(|name| {
            topology.stage(name).ok_or_else(|| {
                anyhow!(
                    "no stage named `{name}`; stages: {}",
                    topology.stage_names().join(", ")
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let registry = Registry::new();
    let runtime = Runtime {
        kafka: config.kafka.clone(),
        processing: config.processing.clone(),
        metrics: RuntimeMetrics::new(&registry)?,
        shutdown: Shutdown::new(),
    };
    let handle = tokio::runtime::Handle::current();
    let mut threads = Vec::new();
    for stage in stages {
        let thread =
            topology.spawn(stage, &runtime, instance, &config.state.dir, handle.clone())?;
        threads.push((stage.name, thread));
    }

    let shutdown = runtime.shutdown.clone();
    let bound = config.processing.shutdown_timeout();
    tokio::spawn(async move {
        stop_signal().await;
        tracing::info!("stop requested; finishing open batches");
        shutdown.request();
        tokio::time::sleep(bound).await;
        tracing::error!(
            bound_ms = bound.as_millis() as u64,
            "stages did not stop in time; exiting"
        );
        std::process::exit(1);
    });

    let shutdown = runtime.shutdown.clone();
    let failures = tokio::task::spawn_blocking(move || join_all(threads, &shutdown)).await?;
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow!(failures.join("\n")))
    }
}

type StageThread = (&'static str, JoinHandle<Result<(), RuntimeError>>);

/// Waits for every stage; the first failure asks the others to stop too.
fn join_all(mut pending: Vec<StageThread>, shutdown: &Shutdown) -> Vec<String> {
    let mut failures = Vec::new();
    while !pending.is_empty() {
        let (done, rest): (Vec<StageThread>, Vec<StageThread>) =
            pending.into_iter().partition(|(_, t)| t.is_finished());
        for (name, thread) in done {
            let failure = match thread.join() {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => format!("{name}: {error}"),
                Err(_) => format!("{name}: panicked"),
            };
            shutdown.request();
            failures.push(failure);
        }
        pending = rest;
        std::thread::sleep(Duration::from_millis(50));
    }
    failures
}

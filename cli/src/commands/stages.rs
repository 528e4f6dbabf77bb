//! `moneta up` and `moneta run`: run stages until SIGTERM or Ctrl-C.

use std::process::ExitCode;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, anyhow};
use moneta_ingest::Ingest;
use moneta_ingest::pipeline::WatchedStage;
use moneta_processors::template_check;
use moneta_runtime::{Runtime, RuntimeError, RuntimeMetrics, Shutdown};
use moneta_servers::broker::{KAFKA_VERSION, LocalBroker};
use moneta_servers::cassandra::LocalCassandra;
use moneta_state::StateStore;
use moneta_topology::services::{self, load_keys, register_schemas};
use moneta_topology::{Config, Services, Topology};
use prometheus::Registry;

use super::{admin, broker, stop_signal, topics};

/// Heap of the local Cassandra of `moneta up --cql`, in MiB.
const CQL_HEAP_MB: u32 = 1024;
/// Longest the local Cassandra may take to start.
const CQL_START_LIMIT: Duration = Duration::from_secs(180);

/// `moneta up`: embedded broker, topics, schema registry, admin API,
/// ingest edge and every enabled stage, in one process; with `cql`, the
/// state in CQL on a local Apache Cassandra node it starts (or the node
/// already answering at `state.scylla_nodes`).
pub async fn up(mut config: Config, cql: bool) -> anyhow::Result<ExitCode> {
    let shutdown = stop_on_signal(&config);
    let broker = if config.broker.embedded {
        broker::start_or_reuse(&config).await?
    } else {
        None
    };
    let cassandra = if cql {
        config.state.backend = moneta_topology::config::StateBackend::Scylla;
        start_local_cql(&config).await?
    } else {
        None
    };
    topics::create(&config).await.context("creating topics")?;
    serve_registry(&config).await?;
    let store = services::open_store(&config).await?;
    let store = moneta_topology::changelog::logged(&config, store)
        .await
        .context("registry changelog")?;
    let (keys, created) = load_keys(&config, true)?;
    if let Some(note) = created {
        println!("signing     {note}");
    }
    let services = services::services(&config, store.clone(), keys)?;
    publish_existing_contracts(&config, &services).await?;
    let registry = Registry::new();
    serve_ops(&config, &registry, Some(store.clone())).await?;
    if config.admin.enabled {
        // A bad [admin.tls] or a taken port stops `moneta up` here, not
        // just the admin task.
        if let Some(tls) = &config.admin.tls {
            moneta_tls::server_config(tls).context("[admin.tls]")?;
        }
        let listener = crate::ops::bind("admin API", &config.admin.listen).await?;
        let (admin_config, store) = (config.clone(), store.clone());
        let live = moneta_admin::Live::new(stage_summaries(&config), registry.clone());
        tokio::spawn(async move {
            if let Err(error) =
                admin::serve(&admin_config, listener, store, live, stop_signal()).await
            {
                tracing::error!(error = %format!("{error:#}"), "admin API stopped");
            }
        });
    }
    if config.ingest.enabled {
        serve_ingest(&config, &services, &registry).await?;
    }
    if config.webhooks.enabled {
        run_webhook_worker(&config, &services, &registry).await?;
    }
    let topology = Topology::new(&config);
    let stages: Vec<String> = topology
        .stages()
        .iter()
        .filter(|s| s.enabled)
        .map(|s| s.name.to_owned())
        .collect();
    print_summary(&config, &topology, broker.as_ref());
    let code = run_stages(config, stages, 0, Some(services), registry, shutdown).await;
    if let Some(broker) = broker {
        tokio::task::spawn_blocking(move || drop(broker)).await?;
    }
    if let Some(cassandra) = cassandra {
        tokio::task::spawn_blocking(move || drop(cassandra)).await?;
    }
    code
}

/// The stages `moneta up` runs, as the console shows them.
pub fn stage_summaries(config: &Config) -> Vec<moneta_admin::StageSummary> {
    Topology::new(config)
        .stages()
        .iter()
        .filter(|s| s.enabled)
        .map(|s| moneta_admin::StageSummary {
            name: s.name.to_owned(),
            description: s.summary.to_owned(),
            reads: s.input_names(),
            writes: s.output_names(),
            dead_letters: s.dead_letter.clone(),
        })
        .collect()
}

/// Puts the contract rows of a store from before the contract changelog
/// existed into it (nothing once the changelog has any record).
async fn publish_existing_contracts(config: &Config, services: &Services) -> anyhow::Result<()> {
    let published = moneta_topology::contract_changelog::publish_existing(
        config,
        services.store.as_ref(),
        &services.codec,
    )
    .await
    .context("contract changelog")?;
    if published > 0 {
        println!(
            "changelog   {published} existing contract row(s) published to {}",
            config.contracts.topics.contract_changelog
        );
    }
    Ok(())
}

/// Starts a local Cassandra on the first address of `state.scylla_nodes`,
/// data under `<state.dir>/cassandra`, unless a node already answers there.
async fn start_local_cql(config: &Config) -> anyhow::Result<Option<LocalCassandra>> {
    use moneta_servers::cassandra::{self, CassandraInstall};
    let listen = config
        .state
        .scylla_nodes
        .split(',')
        .map(str::trim)
        .find(|n| !n.is_empty())
        .context("state.scylla_nodes names no node")?
        .to_owned();
    if cassandra::accepts(&listen) {
        println!("cql         a CQL node already answers on {listen}; using it");
        return Ok(None);
    }
    let install = CassandraInstall::find(&config.broker.java, &cassandra::default_libs())?;
    let dir = config.state.dir.join("cassandra");
    let (at, data) = (listen.clone(), dir.clone());
    let (node, took) = tokio::task::spawn_blocking(move || {
        LocalCassandra::start(install, &at, &data, CQL_HEAP_MB, CQL_START_LIMIT)
    })
    .await??;
    println!(
        "cql         Apache Cassandra {} on {listen} (data in {}), ready in {:.1} s",
        cassandra::CASSANDRA_VERSION,
        dir.display(),
        took.as_secs_f64()
    );
    Ok(Some(node))
}

fn print_summary(config: &Config, topology: &Topology, broker: Option<&LocalBroker>) {
    println!("Moneta is up.");
    println!(
        "  broker      {} ({})",
        config.kafka.bootstrap_servers,
        match broker {
            Some(broker) => format!(
                "embedded Apache Kafka {KAFKA_VERSION}, started in {:.1} s; data and logs in {}",
                broker.startup.as_secs_f64(),
                broker.dir.display()
            ),
            None => "external or already running".into(),
        }
    );
    println!("  guarantee   {}", config.processing.guarantee);
    println!("  state       {}", config.state.dir.display());
    println!("  schemas     {}", config.schema_registry.effective_url());
    if config.admin.enabled {
        println!(
            "  admin API   http://{}/v1/admin (OpenAPI: /v1/admin/openapi.json)",
            config.admin.listen
        );
    }
    if config.ingest.enabled {
        println!(
            "  ingest      http://{}/v1/events/{{domain}} (keys: /v1/keys)",
            config.ingest.listen
        );
    }
    if config.webhooks.enabled {
        println!(
            "  webhooks    delivery worker (dead letters: {})",
            config.webhooks.dead_letter
        );
    }
    for stage in topology.stages().iter().filter(|s| s.enabled) {
        println!(
            "  stage       {}: {} -> {} (dead letters: {})",
            stage.name,
            stage.input_names().join(", "),
            stage.output_names().join(", "),
            stage.dead_letter
        );
    }
    println!(
        "Registry: `moneta seed-demo`; then `moneta submit-demo` signs and submits a contract."
    );
    println!("Logs go to stderr. Ctrl-C stops everything.");
}

/// Starts and serves the embedded schema registry (if configured), then
/// registers the signing path's schemas.
pub async fn serve_registry(config: &Config) -> anyhow::Result<()> {
    if config.schema_registry.url.is_empty() {
        serve_schema_registry(config).await?;
    }
    let mut attempts = 0;
    loop {
        match register_schemas(config).await {
            Ok(_) => return Ok(()),
            Err(services::ServicesError::Registry(
                moneta_schema_registry::RegistryError::Http { .. },
            )) if attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => return Err(error).context("registering Avro schemas"),
        }
    }
}

async fn serve_ingest(
    config: &Config,
    services: &Services,
    registry: &Registry,
) -> anyhow::Result<()> {
    let ingest = Ingest::new(
        config.ingest.clone(),
        &config.kafka,
        services.store.clone(),
        services.codec.clone(),
        &config.contracts.topics.ingest,
        services.keys.clone(),
    )?
    .watch_pipeline(&config.kafka, watched_stages(config)?)?;
    // A bad [ingest.tls] fails the start, not just the edge's task.
    if let Some(tls) = &config.ingest.tls {
        moneta_tls::server_config(tls).context("[ingest.tls]")?;
    }
    let listener = crate::ops::bind("ingest edge", &config.ingest.listen).await?;
    let tls = config.ingest.tls.clone();
    let app = moneta_ingest::router_with_metrics(Arc::new(ingest), registry)?;
    tokio::spawn(async move {
        if let Err(error) =
            moneta_ingest::serve_on(app, listener, tls.as_ref(), stop_signal()).await
        {
            tracing::error!(%error, "ingest edge stopped");
        }
    });
    Ok(())
}

/// The stages of `ingest.watch_stages`, as the edge watches them.
fn watched_stages(config: &Config) -> anyhow::Result<Vec<WatchedStage>> {
    let topology = Topology::new(config);
    config
        .ingest
        .watch_stages
        .iter()
        .map(|name| {
            let stage = topology
                .stage(name)
                .with_context(|| format!("ingest.watch_stages: no stage named {name}"))?;
            Ok(WatchedStage {
                name: name.clone(),
                group_id: moneta_runtime::group_id(&config.processing, &stage.spec(0)),
                inputs: stage.input_names(),
            })
        })
        .collect()
}

/// Serves `/metrics`, `/healthz` and `/readyz` (if `metrics.listen` is set);
/// a port already taken fails the start.
pub(crate) async fn serve_ops(
    config: &Config,
    registry: &Registry,
    store: Option<Arc<dyn StateStore>>,
) -> anyhow::Result<()> {
    if config.metrics.listen.is_empty() {
        return Ok(());
    }
    let ops = crate::ops::Ops {
        registry: registry.clone(),
        kafka: config.kafka.clone(),
        store,
    };
    let listen = config.metrics.listen.clone();
    let listener = crate::ops::bind("metrics and health endpoints", &listen).await?;
    tokio::spawn(async move {
        if let Err(error) = crate::ops::serve(ops, listener, stop_signal()).await {
            tracing::error!(%listen, %error, "metrics and health endpoints stopped");
        }
    });
    Ok(())
}

/// Runs the webhook delivery worker until a stop signal, on a thread and
/// async runtime of its own at `processing.thread_niceness`, like the
/// stages: its attempts (TLS, signing, waiting on receivers) never take the
/// edge's async threads. Its Kafka client is created there and inherits the
/// niceness. A worker that cannot be created fails the start.
async fn run_webhook_worker(
    config: &Config,
    services: &Services,
    registry: &Registry,
) -> anyhow::Result<()> {
    let metrics = moneta_webhooks::WebhookMetrics::new(registry)?;
    let (webhooks, kafka) = (config.webhooks.clone(), config.kafka.clone());
    let (store, keys) = (services.store.clone(), services.keys.clone());
    let niceness = config.processing.thread_niceness;
    let (started, created) = tokio::sync::oneshot::channel();
    // Built here, run on the thread: its blocking threads start from there
    // and inherit the niceness.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .thread_name("webhooks")
        .enable_all()
        .build()
        .context("webhook worker runtime")?;
    std::thread::Builder::new()
        .name("webhooks".into())
        .spawn(move || {
            moneta_runtime::lower_this_thread(niceness);
            runtime.block_on(async move {
                match moneta_webhooks::Worker::new(webhooks, &kafka, store, keys, metrics) {
                    Ok(worker) => {
                        let _ = started.send(Ok(()));
                        worker.run(stop_signal()).await;
                    }
                    Err(error) => {
                        let _ = started.send(Err(anyhow!(error)));
                    }
                }
            });
        })
        .context("starting the webhook worker's thread")?;
    created
        .await
        .context("the webhook worker's thread ended before it started")?
}

/// A part of Moneta that `moneta run` serves beside (or instead of) stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The partner ingest edge (`ingest.listen`).
    Edge,
    /// The webhook delivery worker.
    WebhookWorker,
    /// The Confluent-compatible schema registry (`schema_registry.listen`),
    /// its schemas kept in Kafka (`schema_registry.topic`).
    SchemaRegistry,
}

impl Service {
    /// Every service, in the order `moneta run` starts them.
    pub const ALL: [Service; 3] = [
        Service::SchemaRegistry,
        Service::Edge,
        Service::WebhookWorker,
    ];

    /// The name `moneta run` knows the service by.
    pub fn name(self) -> &'static str {
        match self {
            Service::Edge => "edge",
            Service::WebhookWorker => "webhook-worker",
            Service::SchemaRegistry => "schema-registry",
        }
    }

    fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// `moneta run <stage or service>…`: the named stages and services in this
/// process, so each part of the topology can run (and scale) on its own.
pub async fn run(config: Config, names: Vec<String>, instance: u32) -> anyhow::Result<ExitCode> {
    let shutdown = stop_on_signal(&config);
    let topology = Topology::new(&config);
    let (mut wanted, mut stages) = (Vec::new(), Vec::new());
    for name in names {
        match Service::named(&name) {
            Some(service) => wanted.push(service),
            None => stages.push(name),
        }
    }
    if let Some(unknown) = stages.iter().find(|n| topology.stage(n).is_none()) {
        return Err(anyhow!(
            "no stage or service named `{unknown}`; stages: {}; services: {}",
            topology.stage_names().join(", "),
            Service::ALL.map(Service::name).join(", ")
        ));
    }
    if wanted.contains(&Service::SchemaRegistry) {
        serve_schema_registry(&config).await?;
    }
    let needs_services = wanted
        .iter()
        .any(|s| matches!(s, Service::Edge | Service::WebhookWorker))
        || stages
            .iter()
            .filter_map(|n| topology.stage(n))
            .any(|s| s.needs_services());
    let registry = Registry::new();
    let services = if needs_services {
        let store: Arc<dyn StateStore> = services::open_store(&config).await?;
        let (keys, _) = load_keys(&config, false)?;
        register_schemas(&config)
            .await
            .context("registering Avro schemas (is the schema registry up?)")?;
        Some(services::services(&config, store, keys)?)
    } else {
        None
    };
    serve_ops(
        &config,
        &registry,
        services.as_ref().map(|s| s.store.clone()),
    )
    .await?;
    if let Some(services) = &services {
        if stages.iter().any(|s| s == template_check::STAGE) {
            publish_existing_contracts(&config, services).await?;
        }
        if wanted.contains(&Service::Edge) {
            serve_ingest(&config, services, &registry).await?;
        }
        if wanted.contains(&Service::WebhookWorker) {
            run_webhook_worker(&config, services, &registry).await?;
            tracing::info!("webhook delivery worker started");
        }
    }
    if stages.is_empty() {
        // Services only: they run until the stop signal.
        while !shutdown.requested() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if let Some(services) = &services {
            flush_on_stop(&services.store).await;
        }
        return Ok(ExitCode::SUCCESS);
    }
    run_stages(config, stages, instance, services, registry, shutdown).await
}

/// Serves the schema registry at `schema_registry.listen`, whatever
/// `schema_registry.url` says (that is where the other processes find it).
async fn serve_schema_registry(config: &Config) -> anyhow::Result<()> {
    let listener = crate::ops::bind("schema registry", &config.schema_registry.listen).await?;
    let registry =
        moneta_schema_registry::SchemaRegistry::start(&config.kafka, &config.schema_registry.topic)
            .await
            .context("starting the schema registry")?;
    tokio::spawn(async move {
        if let Err(error) = registry.serve_on(listener, stop_signal()).await {
            tracing::error!(%error, "schema registry stopped");
        }
    });
    Ok(())
}

/// Listens for SIGTERM and SIGINT from the start of the process (a signal
/// during start-up must not be lost): the first asks every stage to finish
/// its open batch and stop, and the process exits if they have not within
/// `processing.shutdown_timeout_ms`.
fn stop_on_signal(config: &Config) -> Shutdown {
    let shutdown = Shutdown::new();
    let requested = shutdown.clone();
    let bound = config.processing.shutdown_timeout();
    let signal = stop_signal();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("stop requested; finishing open batches");
        requested.request();
        tokio::time::sleep(bound).await;
        tracing::error!(
            bound_ms = bound.as_millis() as u64,
            "stages did not stop in time; exiting"
        );
        std::process::exit(1);
    });
    shutdown
}

async fn run_stages(
    config: Config,
    names: Vec<String>,
    instance: u32,
    services: Option<Services>,
    registry: Registry,
    shutdown: Shutdown,
) -> anyhow::Result<ExitCode> {
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
    let runtime = Runtime {
        kafka: config.kafka.clone(),
        processing: config.processing.clone(),
        metrics: RuntimeMetrics::new(&registry)?,
        shutdown,
    };
    let handle = tokio::runtime::Handle::current();
    let mut threads = Vec::new();
    for stage in stages {
        let thread = topology.spawn(
            stage,
            &runtime,
            instance,
            &config.state.dir,
            handle.clone(),
            services.as_ref(),
        )?;
        threads.push((stage.name, thread));
    }

    let shutdown = runtime.shutdown.clone();
    let failures = tokio::task::spawn_blocking(move || join_all(threads, &shutdown)).await?;
    if let Some(services) = &services {
        flush_on_stop(&services.store).await;
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(anyhow!(failures.join("\n")))
    }
}

/// Makes the deferred writes of the edge and the webhook worker durable
/// once the process stops (their timers flush them while it runs): a stop
/// then loses none of them, where a crash loses up to their flush interval.
async fn flush_on_stop(store: &Arc<dyn StateStore>) {
    if let Err(error) = store.flush().await {
        tracing::warn!(%error, "the last deferred state writes were not made durable");
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

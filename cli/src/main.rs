//! `moneta`: run and operate the Moneta Core topology.

mod commands;
mod console;
mod observability;
mod ops;
mod otlp;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use moneta_topology::Config;
use observability::init_logging;

/// Moneta Core: the signed-contract hub, as a Kafka stream topology.
#[derive(Debug, Parser)]
#[command(name = "moneta", version, about)]
struct Cli {
    /// Configuration file (TOML); `MONETA_…` variables override it.
    #[arg(short, long, env = "MONETA_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the embedded broker (unless `broker.embedded = false`), create
    /// every topic, and run every enabled stage until SIGTERM or Ctrl-C.
    Up {
        /// Keep the state in CQL (`state.backend = scylla`) on a local Apache
        /// Cassandra node started at the first of `state.scylla_nodes`
        /// (`scripts/setup.sh cassandra` installs it), or the node already
        /// answering there.
        #[arg(long)]
        cql: bool,
    },
    /// Run the named stages and services in this process until SIGTERM or
    /// Ctrl-C: each part of the topology on its own, as production runs it.
    Run {
        /// Stages (see `moneta topology`) and services (`edge`,
        /// `webhook-worker`, `schema-registry`) to run.
        #[arg(required = true)]
        stages: Vec<String>,
        /// Instance number: stable per instance, distinct between instances.
        #[arg(long, default_value_t = 0)]
        instance: u32,
    },
    /// Manage the topology's topics.
    Topics {
        #[command(subcommand)]
        command: commands::topics::TopicsCommand,
    },
    /// Operate the registry through the admin API.
    Admin {
        #[command(subcommand)]
        command: commands::admin::AdminCommand,
    },
    /// Create a small demo network (MO, publisher, keys, templates, …) through the admin API.
    SeedDemo,
    /// Settlements: export what finance reads; advance the watermark.
    Settlements {
        #[command(subcommand)]
        command: commands::settlements::SettlementsCommand,
    },
    /// Moneta's countersigning keys: generate, rotate, show.
    SigningKey {
        #[command(subcommand)]
        command: commands::keys::KeyCommand,
    },
    /// Committed input offsets of a stage.
    Offsets {
        #[command(subcommand)]
        command: OffsetsCommand,
    },
    /// The state store: its digest; rebuilding it from the log.
    State {
        #[command(subcommand)]
        command: commands::state::StateCommand,
    },
    /// Re-inject records (dead letters included) into a stage's input.
    Replay(commands::replay::ReplayArgs),
    /// Describe the topology: stages, topics, guarantees.
    Topology {
        #[command(subcommand)]
        command: TopologyCommand,
    },
    /// Find contracts (by party, mPass, type, status, creation time) and read one.
    Contracts {
        #[command(subcommand)]
        command: commands::contracts::ContractsCommand,
    },
    /// The webhook delivery log.
    Deliveries {
        #[command(subcommand)]
        command: commands::deliveries::DeliveriesCommand,
    },
    /// Webhook operations (redelivery).
    Webhooks {
        #[command(subcommand)]
        command: commands::deliveries::WebhooksCommand,
    },
    /// Sign and submit a demo subscription charge as Globe, co-sign it as
    /// Acme, follow it until Moneta countersigns, verify every signature.
    SubmitDemo {
        /// Contract id (default: a new one).
        #[arg(long)]
        contract_id: Option<String>,
    },
    /// Inspect the configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the embedded Apache Kafka broker in the foreground.
    Broker {
        #[command(subcommand)]
        command: commands::broker::BrokerCommand,
    },
    /// Write stdin lines as records to a topic (key: the JSON `id`, if any).
    Produce {
        /// Destination topic.
        topic: String,
    },
    /// Print a topic's record values, one per line, from the beginning.
    Consume {
        /// Topic to read.
        topic: String,
        /// Stop after this many records.
        #[arg(long)]
        count: Option<usize>,
        /// Stop after this many seconds without a new record.
        #[arg(long, default_value_t = 5)]
        idle_secs: u64,
    },
}

#[derive(Debug, Subcommand)]
enum OffsetsCommand {
    /// Move a stopped stage's committed offsets (earliest, latest, a time, an offset).
    Reset(commands::offsets::ResetArgs),
}

#[derive(Debug, Subcommand)]
enum TopologyCommand {
    /// Print the stages and their topics.
    Describe {
        /// `text`, `mermaid`, `dot`, `json` or `markdown` (the docs' tables).
        #[arg(long, value_enum, default_value = "text")]
        format: commands::describe::Format,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, secrets redacted.
    Check,
}

fn main() -> ExitCode {
    moneta_tls::install_crypto_provider();
    let cli = Cli::parse();
    let config_path = cli.config.or_else(|| {
        let default = PathBuf::from("moneta.toml");
        default.exists().then_some(default)
    });
    let config = match Config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("moneta: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("moneta: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let otlp = match otlp::Otlp::start(&config.telemetry, runtime.handle().clone()) {
        Ok(otlp) => otlp,
        Err(error) => {
            eprintln!("moneta: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(&config.log, otlp.as_ref());
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up { cql } => commands::stages::up(config, cql).await,
            Command::Run { stages, instance } => {
                commands::stages::run(config, stages, instance).await
            }
            Command::Topics { command } => commands::topics::execute(&config, command).await,
            Command::Config {
                command: ConfigCommand::Check,
            } => commands::config_check(&config, config_path.as_deref()),
            Command::Broker { command } => commands::broker::execute(&config, command).await,
            Command::Admin { command } => commands::admin::execute(&config, command).await,
            Command::SeedDemo => commands::demo::seed(&config).await,
            Command::Settlements { command } => {
                commands::settlements::execute(&config, command).await
            }
            Command::SigningKey { command } => commands::keys::execute(&config, command),
            Command::Offsets {
                command: OffsetsCommand::Reset(args),
            } => commands::offsets::reset(&config, args).await,
            Command::Replay(args) => commands::replay::replay(&config, args).await,
            Command::State { command } => commands::state::execute(&config, command).await,
            Command::Topology {
                command: TopologyCommand::Describe { format },
            } => commands::describe::describe(&config, format),
            Command::Contracts { command } => {
                commands::contracts::contracts(&config, command).await
            }
            Command::Deliveries { command } => {
                commands::deliveries::deliveries(&config, command).await
            }
            Command::Webhooks { command } => commands::deliveries::webhooks(&config, command).await,
            Command::SubmitDemo { contract_id } => {
                commands::submit::submit_demo(&config, contract_id).await
            }
            Command::Produce { topic } => commands::io::produce(&config, &topic).await,
            Command::Consume {
                topic,
                count,
                idle_secs,
            } => commands::io::consume(&config, &topic, count, idle_secs).await,
        }
    });
    // Spans still buffered are exported while the runtime still runs.
    if let Some(otlp) = otlp {
        otlp.shutdown();
    }
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("moneta: {error:#}");
            ExitCode::FAILURE
        }
    }
}

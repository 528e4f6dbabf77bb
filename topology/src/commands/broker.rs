//! `moneta broker …`: local brokers in the foreground.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use moneta_connectors::kafka::probe_apis;
use moneta_connectors::tansu::{Tansu, TansuOptions};
use moneta_topology::{Config, Topology};
use rdkafka::mocking::MockCluster;

use super::stop_signal;

/// Broker subcommands.
#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Run the embedded tansu broker (`[broker]` settings) until stopped.
    Start,
    /// Run librdkafka's mock cluster (transactions, no persistence) until
    /// stopped; prints its bootstrap servers on the first line.
    Mock {
        /// Number of mock brokers.
        #[arg(long, default_value_t = 1)]
        brokers: i32,
    },
}

/// Runs a broker subcommand.
pub async fn execute(config: &Config, command: BrokerCommand) -> anyhow::Result<ExitCode> {
    match command {
        BrokerCommand::Start => {
            let broker = start(config).await?;
            println!("tansu listening on {}", broker.bootstrap_servers());
            stop_signal().await;
            drop(broker);
        }
        BrokerCommand::Mock { brokers } => {
            let cluster = MockCluster::new(brokers)?;
            // The mock has no CreateTopics: make the configured topology's
            // topics up front, so `moneta up` finds them.
            for topic in Topology::new(config).topics() {
                cluster.create_topic(&topic.name, topic.partitions, 1)?;
            }
            cluster.create_topic(&config.state.registry_topic, 1, 1)?;
            cluster.create_topic(&config.schema_registry.topic, 1, 1)?;
            println!("{}", cluster.bootstrap_servers());
            std::io::stdout().flush()?;
            stop_signal().await;
            drop(cluster);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the embedded broker, unless one already answers on its address.
pub async fn start_or_reuse(config: &Config) -> anyhow::Result<Option<Tansu>> {
    let listen = config.broker.listen.clone();
    let running = tokio::task::spawn_blocking(move || {
        probe_apis(&listen, Duration::from_millis(500)).is_ok()
    })
    .await?;
    if running {
        tracing::info!(listen = %config.broker.listen, "a broker already answers; using it");
        return Ok(None);
    }
    Ok(Some(start(config).await?))
}

async fn start(config: &Config) -> anyhow::Result<Tansu> {
    let options = TansuOptions {
        binary: config.broker.binary.clone(),
        listen: config.broker.listen.clone(),
        data_dir: config.broker.data_dir.clone(),
    };
    Ok(tokio::task::spawn_blocking(move || Tansu::start(options)).await??)
}

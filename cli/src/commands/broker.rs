//! `moneta broker start`: the embedded Kafka broker in the foreground.

use std::process::ExitCode;

use clap::Subcommand;
use moneta_servers::broker::{KAFKA_VERSION, Local, LocalBroker, LocalOptions};
use moneta_topology::Config;

use super::stop_signal;

/// Broker subcommands.
#[derive(Debug, Subcommand)]
pub enum BrokerCommand {
    /// Run the embedded Apache Kafka broker (`[broker]` settings) until
    /// stopped; prints `ready <host:port>` once it serves clients.
    Start,
}

/// Runs a broker subcommand.
pub async fn execute(config: &Config, command: BrokerCommand) -> anyhow::Result<ExitCode> {
    match command {
        BrokerCommand::Start => {
            let Some(broker) = start_or_reuse(config).await? else {
                anyhow::bail!(
                    "a Kafka broker already answers on {}; nothing to start",
                    config.broker.listen
                );
            };
            println!(
                "Apache Kafka {KAFKA_VERSION} started in {:.1} s (data and logs in {})",
                broker.startup.as_secs_f64(),
                broker.dir.display()
            );
            println!("ready {}", config.broker.listen);
            stop_signal().await;
            tokio::task::spawn_blocking(move || drop(broker)).await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts the embedded broker, unless a broker this process does not own
/// already answers on `broker.listen` (then `None`: it is used as it is).
pub async fn start_or_reuse(config: &Config) -> anyhow::Result<Option<LocalBroker>> {
    let options = LocalOptions {
        java: config.broker.java.clone(),
        libs: config.broker.libs(),
        listen: config.broker.listen.clone(),
        controller: config.broker.controller_listen.clone(),
        dir: config.broker.data_dir.clone(),
        heap_mb: config.broker.heap_mb,
        settings: config.broker.settings.clone(),
        sasl_ssl: config.broker.sasl_ssl(),
    };
    match tokio::task::spawn_blocking(move || LocalBroker::start_or_reuse(options)).await?? {
        Local::Started(broker) => Ok(Some(broker)),
        Local::Reused => {
            tracing::info!(listen = %config.broker.listen, "a Kafka broker already answers; using it");
            Ok(None)
        }
    }
}

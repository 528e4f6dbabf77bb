//! `moneta topics …`: create the topology's topics.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use moneta_kafka::{TopicStatus, ensure_topics};
use moneta_topology::{Config, Topology};

/// Topic subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create every topic the topology needs; existing topics are left alone.
    Create,
    /// List the topics the topology needs, with their settings.
    List,
}

/// Runs a topic subcommand.
pub async fn execute(config: &Config, command: TopicsCommand) -> anyhow::Result<ExitCode> {
    match command {
        TopicsCommand::Create => create(config).await?,
        TopicsCommand::List => {
            for topic in Topology::new(config).topics() {
                println!(
                    "{}\tpartitions={}\treplication={}\tretention.ms={}",
                    topic.name, topic.partitions, topic.replication_factor, topic.retention_ms
                );
            }
            println!(
                "{}\tpartitions=1\treplication={}\tcleanup.policy=compact",
                config.state.registry_topic, config.topics.replication_factor
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the topology's topics, printing what happened to each.
pub async fn create(config: &Config) -> anyhow::Result<()> {
    let topics = Topology::new(config).topics();
    let results = ensure_topics(&config.kafka, &topics, Duration::from_secs(30)).await?;
    for (name, status) in results {
        let what = match status {
            TopicStatus::Created => "created",
            TopicStatus::Existed => "exists",
        };
        println!("topic {name}: {what}");
    }
    let created = moneta_topology::changelog::ensure_topic(config).await?;
    println!(
        "topic {}: {}",
        config.state.registry_topic,
        if created { "created" } else { "exists" }
    );
    Ok(())
}

//! `moneta topics …`: create the topology's topics with their data class's
//! settings, list them, and check or align the broker's copy.

use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;
use moneta_kafka::{TopicStatus, align_topics, ensure_topics, topic_drift};
use moneta_topology::{Config, Topology};

/// How long one topic administration request may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Topic subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicsCommand {
    /// Create every missing topic and set the declared retention and
    /// cleanup policy on existing ones (other topic settings are kept).
    Create,
    /// List the topics Moneta needs, with their data class and settings.
    List,
    /// Compare the broker's topics with what Moneta declares; exit 1 if
    /// any differs (a missing topic, a retention, a cleanup policy, a
    /// partition count).
    Check,
}

/// Runs a topic subcommand.
pub async fn execute(config: &Config, command: TopicsCommand) -> anyhow::Result<ExitCode> {
    match command {
        TopicsCommand::Create => create(config).await?,
        TopicsCommand::List => {
            for (class, topic) in Topology::new(config).topics() {
                let settings: Vec<String> = topic
                    .configs
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!(
                    "{}\tclass={}\tpartitions={}\treplication={}\t{}",
                    topic.name,
                    class.as_str(),
                    topic.partitions,
                    topic.replication_factor,
                    settings.join("\t")
                );
            }
        }
        TopicsCommand::Check => {
            let drift = topic_drift(
                &config.kafka,
                &Topology::new(config).topic_specs(),
                ADMIN_TIMEOUT,
            )
            .await?;
            for d in &drift {
                println!("differs  {d}");
            }
            if !drift.is_empty() {
                return Ok(ExitCode::FAILURE);
            }
            println!("every topic is as declared");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Creates the missing topics and aligns the existing ones' retention and
/// cleanup policy, printing what happened to each.
pub async fn create(config: &Config) -> anyhow::Result<()> {
    let topics = Topology::new(config).topic_specs();
    let results = ensure_topics(&config.kafka, &topics, ADMIN_TIMEOUT).await?;
    for (name, status) in results {
        let what = match status {
            TopicStatus::Created => "created",
            TopicStatus::Existed => "exists",
        };
        println!("topic {name}: {what}");
    }
    for changed in align_topics(&config.kafka, &topics, ADMIN_TIMEOUT).await? {
        tracing::warn!(
            topic = %changed.topic,
            setting = %changed.setting,
            from = %changed.have,
            to = %changed.want,
            "topic setting aligned with the declared data class"
        );
        println!(
            "topic {}: {} {} -> {}",
            changed.topic, changed.setting, changed.have, changed.want
        );
    }
    Ok(())
}

//! The wiring: every stage, the topics it reads and writes, and how to start
//! it. `moneta up`, `moneta run` and `moneta topics create` all read it.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use moneta_connectors::kafka::TopicSpec;
use moneta_processors::copy::Copy;
use moneta_runtime::{ProcessorSpec, Runtime, RuntimeError};
use moneta_state::EffectLedger;
use tokio::runtime::Handle;

use crate::config::{Config, StageConfig, TopicsConfig};

/// One processor stage and its topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Stage name, as used by `moneta run <name>`.
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// Its topics and whether `moneta up` runs it.
    pub topics: StageConfig,
}

/// Every stage of the configured topology.
#[derive(Debug, Clone)]
pub struct Topology {
    stages: Vec<Stage>,
    topic_settings: TopicsConfig,
}

impl Topology {
    /// The topology described by `config`.
    pub fn new(config: &Config) -> Self {
        Self {
            stages: vec![Stage {
                name: "copy",
                summary: "copies each record unchanged; the baseline of every benchmark",
                topics: config.processors.copy.clone(),
            }],
            topic_settings: config.topics.clone(),
        }
    }

    /// All stages, in topology order.
    pub fn stages(&self) -> &[Stage] {
        &self.stages
    }

    /// The stage called `name`.
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Names of all stages, for error messages.
    pub fn stage_names(&self) -> Vec<&'static str> {
        self.stages.iter().map(|s| s.name).collect()
    }

    /// Every topic the topology needs, each once.
    pub fn topics(&self) -> Vec<TopicSpec> {
        let mut names: Vec<&str> = self
            .stages
            .iter()
            .flat_map(|s| [&s.topics.input, &s.topics.output, &s.topics.dead_letter])
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
            .into_iter()
            .map(|name| TopicSpec {
                name: name.to_owned(),
                partitions: self.topic_settings.partitions,
                replication_factor: self.topic_settings.replication_factor,
                retention_ms: self.topic_settings.retention_ms,
            })
            .collect()
    }

    /// Starts one instance of `stage` on its own thread.
    pub fn spawn(
        &self,
        stage: &Stage,
        runtime: &Runtime,
        instance: u32,
        state_dir: &Path,
        handle: Handle,
    ) -> Result<JoinHandle<Result<(), RuntimeError>>, RuntimeError> {
        let spec = ProcessorSpec {
            name: stage.name.to_owned(),
            inputs: vec![stage.topics.input.clone()],
            dead_letter_topic: stage.topics.dead_letter.clone(),
            instance,
        };
        let ledger = Arc::new(EffectLedger::open(
            &state_dir.join(format!("{}-{instance}", stage.name)),
        )?);
        match stage.name {
            "copy" => runtime.spawn(spec, Copy::new(&stage.topics.output), ledger, handle),
            other => Err(RuntimeError::Thread(format!("no processor named {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_topic_once_with_configured_settings() {
        let mut config = Config::default();
        config.topics.partitions = 6;
        let topology = Topology::new(&config);
        let topics = topology.topics();
        let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["moneta.copy.dlq", "moneta.copy.input", "moneta.copy.output"]
        );
        assert!(topics.iter().all(|t| t.partitions == 6));
        assert!(topology.stage("copy").is_some());
        assert!(topology.stage("nope").is_none());
    }
}

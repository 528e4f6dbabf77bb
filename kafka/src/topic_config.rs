//! Topic configuration as the broker has it, compared with what Moneta
//! declares ([`TopicSpec`]), and aligned to it.
//!
//! Kafka 4's `AlterConfigs` replaces a topic's whole dynamic configuration,
//! so [`align_topics`] sends every dynamic entry the topic already has
//! with Moneta's own on top: settings an operator made for other keys
//! (`min.insync.replicas`, say) stay as they were.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, ConfigSource, OwnedResourceSpecifier, ResourceSpecifier,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;

use crate::{KafkaConfig, LoginWatch, TopicSpec};

/// One setting of one topic that differs from what Moneta declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The topic.
    pub topic: String,
    /// The setting: a topic config key, or `partitions`.
    pub setting: String,
    /// What Moneta declares.
    pub want: String,
    /// What the broker has (`missing` for a topic that does not exist).
    pub have: String,
}

impl std::fmt::Display for Drift {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} is {}, declared {}",
            self.topic, self.setting, self.have, self.want
        )
    }
}

/// A topic's configuration as described by the broker.
#[derive(Debug, Clone, Default)]
struct Described {
    /// Every entry's value.
    values: BTreeMap<String, String>,
    /// The entries set on the topic itself (not broker defaults).
    dynamic: BTreeMap<String, String>,
}

/// How every setting of `specs` differs on the broker: its configs, and
/// partition counts (which Moneta never changes: growing them moves keys
/// between partitions). Empty when the topics are as declared.
pub async fn topic_drift(
    kafka: &KafkaConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<Drift>, KafkaError> {
    let described = describe(kafka, specs, timeout).await?;
    let partitions = partition_counts(kafka, timeout)?;
    let mut drift = Vec::new();
    for spec in specs {
        let Some(have) = described.get(&spec.name) else {
            drift.push(Drift {
                topic: spec.name.clone(),
                setting: "topic".into(),
                want: "present".into(),
                have: "missing".into(),
            });
            continue;
        };
        drift.extend(config_drift(spec, have));
        let count = partitions.get(&spec.name).copied().unwrap_or_default();
        if count != spec.partitions {
            drift.push(Drift {
                topic: spec.name.clone(),
                setting: "partitions".into(),
                want: spec.partitions.to_string(),
                have: count.to_string(),
            });
        }
    }
    Ok(drift)
}

/// Sets Moneta's configs on every topic of `specs` whose configs differ
/// (the topics exist); returns what it changed.
pub async fn align_topics(
    kafka: &KafkaConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<Drift>, KafkaError> {
    let described = describe(kafka, specs, timeout).await?;
    let mut changed = Vec::new();
    let mut alters: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for spec in specs {
        let Some(have) = described.get(&spec.name) else {
            continue;
        };
        let drift = config_drift(spec, have);
        if drift.is_empty() {
            continue;
        }
        let mut entries = have.dynamic.clone();
        entries.extend(spec.configs.clone());
        alters.push((spec.name.clone(), entries));
        changed.extend(drift);
    }
    if alters.is_empty() {
        return Ok(changed);
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let requests: Vec<AlterConfig<'_>> = alters
        .iter()
        .map(|(topic, entries)| {
            entries.iter().fold(
                AlterConfig::new(ResourceSpecifier::Topic(topic)),
                |alter, (key, value)| alter.set(key, value),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    for result in admin.alter_configs(&requests, &options).await? {
        if let Err((_, code)) = result {
            return Err(KafkaError::AdminOp(code));
        }
    }
    Ok(changed)
}

/// Moneta's configs of `spec` that `have` does not match.
fn config_drift(spec: &TopicSpec, have: &Described) -> Vec<Drift> {
    spec.configs
        .iter()
        .filter(|(key, want)| have.values.get(*key) != Some(*want))
        .map(|(key, want)| Drift {
            topic: spec.name.clone(),
            setting: key.clone(),
            want: want.clone(),
            have: have
                .values
                .get(key)
                .cloned()
                .unwrap_or_else(|| "unset".into()),
        })
        .collect()
}

/// The configuration of each topic of `specs` that exists, by name.
async fn describe(
    kafka: &KafkaConfig,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<BTreeMap<String, Described>, KafkaError> {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let missing = crate::missing_topics(kafka, &names, timeout)?;
    let present: Vec<ResourceSpecifier<'_>> = names
        .iter()
        .filter(|name| !missing.iter().any(|m| m == *name))
        .map(|name| ResourceSpecifier::Topic(name))
        .collect();
    if present.is_empty() {
        return Ok(BTreeMap::new());
    }
    let admin: AdminClient<DefaultClientContext> = kafka.client_config().create()?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let mut out = BTreeMap::new();
    for result in admin.describe_configs(&present, &options).await? {
        let resource = result.map_err(KafkaError::AdminOp)?;
        let OwnedResourceSpecifier::Topic(name) = &resource.specifier else {
            continue;
        };
        let mut described = Described::default();
        for entry in &resource.entries {
            let Some(value) = &entry.value else { continue };
            described.values.insert(entry.name.clone(), value.clone());
            if entry.source == ConfigSource::DynamicTopic {
                described.dynamic.insert(entry.name.clone(), value.clone());
            }
        }
        out.insert(name.clone(), described);
    }
    Ok(out)
}

/// Every topic's partition count, from the broker's metadata.
fn partition_counts(
    kafka: &KafkaConfig,
    timeout: Duration,
) -> Result<BTreeMap<String, i32>, KafkaError> {
    let consumer: BaseConsumer<LoginWatch> = kafka
        .client_config()
        .create_with_context(LoginWatch::default())?;
    let metadata = crate::fetch_metadata(&consumer, timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .map(|t| {
            let count = i32::try_from(t.partitions().len()).unwrap_or(i32::MAX);
            (t.name().to_owned(), count)
        })
        .collect())
}

//! The stage declaration: every stage, the topics it reads and writes with
//! the schema of their values, the state it owns, and how to build it —
//! declared once. The runner, `moneta describe`, topic creation, schema
//! registration, `moneta state rebuild` and the docs' tables all read it.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use moneta_avro::{AvroCodec, SchemaName, Subject};
use moneta_kafka::TopicSpec;
use moneta_processors::contracts::{ContractTopics, PathContext};
use moneta_processors::copy::Copy;
use moneta_processors::countersign::Countersign;
use moneta_processors::ledger::Ledger;
use moneta_processors::reconcile_match::ReconcileMatch;
use moneta_processors::rules::RulesConfig;
use moneta_processors::settle_aggregate::{SettleAggregate, SettlementConfig};
use moneta_processors::template_check::TemplateCheck;
use moneta_processors::validate::Validate;
use moneta_processors::webhook_dispatch::WebhookDispatch;
use moneta_runtime::{AnyStage, ProcessorSpec, Runtime, RuntimeError, Serdes, Stores, Typed};
use moneta_signing::KeyRing;
use moneta_state::{EffectLedger, StateStore};
use tokio::runtime::Handle;

use crate::config::{Config, PathStageConfig, TopicsConfig};
use crate::retention::DataClass;

/// A topic a stage reads or writes, and what its values are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Topic name.
    pub name: String,
    /// The Avro schema of its values; `None` for raw bytes (`copy`).
    pub schema: Option<SchemaName>,
}

impl Topic {
    fn avro(name: &str, schema: SchemaName) -> Self {
        Self {
            name: name.to_owned(),
            schema: Some(schema),
        }
    }

    fn bytes(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            schema: None,
        }
    }

    /// What its values are, for people: the schema file or `bytes`.
    pub fn values(&self) -> &'static str {
        self.schema.map_or("bytes", SchemaName::file)
    }
}

/// Builds a typed stage on the signing path's services.
pub type BuildStage = fn(PathContext, &Services) -> Arc<dyn AnyStage>;

/// How a stage is built.
#[derive(Clone, Copy)]
pub enum Build {
    /// `copy`: raw bytes in, raw bytes out, no services.
    Copy,
    /// A typed stage: the runtime decodes and encodes its topics' Avro.
    Typed(BuildStage),
}

impl std::fmt::Debug for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Build::Copy => "Copy",
            Build::Typed(_) => "Typed",
        })
    }
}

/// One processor stage, as declared.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Stage name, as used by `moneta run <name>`.
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// Whether `moneta up` runs it.
    pub enabled: bool,
    /// Topics it reads.
    pub inputs: Vec<Topic>,
    /// Topics it writes; the runtime refuses to write anywhere else.
    pub outputs: Vec<Topic>,
    /// Topic records it cannot process go to.
    pub dead_letter: String,
    /// State it writes (it is the one writer of these rows).
    pub owns: &'static str,
    /// How to build it.
    pub build: Build,
}

impl Stage {
    /// Whether it needs [`Services`] (state, schema registry, keys).
    pub fn needs_services(&self) -> bool {
        matches!(self.build, Build::Typed(_))
    }

    /// Names of the topics it reads.
    pub fn input_names(&self) -> Vec<String> {
        self.inputs.iter().map(|t| t.name.clone()).collect()
    }

    /// Names of the topics it writes.
    pub fn output_names(&self) -> Vec<String> {
        self.outputs.iter().map(|t| t.name.clone()).collect()
    }

    /// What the runtime runs for instance `instance` of it.
    pub fn spec(&self, instance: u32) -> ProcessorSpec {
        ProcessorSpec {
            name: self.name.to_owned(),
            inputs: self.input_names(),
            dead_letter_topic: self.dead_letter.clone(),
            instance,
        }
    }
}

/// What the signing-path stages share: state, Avro, keys, rules.
#[derive(Clone)]
pub struct Services {
    /// The state store.
    pub store: Arc<dyn StateStore>,
    /// Avro through the schema registry.
    pub codec: Arc<AvroCodec>,
    /// Moneta's signing keys.
    pub keys: Arc<KeyRing>,
    /// Business rules.
    pub rules: RulesConfig,
    /// The signing path's topics.
    pub topics: ContractTopics,
    /// Settlement periods.
    pub settlement: SettlementConfig,
}

/// A typed signing-path stage.
#[allow(clippy::too_many_arguments)]
fn typed(
    name: &'static str,
    summary: &'static str,
    config: &PathStageConfig,
    inputs: Vec<Topic>,
    outputs: Vec<Topic>,
    owns: &'static str,
    build: BuildStage,
) -> Stage {
    Stage {
        name,
        summary,
        enabled: config.enabled,
        inputs,
        outputs,
        dead_letter: config.dead_letter.clone(),
        owns,
        build: Build::Typed(build),
    }
}

/// Every stage of the configured topology, and the topics around it.
#[derive(Debug, Clone)]
pub struct Topology {
    stages: Vec<Stage>,
    /// Topics written by services rather than stages: (service, topic).
    service_topics: Vec<(&'static str, Topic)>,
    /// Topics of the financial class (the rest are events or dead letters).
    financial: Vec<String>,
    /// The registry changelog (compacted, one partition).
    registry_topic: String,
    /// The contract changelog (compacted).
    contract_changelog: String,
    /// The webhook worker's dead letters.
    webhook_dead_letter: String,
    topic_settings: TopicsConfig,
}

impl Topology {
    /// The topology described by `config`: the one declaration of the stages.
    pub fn new(config: &Config) -> Self {
        use SchemaName::{
            Contract, ContractEvent, LedgerEntry, ReconciliationReport, RejectedEvent, Settlement,
            SettlementComparison,
        };
        let t = &config.contracts.topics;
        let p = &config.processors;
        let event = |name: &str| Topic::avro(name, ContractEvent);
        let contract = |name: &str| Topic::avro(name, Contract);
        let rejected = Topic::avro(&t.rejected, RejectedEvent);
        Self {
            stages: vec![
                Stage {
                    name: "copy",
                    summary: "copies each record unchanged; the baseline of every benchmark",
                    enabled: p.copy.enabled,
                    inputs: vec![Topic::bytes(&p.copy.input)],
                    outputs: vec![Topic::bytes(&p.copy.output)],
                    dead_letter: p.copy.dead_letter.clone(),
                    owns: "its effect ledger",
                    build: Build::Copy,
                },
                typed(
                    "validate",
                    "authenticates contract events and checks their parties",
                    &p.validate,
                    vec![event(&t.ingest), event(&t.partner_ingress)],
                    vec![event(&t.validated), rejected.clone()],
                    "event records: validated and rejected steps",
                    |ctx, _| Arc::new(Validate::new(ctx)),
                ),
                typed(
                    "template-check",
                    "checks events against their template and rules; applies them and Moneta's countersignature to contracts; expires unsigned ones past their deadline (by stream time)",
                    &p.template_check,
                    vec![event(&t.validated), contract(&t.countersigned)],
                    vec![
                        contract(&t.recorded),
                        rejected,
                        contract(&t.contract_changelog),
                    ],
                    "contract rows (in the contract changelog); event records: recorded, rejected and countersigned steps",
                    |ctx, s| Arc::new(TemplateCheck::new(ctx, s.rules.clone())),
                ),
                typed(
                    "countersign",
                    "countersigns contracts every party has signed",
                    &p.countersign,
                    vec![contract(&t.recorded)],
                    vec![contract(&t.countersigned)],
                    "nothing",
                    |ctx, s| Arc::new(Countersign::new(ctx, s.keys.clone())),
                ),
                typed(
                    "webhook-dispatch",
                    "asks the parties still to sign for their signature; delivers countersigned (finalized) and expired contracts to both, through their webhooks",
                    &p.webhook_dispatch,
                    vec![contract(&t.countersigned), contract(&t.recorded)],
                    vec![],
                    "webhook deliveries of contracts (the webhook worker sends them)",
                    |ctx, s| Arc::new(WebhookDispatch::new(ctx, s.rules.clone())),
                ),
                typed(
                    "ledger",
                    "turns finalized charges and upheld disputes into ledger entries by settlement key",
                    &p.ledger,
                    vec![contract(&t.countersigned)],
                    vec![Topic::avro(&t.ledger, LedgerEntry)],
                    "nothing",
                    |_, s| Arc::new(Ledger::new(&s.topics)),
                ),
                typed(
                    "settle-aggregate",
                    "closes settlement periods on the event-time watermark; splits, countersigns and delivers them to both parties",
                    &p.settle_aggregate,
                    vec![Topic::avro(&t.ledger, LedgerEntry)],
                    vec![Topic::avro(&t.settlements, Settlement)],
                    "settlement state per MO, publisher and currency (counted entries, recently closed periods); webhook deliveries of statements",
                    |ctx, s| Arc::new(SettleAggregate::new(ctx, s.keys.clone(), s.settlement)),
                ),
                typed(
                    "reconcile-match",
                    "matches reconciliations against the ledger (read from the ledger topic) and the other party, and submitted settlements against the computed ones; reports to both",
                    &p.reconcile_match,
                    vec![
                        contract(&t.countersigned),
                        Topic::avro(&t.ledger, LedgerEntry),
                        Topic::avro(&t.settlements, Settlement),
                    ],
                    vec![
                        Topic::avro(&t.reconciliation_reports, ReconciliationReport),
                        Topic::avro(&t.settlement_comparisons, SettlementComparison),
                    ],
                    "its view per MO and publisher (ledger entries by event day, reconciliations matched, settlements computed and submitted per period); webhook deliveries of reports and comparisons",
                    |ctx, _| Arc::new(ReconcileMatch::new(ctx)),
                ),
            ],
            service_topics: vec![
                ("edge", event(&t.ingest)),
                ("webhook-worker", Topic::bytes(&config.webhooks.dead_letter)),
            ],
            financial: vec![
                t.countersigned.clone(),
                t.ledger.clone(),
                t.settlements.clone(),
                t.reconciliation_reports.clone(),
                t.settlement_comparisons.clone(),
            ],
            registry_topic: config.state.registry_topic.clone(),
            contract_changelog: t.contract_changelog.clone(),
            webhook_dead_letter: config.webhooks.dead_letter.clone(),
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

    /// Topics services (not stages) write, with the service's name.
    pub fn service_topics(&self) -> &[(&'static str, Topic)] {
        &self.service_topics
    }

    /// Every topic of the topology with what its values are, each once, by
    /// name: stages' inputs, outputs and dead letters, and services' topics.
    pub fn all_topics(&self) -> Vec<Topic> {
        let mut topics: Vec<Topic> = self
            .stages
            .iter()
            .flat_map(|s| {
                s.inputs
                    .iter()
                    .chain(&s.outputs)
                    .cloned()
                    .chain(std::iter::once(Topic::bytes(&s.dead_letter)))
            })
            .chain(self.service_topics.iter().map(|(_, t)| t.clone()))
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        topics.dedup_by(|a, b| a.name == b.name);
        topics
    }

    /// The data class of the topic called `name`.
    pub fn class_of(&self, name: &str) -> DataClass {
        let dead_letter =
            self.stages.iter().any(|s| s.dead_letter == name) || self.webhook_dead_letter == name;
        if name == self.registry_topic || name == self.contract_changelog {
            DataClass::Changelog
        } else if self.financial.iter().any(|f| f == name) {
            DataClass::Financial
        } else if dead_letter {
            DataClass::DeadLetters
        } else {
            DataClass::Events
        }
    }

    /// Every topic Moneta needs, each once, with its class and the
    /// configured settings: the topology's topics and the registry
    /// changelog. Changelogs are compacted; the registry's has one
    /// partition, which keeps its records in commit order.
    pub fn topics(&self) -> Vec<(DataClass, TopicSpec)> {
        let settings = &self.topic_settings;
        let (partitions, replication) = (settings.partitions, settings.replication_factor);
        self.all_topics()
            .into_iter()
            .map(|topic| topic.name)
            .chain(std::iter::once(self.registry_topic.clone()))
            .map(|name| {
                let class = self.class_of(&name);
                let spec = match settings.retention.of(class) {
                    Some(ms) => TopicSpec::retained(&name, partitions, replication, ms),
                    None if name == self.registry_topic => {
                        TopicSpec::compacted(&name, 1, replication)
                    }
                    None => TopicSpec::compacted(&name, partitions, replication),
                };
                (class, spec)
            })
            .collect()
    }

    /// [`Topology::topics`] without their classes.
    pub fn topic_specs(&self) -> Vec<TopicSpec> {
        self.topics().into_iter().map(|(_, spec)| spec).collect()
    }

    /// Every schema-registry subject (key and value) of the Avro topics.
    pub fn subjects(&self) -> Vec<Subject> {
        self.all_topics()
            .into_iter()
            .filter_map(|t| t.schema.map(|schema| Subject::for_topic(&t.name, schema)))
            .flatten()
            .collect()
    }

    /// The processor of a typed stage on `services`, as the runtime runs it
    /// and `moneta state rebuild` feeds it, writing through `state` (a
    /// deferred handle on `services.store`), which whoever drives it
    /// flushes. `None` for `copy`.
    pub fn processor(
        stage: &Stage,
        services: &Services,
        state: Arc<dyn StateStore>,
    ) -> Option<Typed> {
        let Build::Typed(build) = stage.build else {
            return None;
        };
        let ctx = PathContext::new(state, services.topics.clone());
        let schemas = stage
            .inputs
            .iter()
            .chain(&stage.outputs)
            .filter_map(|t| t.schema.map(|schema| (t.name.clone(), schema)));
        let serdes = Serdes::new(services.codec.clone(), schemas);
        Some(Typed::new(stage.name, build(ctx, services), serdes))
    }

    /// Starts one instance of `stage` on its own thread.
    pub fn spawn(
        &self,
        stage: &Stage,
        runtime: &Runtime,
        instance: u32,
        state_dir: &Path,
        handle: Handle,
        services: Option<&Services>,
    ) -> Result<JoinHandle<Result<(), RuntimeError>>, RuntimeError> {
        let spec = stage.spec(instance);
        if let Build::Copy = stage.build {
            let ledger = Arc::new(EffectLedger::open(
                &state_dir.join(format!("{}-{instance}", stage.name)),
            )?);
            let output = stage.output_names().into_iter().next().unwrap_or_default();
            return runtime.spawn(spec, Copy::new(output), ledger, handle);
        }
        let services = services.ok_or_else(|| {
            RuntimeError::Thread(format!(
                "stage {} needs state and a schema registry",
                stage.name
            ))
        })?;
        // Typed stages emit no effects: their side effects are state
        // writes keyed by deterministic ids, made durable once per batch:
        // the runtime flushes the stage's own deferred handle before it
        // commits, which also tells it if any of the batch's writes was lost.
        let state = services.store.deferred();
        let processor = Self::processor(stage, services, Arc::clone(&state))
            .ok_or_else(|| RuntimeError::Thread(format!("no processor named {}", stage.name)))?;
        let stores = Stores::state(state);
        runtime.spawn(spec, processor, stores, handle)
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
        let names: Vec<(&str, &str, i32)> = topics
            .iter()
            .map(|(class, t)| (t.name.as_str(), class.as_str(), t.partitions))
            .collect();
        assert_eq!(
            names,
            [
                ("moneta.contracts.changelog", "changelog", 6),
                ("moneta.contracts.countersigned", "financial", 6),
                ("moneta.contracts.ingest", "events", 6),
                ("moneta.contracts.partner-ingress", "events", 6),
                ("moneta.contracts.recorded", "events", 6),
                ("moneta.contracts.rejected", "events", 6),
                ("moneta.contracts.validated", "events", 6),
                ("moneta.copy.dlq", "dead_letters", 6),
                ("moneta.copy.input", "events", 6),
                ("moneta.copy.output", "events", 6),
                ("moneta.countersign.dlq", "dead_letters", 6),
                ("moneta.ledger.dlq", "dead_letters", 6),
                ("moneta.ledger.entries", "financial", 6),
                ("moneta.reconcile-match.dlq", "dead_letters", 6),
                ("moneta.reconciliation.reports", "financial", 6),
                ("moneta.settle-aggregate.dlq", "dead_letters", 6),
                ("moneta.settlement.comparisons", "financial", 6),
                ("moneta.settlements", "financial", 6),
                ("moneta.template-check.dlq", "dead_letters", 6),
                ("moneta.validate.dlq", "dead_letters", 6),
                ("moneta.webhook-dispatch.dlq", "dead_letters", 6),
                ("moneta.webhooks.dlq", "dead_letters", 6),
                ("moneta.registry", "changelog", 1),
            ]
        );
        let retention = |name: &str| {
            let (_, spec) = topics.iter().find(|(_, t)| t.name == name).expect("listed");
            spec.configs.get("retention.ms").cloned()
        };
        assert_eq!(
            retention("moneta.contracts.ingest").as_deref(),
            Some("7776000000")
        );
        assert_eq!(
            retention("moneta.settlements").as_deref(),
            Some("220924800000")
        );
        assert_eq!(
            retention("moneta.webhooks.dlq").as_deref(),
            Some("2592000000")
        );
        assert_eq!(retention("moneta.registry"), None);
        assert_eq!(retention("moneta.contracts.changelog"), None);
        assert!(topology.stage("copy").is_some());
        assert!(topology.stage("template-check").is_some());
        assert!(topology.stage("nope").is_none());
    }

    #[test]
    fn every_topic_has_one_schema_and_every_typed_topic_a_subject_pair() {
        let topology = Topology::new(&Config::default());
        let mut seen = std::collections::BTreeMap::new();
        for stage in topology.stages() {
            for topic in stage.inputs.iter().chain(&stage.outputs) {
                let before = seen.insert(topic.name.clone(), topic.schema);
                assert!(
                    before.is_none() || before == Some(topic.schema),
                    "{} is declared with two schemas",
                    topic.name
                );
            }
        }
        let typed = seen.values().filter(|s| s.is_some()).count();
        assert_eq!(topology.subjects().len(), 2 * typed);
    }
}

//! The wiring: every stage, the topics it reads and writes, and how to start
//! it. `moneta up`, `moneta run` and `moneta topics create` all read it.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use moneta_avro::AvroCodec;
use moneta_kafka::TopicSpec;
use moneta_processors::contracts::{Avro, ContractTopics, PathContext};
use moneta_processors::copy::Copy;
use moneta_processors::countersign::Countersign;
use moneta_processors::ledger::Ledger;
use moneta_processors::reconcile_match::ReconcileMatch;
use moneta_processors::rules::RulesConfig;
use moneta_processors::settle_aggregate::{SettleAggregate, SettlementConfig};
use moneta_processors::template_check::TemplateCheck;
use moneta_processors::validate::Validate;
use moneta_processors::webhook_dispatch::WebhookDispatch;
use moneta_runtime::{
    Outcome, ProcessError, Processor, ProcessorSpec, Record, Rejection, Runtime, RuntimeError,
    Stores,
};
use moneta_signing::KeyRing;
use moneta_state::{EffectLedger, StateStore};
use tokio::runtime::Handle;

use crate::config::{Config, PathStageConfig, TopicsConfig};

/// One processor stage and its topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Stage name, as used by `moneta run <name>`.
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// Whether `moneta up` runs it.
    pub enabled: bool,
    /// Topics it reads.
    pub inputs: Vec<String>,
    /// Topics it writes.
    pub outputs: Vec<String>,
    /// Topic undecodable records go to.
    pub dead_letter: String,
    /// Whether it needs [`Services`] (state, schema registry, keys).
    pub needs_services: bool,
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

/// A signing-path stage: topics from `[contracts.topics]`, needs services.
fn path_stage(
    name: &'static str,
    summary: &'static str,
    config: &PathStageConfig,
    inputs: Vec<String>,
    outputs: Vec<String>,
) -> Stage {
    Stage {
        name,
        summary,
        enabled: config.enabled,
        inputs,
        outputs,
        dead_letter: config.dead_letter.clone(),
        needs_services: true,
    }
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
        let t = &config.contracts.topics;
        let p = &config.processors;
        Self {
            stages: vec![
                Stage {
                    name: "copy",
                    summary: "copies each record unchanged; the baseline of every benchmark",
                    enabled: p.copy.enabled,
                    inputs: vec![p.copy.input.clone()],
                    outputs: vec![p.copy.output.clone()],
                    dead_letter: p.copy.dead_letter.clone(),
                    needs_services: false,
                },
                path_stage(
                    "validate",
                    "authenticates contract events and checks their parties",
                    &p.validate,
                    vec![t.ingest.clone(), t.partner_ingress.clone()],
                    vec![t.validated.clone(), t.rejected.clone()],
                ),
                path_stage(
                    "template-check",
                    "checks events against their template and rules; applies them to contracts",
                    &p.template_check,
                    vec![t.validated.clone()],
                    vec![t.recorded.clone(), t.rejected.clone()],
                ),
                path_stage(
                    "countersign",
                    "countersigns contracts every party has signed",
                    &p.countersign,
                    vec![t.recorded.clone()],
                    vec![t.countersigned.clone()],
                ),
                path_stage(
                    "webhook-dispatch",
                    "schedules delivery of countersigned contracts to the parties' webhooks",
                    &p.webhook_dispatch,
                    vec![t.countersigned.clone()],
                    vec![config.webhooks.dead_letter.clone()],
                ),
                path_stage(
                    "ledger",
                    "turns finalized charges and upheld disputes into ledger entries by settlement key",
                    &p.ledger,
                    vec![t.countersigned.clone()],
                    vec![t.ledger.clone()],
                ),
                path_stage(
                    "settle-aggregate",
                    "closes settlement periods on the event-time watermark; splits and countersigns them",
                    &p.settle_aggregate,
                    vec![t.ledger.clone()],
                    vec![t.settlements.clone()],
                ),
                path_stage(
                    "reconcile-match",
                    "matches reconciliations against the ledger and the other party; reports to both",
                    &p.reconcile_match,
                    vec![t.countersigned.clone()],
                    vec![t.reconciliation_reports.clone()],
                ),
            ],
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
            .flat_map(|s| {
                s.inputs
                    .iter()
                    .chain(&s.outputs)
                    .chain(std::iter::once(&s.dead_letter))
            })
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
        services: Option<&Services>,
    ) -> Result<JoinHandle<Result<(), RuntimeError>>, RuntimeError> {
        let spec = ProcessorSpec {
            name: stage.name.to_owned(),
            inputs: stage.inputs.clone(),
            dead_letter_topic: stage.dead_letter.clone(),
            instance,
        };
        let ledger = Arc::new(EffectLedger::open(
            &state_dir.join(format!("{}-{instance}", stage.name)),
        )?);
        if stage.name == "copy" {
            let output = stage.outputs.first().cloned().unwrap_or_default();
            return runtime.spawn(spec, Copy::new(output), ledger, handle);
        }
        let services = services.ok_or_else(|| {
            RuntimeError::Thread(format!(
                "stage {} needs state and a schema registry",
                stage.name
            ))
        })?;
        let processor = PathProcessor::new(stage.name, services)
            .ok_or_else(|| RuntimeError::Thread(format!("no processor named {}", stage.name)))?;
        let stores = Stores::new(ledger, services.store.clone());
        runtime.spawn(spec, processor, stores, handle)
    }
}

/// The processor of one signing-path stage, by name: what the runtime runs
/// and what `moneta state rebuild` feeds the stage's input topics through.
/// It writes through a deferred handle: whoever drives it flushes the store.
pub enum PathProcessor {
    /// `validate`.
    Validate(Avro<Validate>),
    /// `template-check`.
    TemplateCheck(Avro<TemplateCheck>),
    /// `countersign`.
    Countersign(Avro<Countersign>),
    /// `webhook-dispatch`.
    WebhookDispatch(Avro<WebhookDispatch>),
    /// `ledger`.
    Ledger(Avro<Ledger>),
    /// `settle-aggregate`.
    SettleAggregate(Avro<SettleAggregate>),
    /// `reconcile-match`.
    ReconcileMatch(Avro<ReconcileMatch>),
}

impl PathProcessor {
    /// The processor of the stage called `name` on `services`; `None` if
    /// no signing-path stage has that name.
    pub fn new(name: &str, services: &Services) -> Option<Self> {
        // Stage writes are made durable once per batch: the runtime
        // flushes the store before it commits (`Topology::spawn`).
        let ctx = PathContext::new(
            services.store.deferred(),
            services.codec.clone(),
            services.topics.clone(),
        );
        Some(match name {
            "validate" => Self::Validate(Avro(Validate::new(ctx))),
            "template-check" => {
                Self::TemplateCheck(Avro(TemplateCheck::new(ctx, services.rules.clone())))
            }
            "countersign" => Self::Countersign(Avro(Countersign::new(ctx, services.keys.clone()))),
            "webhook-dispatch" => Self::WebhookDispatch(Avro(WebhookDispatch::new(ctx))),
            "ledger" => Self::Ledger(Avro(Ledger::new(ctx))),
            "reconcile-match" => Self::ReconcileMatch(Avro(ReconcileMatch::new(ctx))),
            "settle-aggregate" => Self::SettleAggregate(Avro(SettleAggregate::new(
                ctx,
                services.keys.clone(),
                services.settlement,
            ))),
            _ => return None,
        })
    }
}

impl Processor for PathProcessor {
    type Input = ();

    fn decode(&self, _record: &Record) -> Result<(), Rejection> {
        Ok(())
    }

    async fn process(&mut self, _input: (), record: &Record) -> Result<Outcome, ProcessError> {
        match self {
            Self::Validate(p) => p.process((), record).await,
            Self::TemplateCheck(p) => p.process((), record).await,
            Self::Countersign(p) => p.process((), record).await,
            Self::WebhookDispatch(p) => p.process((), record).await,
            Self::Ledger(p) => p.process((), record).await,
            Self::SettleAggregate(p) => p.process((), record).await,
            Self::ReconcileMatch(p) => p.process((), record).await,
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
            [
                "moneta.contracts.countersigned",
                "moneta.contracts.ingest",
                "moneta.contracts.partner-ingress",
                "moneta.contracts.recorded",
                "moneta.contracts.rejected",
                "moneta.contracts.validated",
                "moneta.copy.dlq",
                "moneta.copy.input",
                "moneta.copy.output",
                "moneta.countersign.dlq",
                "moneta.ledger.dlq",
                "moneta.ledger.entries",
                "moneta.reconcile-match.dlq",
                "moneta.reconciliation.reports",
                "moneta.settle-aggregate.dlq",
                "moneta.settlements",
                "moneta.template-check.dlq",
                "moneta.validate.dlq",
                "moneta.webhook-dispatch.dlq",
                "moneta.webhooks.dlq",
            ]
        );
        assert!(topics.iter().all(|t| t.partitions == 6));
        assert!(topology.stage("copy").is_some());
        assert!(topology.stage("template-check").is_some());
        assert!(topology.stage("nope").is_none());
    }
}

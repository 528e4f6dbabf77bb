//! Moneta's configuration: one TOML file, overridden by `MONETA_…`
//! environment variables (`MONETA_PROCESSING__GUARANTEE=exactly_once` sets
//! `processing.guarantee`). Every key and its default is documented in
//! `docs/configuration.md` and `moneta.example.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use moneta_ingest::IngestConfig;
use moneta_kafka::KafkaConfig;
use moneta_processors::contracts::ContractTopics;
use moneta_processors::rules::RulesConfig;
use moneta_runtime::ProcessingConfig;
use serde::{Deserialize, Serialize};

use crate::retention::RetentionConfig;
use crate::telemetry::TelemetryConfig;
mod broker;
pub use broker::BrokerConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[kafka]`: brokers and extra client settings.
    pub kafka: KafkaConfig,
    /// `[processing]`: guarantee, batching, timeouts.
    pub processing: ProcessingConfig,
    /// `[broker]`: the embedded local broker `moneta up` starts.
    pub broker: BrokerConfig,
    /// `[state]`: where embedded state lives.
    pub state: StateConfig,
    /// `[topics]`: how topics are created.
    pub topics: TopicsConfig,
    /// `[processors.*]`: each processor's topics.
    pub processors: ProcessorsConfig,
    /// `[log]`: log format and level.
    pub log: LogConfig,
    /// `[admin]`: the operators' admin API.
    pub admin: AdminConfig,
    /// `[contracts]`: the signing path's topics.
    pub contracts: ContractsConfig,
    /// `[rules]`: the numbers behind the pipelines' business rules.
    pub rules: RulesConfig,
    /// `[ingest]`: the partner-facing HTTP edge.
    pub ingest: IngestConfig,
    /// `[schema_registry]`: where Avro schemas are registered.
    pub schema_registry: SchemaRegistryConfig,
    /// `[signing]`: Moneta's countersigning key.
    pub signing: SigningConfig,
    /// `[webhooks]`: delivery to partners' endpoints.
    pub webhooks: moneta_webhooks::WebhooksConfig,
    /// `[settlement]`: settlement periods and their closing.
    pub settlement: moneta_processors::settle_aggregate::SettlementConfig,
    /// `[metrics]`: `/metrics`, `/healthz` and `/readyz`.
    pub metrics: MetricsConfig,
    /// `[telemetry]`: OpenTelemetry trace export (off by default).
    pub telemetry: TelemetryConfig,
}

/// `[metrics]`: the operations endpoints every process serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Address of `/metrics`, `/healthz` and `/readyz`; empty serves none.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:9100".into(),
        }
    }
}

/// `[contracts]`: the signing path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContractsConfig {
    /// `[contracts.topics]`: its topics.
    pub topics: ContractTopics,
}

/// `[schema_registry]`: a Confluent-compatible schema registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// URL of an external registry (Confluent Schema Registry); empty
    /// serves Moneta's embedded one on `listen`.
    pub url: String,
    /// Address the embedded registry listens on.
    pub listen: String,
    /// Compacted topic the embedded registry keeps its schemas in.
    pub topic: String,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            listen: "127.0.0.1:8082".into(),
            topic: "_moneta_schemas".into(),
        }
    }
}

impl SchemaRegistryConfig {
    /// The URL clients use: `url`, or the embedded registry's address.
    pub fn effective_url(&self) -> String {
        if self.url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.url.trim_end_matches('/').to_owned()
        }
    }
}

/// `[signing]`: Moneta's ed25519 countersigning keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SigningConfig {
    /// Key file (`active <id> <seed>` / `retired <id> <public key>` lines;
    /// see `docs/configuration.md`). `moneta up` creates one if it is missing.
    pub key_file: PathBuf,
    /// Environment variable holding the same text; wins over `key_file`.
    pub key_env: String,
}

impl Default for SigningConfig {
    fn default() -> Self {
        Self {
            key_file: ".moneta/signing.key".into(),
            key_env: "MONETA_SIGNING_KEYS".into(),
        }
    }
}

/// A secret value: never shown by `Debug`, redacted by [`Config::redacted`].
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

/// `[admin]`: the operators' admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    /// Whether `moneta up` serves the admin API.
    pub enabled: bool,
    /// Address it listens on (and `moneta admin` calls).
    pub listen: String,
    /// Operators' bearer token; empty refuses every request. Set it with
    /// `MONETA_ADMIN__TOKEN` rather than in a file.
    pub token: Secret,
    /// `[admin.operators]`: named operators, `name = "sha256:<hex>"` (the
    /// SHA-256 of the operator's bearer token, `moneta admin token-digest`
    /// prints it). What a named operator creates carries their name in
    /// `created_by`, and every admin log line names the operator; the
    /// shared `token` acts as operator `admin`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub operators: BTreeMap<String, String>,
    /// Require UUID v4 ids for organizations, MOs, publishers, developers,
    /// mPasses and billing accounts, as the design document keys them
    /// (`422 invalid_id` otherwise). Off: any id of the safe characters.
    pub uuid_ids: bool,
    /// `[admin.tls]`: serve HTTPS; with `client_ca`, mutual TLS (clients
    /// must present a certificate that CA signed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<moneta_tls::ServerTls>,
    /// `[admin.client]`: how `moneta admin …` and `moneta seed-demo` reach
    /// an admin API that serves TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<AdminClientTls>,
}

/// `[admin.client]`: the CLI's side of the admin API's TLS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminClientTls {
    /// CA certificates (PEM) trusted for the admin API besides the system roots.
    pub ca: Option<PathBuf>,
    /// The operator's certificate (PEM), for mutual TLS; needs `key`.
    pub cert: Option<PathBuf>,
    /// The operator's private key (PEM).
    pub key: Option<PathBuf>,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: "127.0.0.1:8081".into(),
            token: Secret::default(),
            operators: BTreeMap::new(),
            uuid_ids: false,
            tls: None,
            client: None,
        }
    }
}

/// `[state]`: where registry and contract state live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateConfig {
    /// `embedded` (redb files under `dir`) or `scylla`.
    pub backend: StateBackend,
    /// Directory of the embedded stores: `registry/` and one effect ledger
    /// per processor instance.
    pub dir: PathBuf,
    /// The embedded store's page cache, MiB: most of `moneta up`'s memory
    /// once the store is larger than it.
    pub cache_mib: usize,
    /// ScyllaDB contact points, comma-separated `host:port` (backend `scylla`).
    pub scylla_nodes: String,
    /// ScyllaDB keyspace (backend `scylla`).
    pub scylla_keyspace: String,
    /// The registry changelog topic (compacted, one partition): every
    /// registry write, so `moneta state rebuild` can restore the registry.
    pub registry_topic: String,
}

impl Default for StateConfig {
    fn default() -> Self {
        Self {
            backend: StateBackend::Embedded,
            dir: ".moneta/state".into(),
            cache_mib: 1024,
            scylla_nodes: "127.0.0.1:9042".into(),
            scylla_keyspace: "moneta".into(),
            registry_topic: "moneta.registry".into(),
        }
    }
}

/// Which state store backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateBackend {
    /// redb files on local disk: the default on one machine.
    Embedded,
    /// ScyllaDB: production.
    Scylla,
}

/// `[topics]`: settings of the topics `moneta topics create` makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicsConfig {
    /// Put in front of every topic name Moneta uses (its stages', dead
    /// letters, the schema and registry logs), so several Moneta
    /// environments can share one Kafka cluster; give each its own
    /// `processing.application_id` too. Applied when the configuration is
    /// loaded: `moneta config check` shows the resulting names.
    pub prefix: String,
    /// Partitions per topic.
    pub partitions: i32,
    /// Replication factor (1 on a single local broker; 3 in production).
    pub replication_factor: i32,
    /// `[topics.retention]`: how long each class of data is kept.
    pub retention: RetentionConfig,
}

impl Default for TopicsConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            partitions: 3,
            replication_factor: 1,
            retention: RetentionConfig::default(),
        }
    }
}

/// `[processors]`: one table per processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessorsConfig {
    /// `[processors.copy]`: the baseline copy processor.
    pub copy: StageConfig,
    /// `[processors.validate]`: authenticity and parties.
    pub validate: PathStageConfig,
    /// `[processors.template_check]`: template, rules, contract state.
    pub template_check: PathStageConfig,
    /// `[processors.countersign]`: Moneta's countersignature.
    pub countersign: PathStageConfig,
    /// `[processors.webhook_dispatch]`: schedules webhook deliveries.
    pub webhook_dispatch: PathStageConfig,
    /// `[processors.ledger]`: finalized contracts to ledger entries.
    pub ledger: PathStageConfig,
    /// `[processors.settle_aggregate]`: settlement periods.
    pub settle_aggregate: PathStageConfig,
    /// `[processors.reconcile_match]`: reconciliation reports.
    pub reconcile_match: PathStageConfig,
}

impl Default for ProcessorsConfig {
    fn default() -> Self {
        Self {
            copy: StageConfig::named("copy"),
            validate: PathStageConfig::named("validate"),
            template_check: PathStageConfig::named("template-check"),
            countersign: PathStageConfig::named("countersign"),
            webhook_dispatch: PathStageConfig::named("webhook-dispatch"),
            ledger: PathStageConfig::named("ledger"),
            settle_aggregate: PathStageConfig::named("settle-aggregate"),
            reconcile_match: PathStageConfig::named("reconcile-match"),
        }
    }
}

/// A signing-path processor (its topics are in `[contracts.topics]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathStageConfig {
    /// Whether `moneta up` runs it.
    pub enabled: bool,
    /// Topic undecodable records go to.
    pub dead_letter: String,
}

impl PathStageConfig {
    /// Enabled, dead letters to `moneta.<name>.dlq`.
    pub fn named(name: &str) -> Self {
        Self {
            enabled: true,
            dead_letter: format!("moneta.{name}.dlq"),
        }
    }
}

/// Topics of one processor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageConfig {
    /// Whether `moneta up` runs it.
    pub enabled: bool,
    /// Topic it reads.
    pub input: String,
    /// Topic it writes.
    pub output: String,
    /// Topic its rejected records go to.
    pub dead_letter: String,
}

impl StageConfig {
    /// The default topics of stage `name`: `moneta.<name>.input`, `.output`, `.dlq`.
    pub fn named(name: &str) -> Self {
        Self {
            enabled: true,
            input: format!("moneta.{name}.input"),
            output: format!("moneta.{name}.output"),
            dead_letter: format!("moneta.{name}.dlq"),
        }
    }
}

/// `[log]`: logging.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `json` (one object per line) or `text`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `moneta_runtime=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// JSON lines.
    Json,
    /// Human-readable lines.
    Text,
}

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable holds an invalid value.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
    /// The named file does not exist.
    #[error("configuration file {0} does not exist")]
    Missing(PathBuf),
    /// A value is out of its range.
    #[error("invalid configuration: {0}")]
    OutOfRange(String),
}

impl Config {
    /// Loads defaults, then `path` if given, then `MONETA_…` variables.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_owned()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("MONETA_")
                .split("__")
                .filter(|key| key.as_str().contains('.')),
        );
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        if let Some(problem) = config.telemetry.problem() {
            return Err(ConfigError::OutOfRange(problem));
        }
        config.apply_topic_prefix();
        Ok(config)
    }

    /// Puts `topics.prefix` in front of every topic name, once: the prefix
    /// is cleared, so applying it again changes nothing.
    fn apply_topic_prefix(&mut self) {
        let prefix = std::mem::take(&mut self.topics.prefix);
        if prefix.is_empty() {
            return;
        }
        for name in self.topic_names_mut() {
            name.insert_str(0, &prefix);
        }
    }

    /// Every topic name in the configuration.
    fn topic_names_mut(&mut self) -> Vec<&mut String> {
        let topics = &mut self.contracts.topics;
        let stages = &mut self.processors;
        vec![
            &mut topics.ingest,
            &mut topics.partner_ingress,
            &mut topics.validated,
            &mut topics.rejected,
            &mut topics.recorded,
            &mut topics.contract_changelog,
            &mut topics.countersigned,
            &mut topics.ledger,
            &mut topics.settlements,
            &mut topics.reconciliation_reports,
            &mut topics.settlement_comparisons,
            &mut stages.copy.input,
            &mut stages.copy.output,
            &mut stages.copy.dead_letter,
            &mut stages.validate.dead_letter,
            &mut stages.template_check.dead_letter,
            &mut stages.countersign.dead_letter,
            &mut stages.webhook_dispatch.dead_letter,
            &mut stages.ledger.dead_letter,
            &mut stages.settle_aggregate.dead_letter,
            &mut stages.reconcile_match.dead_letter,
            &mut self.webhooks.dead_letter,
            &mut self.schema_registry.topic,
            &mut self.state.registry_topic,
        ]
    }

    /// This configuration with every secret replaced by `***`, for showing.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        shown.kafka = self.kafka.redacted();
        if !self.admin.token.0.is_empty() {
            shown.admin.token = Secret("***".into());
        }
        shown.telemetry = self.telemetry.redacted();
        for password in shown.broker.scram_users.values_mut() {
            *password = Secret("***".into());
        }
        for (key, value) in shown.broker.settings.iter_mut() {
            if moneta_kafka::is_secret_key(key) {
                *value = "***".into();
            }
        }
        shown
    }

    /// The configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(&self.redacted())
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closure signature
mod tests {
    use super::*;
    use moneta_runtime::Guarantee;

    #[test]
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "moneta.toml",
                r#"
                [processing]
                commit_interval_ms = 250
                [kafka.client]
                "sasl.password" = "hunter2"
                "#,
            )?;
            jail.set_env("MONETA_ADMIN__TOKEN", "admin-s3cret");
            jail.set_env("MONETA_PROCESSING__GUARANTEE", "exactly_once");
            jail.set_env("MONETA_CONFIG", "ignored: not a config key");
            let config = Config::load(Some(Path::new("moneta.toml"))).expect("loads");
            assert_eq!(config.processing.commit_interval_ms, 250);
            assert_eq!(config.processing.guarantee, Guarantee::ExactlyOnce);
            assert_eq!(config.topics.partitions, 3);
            let shown = config.to_redacted_toml().expect("toml");
            assert!(!shown.contains("hunter2"), "{shown}");
            assert_eq!(config.admin.token.0, "admin-s3cret");
            assert!(!shown.contains("admin-s3cret"), "{shown}");
            assert!(!format!("{config:?}").contains("admin-s3cret"));
            assert!(shown.contains("***"));
            Ok(())
        });
    }

    #[test]
    fn kafka_and_scram_passwords_come_from_the_environment_and_are_never_shown() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "moneta.toml",
                r#"
                [broker]
                sasl_ssl_listen = "127.0.0.1:9094"
                [broker.scram_users]
                alice = "in-the-file"
                [broker.settings]
                "listener.name.sasl_ssl.ssl.keystore.key" = "inline-key"
                "#,
            )?;
            jail.set_env("MONETA_KAFKA__SASL_PASSWORD", "kafka-s3cret");
            jail.set_env("MONETA_BROKER__SCRAM_USERS__MONETA", "scram-s3cret");
            let config = Config::load(Some(Path::new("moneta.toml"))).expect("loads");
            assert_eq!(
                config.kafka.client_config().get("sasl.password"),
                Some("kafka-s3cret")
            );
            let listener = config.broker.sasl_ssl().expect("a SASL_SSL listener");
            assert_eq!(listener.users["alice"], "in-the-file");
            assert_eq!(listener.users["moneta"], "scram-s3cret");
            let shown = config.to_redacted_toml().expect("toml") + &format!("{config:?}");
            for secret in ["kafka-s3cret", "scram-s3cret", "in-the-file", "inline-key"] {
                assert!(!shown.contains(secret), "{secret}: {shown}");
            }
            Ok(())
        });
    }

    #[test]
    fn the_topic_prefix_names_every_topic_once() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("moneta.toml", "[topics]\nprefix = \"qa.\"\n")?;
            let mut config = Config::load(Some(Path::new("moneta.toml"))).expect("loads");
            assert_eq!(config.contracts.topics.ingest, "qa.moneta.contracts.ingest");
            assert_eq!(config.schema_registry.topic, "qa._moneta_schemas");
            assert_eq!(
                config.processors.validate.dead_letter,
                "qa.moneta.validate.dlq"
            );
            let names: Vec<String> = config
                .topic_names_mut()
                .into_iter()
                .map(|n| n.clone())
                .collect();
            assert!(
                names
                    .iter()
                    .all(|n| n.starts_with("qa.") && !n.starts_with("qa.qa.")),
                "{names:?}"
            );
            // Every topic the topology creates has the prefix.
            for topic in crate::Topology::new(&config).topic_specs() {
                assert!(topic.name.starts_with("qa."), "{}", topic.name);
            }
            assert!(config.topics.prefix.is_empty());
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("moneta.toml", "[processing]\ncommit_intervall_ms = 5\n")?;
            let error = Config::load(Some(Path::new("moneta.toml"))).expect_err("refused");
            assert!(error.to_string().contains("commit_intervall_ms"), "{error}");
            Ok(())
        });
    }
}

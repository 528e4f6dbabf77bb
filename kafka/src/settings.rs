//! `[kafka]`: where the brokers are and any extra librdkafka settings.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// `[kafka]` settings shared by every client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of bootstrap brokers.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.username`, …),
    /// applied to every client; secret-looking keys are redacted when shown.
    pub client: BTreeMap<String, String>,
    /// The SASL password (librdkafka's `sasl.password`), if not empty; it
    /// wins over `client`. Set it with `MONETA_KAFKA__SASL_PASSWORD` rather
    /// than in a file (an environment variable cannot name a key with dots).
    pub sasl_password: String,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            client: BTreeMap::new(),
            sasl_password: String::new(),
        }
    }
}

/// Shows the [redacted](KafkaConfig::redacted) settings: no secret.
impl std::fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = self.redacted();
        f.debug_struct("KafkaConfig")
            .field("bootstrap_servers", &shown.bootstrap_servers)
            .field("client", &shown.client)
            .field("sasl_password", &shown.sasl_password)
            .finish()
    }
}

/// Whether a librdkafka property holds a secret and must never be shown.
pub fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "key", "token", "credential", "jaas"]
        .iter()
        .any(|s| key.contains(s))
        && !key.ends_with(".location")
}

impl KafkaConfig {
    /// Settings for the brokers at `bootstrap_servers`, with no extra properties.
    pub fn new(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            ..Self::default()
        }
    }

    /// A librdkafka configuration with the brokers and extra properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.client {
            config.set(k, v);
        }
        if !self.sasl_password.is_empty() {
            config.set("sasl.password", &self.sasl_password);
        }
        config
    }

    /// The producer every writer uses: idempotent with `acks=all`, so a
    /// retried send is written once and only acknowledged once every
    /// in-sync replica has it. Callers add what is theirs (`linger.ms`,
    /// `message.timeout.ms`, `transactional.id`, …).
    pub fn producer_config(&self, client_id: &str) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("client.id", client_id)
            .set("enable.idempotence", "true")
            .set("acks", "all");
        config
    }

    /// A consumer that reads committed records only and commits nothing by
    /// itself, starting from the earliest offset where it has none. Readers
    /// assign partitions (see [`crate::TopicReader`]); `group_id` names them.
    pub fn reader_config(&self, group_id: &str) -> ClientConfig {
        let mut config = self.client_config();
        config
            .set("group.id", group_id)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest");
        config
    }

    /// A member of consumer group `group_id` as a processor is one: a
    /// [`reader_config`](Self::reader_config) that also stores offsets only
    /// when told to, reports no partition ends, and rebalances
    /// incrementally (`cooperative-sticky`).
    pub fn member_config(&self, group_id: &str) -> ClientConfig {
        let mut config = self.reader_config(group_id);
        config
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false")
            .set("partition.assignment.strategy", "cooperative-sticky");
        config
    }

    /// These settings with every secret value replaced by `***`.
    pub fn redacted(&self) -> Self {
        let client = self
            .client
            .iter()
            .map(|(k, v)| {
                let shown = if is_secret_key(k) { "***" } else { v.as_str() };
                (k.clone(), shown.to_owned())
            })
            .collect();
        Self {
            bootstrap_servers: self.bootstrap_servers.clone(),
            client,
            sasl_password: if self.sasl_password.is_empty() {
                String::new()
            } else {
                "***".into()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producers_are_idempotent_and_readers_read_committed_over_the_extra_settings() {
        let mut kafka = KafkaConfig::new("b:1");
        kafka.client.insert("acks".into(), "1".into());
        kafka
            .client
            .insert("security.protocol".into(), "SASL_SSL".into());
        let producer = kafka.producer_config("p");
        let member = kafka.member_config("g");
        for (config, key, value) in [
            (&producer, "bootstrap.servers", "b:1"),
            (&producer, "security.protocol", "SASL_SSL"),
            (&producer, "client.id", "p"),
            (&producer, "enable.idempotence", "true"),
            (&producer, "acks", "all"),
            (&member, "group.id", "g"),
            (&member, "isolation.level", "read_committed"),
            (&member, "enable.auto.commit", "false"),
            (&member, "enable.auto.offset.store", "false"),
            (&member, "security.protocol", "SASL_SSL"),
        ] {
            assert_eq!(config.get(key), Some(value), "{key}");
        }
    }

    #[test]
    fn librdkafka_is_built_with_tls_and_scram() {
        // Without OpenSSL, librdkafka refuses these settings at creation.
        let mut kafka = KafkaConfig::new("127.0.0.1:9");
        for (key, value) in [
            ("security.protocol", "SASL_SSL"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "moneta"),
        ] {
            kafka.client.insert(key.into(), value.into());
        }
        kafka.sasl_password = "unused".into();
        let created: Result<rdkafka::consumer::BaseConsumer, _> = kafka.client_config().create();
        assert!(created.is_ok(), "{:?}", created.err());
    }

    #[test]
    fn redacts_secrets_but_not_file_locations() {
        let mut config = KafkaConfig::default();
        config
            .client
            .insert("sasl.password".into(), "hunter2".into());
        config
            .client
            .insert("ssl.key.location".into(), "/etc/key.pem".into());
        config
            .client
            .insert("security.protocol".into(), "SASL_SSL".into());
        config.sasl_password = "from-the-environment".into();
        let shown = config.redacted();
        assert_eq!(shown.client["sasl.password"], "***");
        assert_eq!(shown.sasl_password, "***");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("from-the-environment"));
        assert_eq!(
            config.client_config().get("sasl.password"),
            Some("from-the-environment")
        );
        assert_eq!(shown.client["ssl.key.location"], "/etc/key.pem");
        assert_eq!(shown.client["security.protocol"], "SASL_SSL");
    }
}

//! `[broker]`: the embedded Apache Kafka broker, with its optional
//! `SASL_SSL` listener.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Secret;

/// `[broker]`: the embedded Apache Kafka broker `moneta up` starts.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Whether `moneta up` starts a local Kafka broker (a single KRaft
    /// node), unless a broker already answers on `listen`.
    pub embedded: bool,
    /// Address the local broker's clients connect to; match `kafka.bootstrap_servers`.
    pub listen: String,
    /// Address of the local broker's KRaft controller listener.
    pub controller_listen: String,
    /// Directory of the broker's data, settings and logs.
    pub data_dir: PathBuf,
    /// The `java` executable (17 or newer): a name on `PATH` or a path.
    pub java: String,
    /// Directory of the Kafka jars; empty is where `scripts/setup.sh` puts
    /// them (`$MONETA_KAFKA_LIBS`, else `~/.cache/moneta/kafka-<version>/libs`).
    pub kafka_libs: PathBuf,
    /// The broker's JVM heap, in MiB.
    pub heap_mb: u32,
    /// Extra `server.properties` entries, e.g. `"log.retention.hours" = "168"`;
    /// they win over Moneta's own (the listener and directory entries aside).
    pub settings: std::collections::BTreeMap<String, String>,
    /// Address of an extra `SASL_SSL` client listener (TLS, then a SCRAM
    /// login); empty for none. Needs `tls_certificate`, `tls_key` and
    /// `scram_users`.
    pub sasl_ssl_listen: String,
    /// PEM file of the `SASL_SSL` listener's certificate chain.
    pub tls_certificate: PathBuf,
    /// PEM file of that certificate's unencrypted PKCS#8 private key.
    pub tls_key: PathBuf,
    /// SCRAM users (`SCRAM-SHA-256` and `-512`), name → password, created
    /// when the broker's storage is first formatted. Set passwords with
    /// `MONETA_BROKER__SCRAM_USERS__<NAME>` (names are lowercased) rather
    /// than in a file.
    pub scram_users: std::collections::BTreeMap<String, Secret>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            embedded: true,
            listen: "127.0.0.1:9092".into(),
            controller_listen: "127.0.0.1:9093".into(),
            data_dir: ".moneta/broker".into(),
            java: "java".into(),
            kafka_libs: PathBuf::new(),
            heap_mb: 1024,
            settings: std::collections::BTreeMap::new(),
            sasl_ssl_listen: String::new(),
            tls_certificate: PathBuf::new(),
            tls_key: PathBuf::new(),
            scram_users: std::collections::BTreeMap::new(),
        }
    }
}

/// Secret-looking `settings` (see [`moneta_kafka::is_secret_key`]) are shown as `***`.
impl std::fmt::Debug for BrokerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let settings: std::collections::BTreeMap<&str, &str> = self
            .settings
            .iter()
            .map(|(key, value)| {
                let shown = if moneta_kafka::is_secret_key(key) {
                    "***"
                } else {
                    value.as_str()
                };
                (key.as_str(), shown)
            })
            .collect();
        f.debug_struct("BrokerConfig")
            .field("embedded", &self.embedded)
            .field("listen", &self.listen)
            .field("controller_listen", &self.controller_listen)
            .field("data_dir", &self.data_dir)
            .field("java", &self.java)
            .field("kafka_libs", &self.kafka_libs)
            .field("heap_mb", &self.heap_mb)
            .field("settings", &settings)
            .field("sasl_ssl_listen", &self.sasl_ssl_listen)
            .field("tls_certificate", &self.tls_certificate)
            .field("tls_key", &self.tls_key)
            .field("scram_users", &self.scram_users)
            .finish()
    }
}

impl BrokerConfig {
    /// The directory of the Kafka jars, `kafka_libs` or the default.
    pub fn libs(&self) -> PathBuf {
        if self.kafka_libs.as_os_str().is_empty() {
            moneta_servers::broker::default_libs()
        } else {
            self.kafka_libs.clone()
        }
    }

    /// The `SASL_SSL` listener, if `sasl_ssl_listen` names one.
    pub fn sasl_ssl(&self) -> Option<moneta_servers::broker::SaslSslListener> {
        if self.sasl_ssl_listen.is_empty() {
            return None;
        }
        Some(moneta_servers::broker::SaslSslListener {
            listen: self.sasl_ssl_listen.clone(),
            certificate: self.tls_certificate.clone(),
            key: self.tls_key.clone(),
            users: self
                .scram_users
                .iter()
                .map(|(name, password)| (name.clone(), password.0.clone()))
                .collect(),
        })
    }
}

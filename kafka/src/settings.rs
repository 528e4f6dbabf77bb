//! `[kafka]`: where the brokers are and any extra librdkafka settings.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use serde::{Deserialize, Serialize};

/// `[kafka]` settings shared by every client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list of bootstrap brokers.
    pub bootstrap_servers: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.password`, …),
    /// applied to every client; secret-looking keys are redacted when shown.
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap_servers: "127.0.0.1:9092".into(),
            client: BTreeMap::new(),
        }
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
    /// A librdkafka configuration with the brokers and extra properties set.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (k, v) in &self.client {
            config.set(k, v);
        }
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
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let shown = config.redacted();
        assert_eq!(shown.client["sasl.password"], "***");
        assert_eq!(shown.client["ssl.key.location"], "/etc/key.pem");
        assert_eq!(shown.client["security.protocol"], "SASL_SSL");
    }
}

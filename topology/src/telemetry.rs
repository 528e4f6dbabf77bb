//! `[telemetry]`: OpenTelemetry trace export over OTLP/HTTP, off by default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::Secret;

/// `[telemetry]`: where spans go. With `otlp_endpoint` empty (the default)
/// nothing is exported and trace context is passed on as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP collector, e.g. `http://127.0.0.1:4318` (spans are
    /// posted to `<endpoint>/v1/traces`; a URL ending in `/v1/traces` is
    /// taken as it is); empty exports nothing. Plain `http://` only.
    pub otlp_endpoint: String,
    /// Headers sent with every export (an API key, say); secrets, never shown.
    pub otlp_headers: BTreeMap<String, Secret>,
    /// Longest one export may take, ms.
    pub otlp_timeout_ms: u64,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// Share of new traces recorded, 0.0 to 1.0; a trace continued from a
    /// caller's `traceparent` follows the caller's decision.
    pub sampling_ratio: f64,
}

// `sampling_ratio` is never NaN: `Config::load` refuses it.
impl Eq for TelemetryConfig {}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: String::new(),
            otlp_headers: BTreeMap::new(),
            otlp_timeout_ms: 10_000,
            service_name: "moneta".into(),
            sampling_ratio: 1.0,
        }
    }
}

impl TelemetryConfig {
    /// Whether spans are exported.
    pub fn enabled(&self) -> bool {
        !self.otlp_endpoint.trim().is_empty()
    }

    /// The URL spans are posted to, if exported.
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.otlp_endpoint.trim().trim_end_matches('/');
        if endpoint.is_empty() {
            None
        } else if endpoint.ends_with("/v1/traces") {
            Some(endpoint.to_owned())
        } else {
            Some(format!("{endpoint}/v1/traces"))
        }
    }

    /// Why the section is invalid, if it is.
    pub fn problem(&self) -> Option<String> {
        if !(0.0..=1.0).contains(&self.sampling_ratio) {
            return Some(format!(
                "telemetry.sampling_ratio must be within 0.0 and 1.0, not {}",
                self.sampling_ratio
            ));
        }
        None
    }

    /// This section with every header value replaced by `***`.
    pub fn redacted(&self) -> Self {
        let mut shown = self.clone();
        for value in shown.otlp_headers.values_mut() {
            *value = Secret("***".into());
        }
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_is_off_by_default() {
        let config = TelemetryConfig::default();
        assert!(!config.enabled());
        assert_eq!(config.traces_url(), None);
        assert_eq!(config.sampling_ratio, 1.0);
        assert_eq!(config.service_name, "moneta");
    }

    #[test]
    fn the_traces_path_is_added_once() {
        for (endpoint, url) in [
            ("http://otel:4318", "http://otel:4318/v1/traces"),
            ("http://otel:4318/", "http://otel:4318/v1/traces"),
            ("http://otel:4318/v1/traces", "http://otel:4318/v1/traces"),
        ] {
            let config = TelemetryConfig {
                otlp_endpoint: endpoint.into(),
                ..TelemetryConfig::default()
            };
            assert_eq!(config.traces_url().as_deref(), Some(url));
        }
    }

    #[test]
    fn a_ratio_outside_zero_to_one_is_refused() {
        for ratio in [-0.1, 1.5, f64::NAN] {
            let config = TelemetryConfig {
                sampling_ratio: ratio,
                ..TelemetryConfig::default()
            };
            assert!(config.problem().is_some(), "{ratio}");
        }
    }

    #[test]
    fn header_values_are_secrets() {
        let config = TelemetryConfig {
            otlp_headers: BTreeMap::from([("x-api-key".into(), Secret("k-123".into()))]),
            ..TelemetryConfig::default()
        };
        assert!(!format!("{config:?}").contains("k-123"));
        assert!(!format!("{:?}", config.redacted()).contains("k-123"));
        assert_eq!(config.redacted().otlp_headers["x-api-key"].0, "***");
    }
}

//! Sending one delivery attempt.
//!
//! A [`Deliverer`] owns one pooled `reqwest` client (HTTP/1.1; HTTP/2 via
//! ALPN on TLS connections, or h2c with
//! [`DelivererConfig::http2_prior_knowledge`]; redirects disabled; proxies
//! disabled). Every attempt runs the [SSRF check](crate::ssrf::check) first
//! and pins the vetted addresses in the client's DNS resolver, which knows
//! no other addresses: the connection can only go to what was vetted.
//!
//! HTTPS goes through rustls with the `ring` provider
//! ([`moneta_tls::client_config`]): the system roots plus the optional
//! [`DelivererConfig::ca_bundle`]; the SSRF check and the pinned resolver
//! apply to `https` endpoints as to any other. Cleartext `http` endpoints
//! are [`Refused`](AttemptResult::Refused) unless
//! [`DelivererConfig::allow_http`] (tests, local demos).

mod outcome;
mod resolver;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::schedule::now_unix;
use crate::ssrf::{self, SsrfPolicy};
use resolver::PinnedResolver;

pub use outcome::{AttemptOutcome, AttemptResult, classify_status};

/// Longest response body read (and discarded) so the connection can be
/// reused.
const DRAIN_LIMIT: usize = 64 * 1024;
/// Why a cleartext endpoint is refused.
pub const INSECURE: &str = "http:// endpoints are refused (insecure_endpoint): use https, or set webhooks.allow_http = true";
/// Longest time spent draining a response body after the status is known.
const DRAIN_TIME: Duration = Duration::from_secs(1);

/// Client settings.
#[derive(Debug, Clone)]
pub struct DelivererConfig {
    /// Default per-attempt timeout: SSRF check, connect, request and response
    /// headers (default 15 s).
    pub timeout: Duration,
    /// TCP connect timeout (default 10 s).
    pub connect_timeout: Duration,
    /// Which internal addresses endpoints may use.
    pub policy: SsrfPolicy,
    /// How long idle pooled connections are kept (default 90 s).
    pub pool_idle_timeout: Duration,
    /// Idle connections kept per host (default 8).
    pub pool_max_idle_per_host: usize,
    /// Speak HTTP/2 without negotiation (h2c) to every endpoint; for
    /// receivers known to support it. Default `false`.
    pub http2_prior_knowledge: bool,
    /// The `User-Agent` sent.
    pub user_agent: String,
    /// Deliver to cleartext `http://` endpoints too (default `false`:
    /// production refuses them).
    pub allow_http: bool,
    /// CA certificates (PEM) trusted besides the system roots.
    pub ca_bundle: Option<PathBuf>,
}

impl Default for DelivererConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            policy: SsrfPolicy::default(),
            pool_idle_timeout: Duration::from_secs(90),
            pool_max_idle_per_host: 8,
            http2_prior_knowledge: false,
            user_agent: concat!("Moneta-Webhooks/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_http: false,
            ca_bundle: None,
        }
    }
}

/// The HTTP client could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the webhook HTTP client failed: {0}")]
pub struct DelivererError(String);

/// Sends delivery attempts over one shared connection pool.
#[derive(Debug, Clone)]
pub struct Deliverer {
    client: reqwest::Client,
    pins: Arc<PinnedResolver>,
    config: DelivererConfig,
}

impl Deliverer {
    /// Builds the pooled client.
    pub fn new(config: DelivererConfig) -> Result<Self, DelivererError> {
        let pins = Arc::new(PinnedResolver::default());
        let tls = moneta_tls::client_config(config.ca_bundle.as_deref(), None)
            .map_err(|e| DelivererError(e.to_string()))?;
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .dns_resolver(Arc::clone(&pins))
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.connect_timeout)
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .user_agent(config.user_agent.clone());
        if config.http2_prior_knowledge {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder
            .build()
            .map_err(|e| DelivererError(outcome::error_chain(&e.without_url())))?;
        Ok(Self {
            client,
            pins,
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> &DelivererConfig {
        &self.config
    }

    /// One POST of `body` with `headers` to `endpoint_url`, under the default
    /// timeout. `Content-Type: application/json` is added unless `headers`
    /// set one.
    pub async fn attempt(
        &self,
        endpoint_url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> AttemptOutcome {
        self.attempt_with_timeout(endpoint_url, headers, body, self.config.timeout)
            .await
    }

    /// [`attempt`](Self::attempt) with an explicit per-attempt timeout.
    pub async fn attempt_with_timeout(
        &self,
        endpoint_url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
        timeout: Duration,
    ) -> AttemptOutcome {
        let start = Instant::now();
        let sent = tokio::time::timeout(timeout, self.send(endpoint_url, headers, body)).await;
        let latency = start.elapsed();
        let mut outcome = match sent {
            Ok((mut outcome, Some(response))) => {
                // Outside the attempt timeout: the status is already final.
                let excerpt = drain(response).await;
                if !matches!(outcome.result, AttemptResult::Delivered) {
                    outcome.response = excerpt;
                }
                outcome
            }
            Ok((outcome, None)) => outcome,
            Err(_) => AttemptOutcome::retry_error(format!("timed out after {timeout:?}")),
        };
        outcome.latency = latency;
        tracing::debug!(
            result = ?outcome.result,
            status = outcome.status,
            latency_ms = outcome.latency.as_millis() as u64,
            error = outcome.error.as_deref(),
            "webhook attempt"
        );
        outcome
    }

    /// Checks, pins and sends; returns the classification and, when a
    /// response arrived, the response (for draining its body).
    async fn send(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> (AttemptOutcome, Option<reqwest::Response>) {
        let target = match ssrf::check(url, &self.config.policy).await {
            Ok(target) => target,
            Err(e) if e.is_transient() => {
                return (AttemptOutcome::retry_error(e.to_string()), None);
            }
            Err(e) => return (AttemptOutcome::refused(e.to_string()), None),
        };
        if target.scheme == "http" && !self.config.allow_http {
            return (AttemptOutcome::refused(INSECURE.to_owned()), None);
        }
        if !target.is_ip_literal {
            self.pins.pin(&target.host, &target.addrs);
        }
        let mut request = self.client.post(url).body(body);
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case(CONTENT_TYPE.as_str()))
        {
            request = request.header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let result = classify_status(status, retry_after.as_deref(), now_unix());
                (AttemptOutcome::from_status(result, status), Some(response))
            }
            Err(e) if e.is_builder() => {
                let error = outcome::error_chain(&e.without_url());
                (
                    AttemptOutcome::refused(format!("invalid request: {error}")),
                    None,
                )
            }
            Err(e) => {
                let error = outcome::error_chain(&e.without_url());
                (AttemptOutcome::retry_error(error), None)
            }
        }
    }
}

/// Reads and discards a bounded amount of the body so the connection can go
/// back to the pool; gives up quietly (the status is already known).
/// Returns the body's first [`outcome::RESPONSE_EXCERPT`] bytes, if any.
async fn drain(mut response: reqwest::Response) -> Option<String> {
    let mut start = Vec::new();
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut read = 0usize;
        while let Ok(Some(chunk)) = response.chunk().await {
            let room = outcome::RESPONSE_EXCERPT.saturating_sub(start.len());
            start.extend_from_slice(&chunk[..chunk.len().min(room)]);
            read += chunk.len();
            if read > DRAIN_LIMIT {
                break;
            }
        }
    })
    .await;
    (!start.is_empty()).then(|| String::from_utf8_lossy(&start).into_owned())
}

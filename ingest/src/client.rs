//! A partner's client for the ingest edge: signs contract terms and HTTP
//! requests (RFC 9421 + RFC 9530) the way any partner would. Used by
//! `moneta submit`, the tests and the load generator.

use std::time::{SystemTime, UNIX_EPOCH};

use moneta_domain::ContractTerms;
use moneta_signing::{RequestParts, SignatureParams, SigningKey};
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

/// Errors of the partner client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be signed.
    #[error("signing: {0}")]
    Sign(String),
    /// The HTTP call failed.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
}

/// One partner key, signing requests to one edge.
#[derive(Clone)]
pub struct PartnerClient {
    base_url: String,
    key_id: String,
    key: SigningKey,
    http: reqwest::Client,
}

impl std::fmt::Debug for PartnerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnerClient")
            .field("base_url", &self.base_url)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A response: status, headers and JSON body (`Null` if not JSON).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// The body as JSON.
    pub body: Value,
}

impl PartnerClient {
    /// A client for the edge at `base_url` signing with `key` as `key_id`.
    pub fn new(base_url: &str, key_id: &str, key: SigningKey) -> Self {
        moneta_tls::install_crypto_provider();
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            key_id: key_id.to_owned(),
            key,
            http: reqwest::Client::new(),
        }
    }

    /// The same client sending through `http` (e.g. one trusting a
    /// deployment's CA for an HTTPS edge).
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The partner's base64 ed25519 signature over `terms`' canonical form.
    pub fn sign_terms(&self, terms: &ContractTerms) -> Result<String, ClientError> {
        let input = terms
            .signing_input()
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        Ok(moneta_signing::sign_ed25519(&self.key, &input))
    }

    /// A submission body for `terms`, signed as `party` (`mo` or `publisher`).
    pub fn submission(
        &self,
        event_id: &str,
        terms: &ContractTerms,
        party: &str,
    ) -> Result<Value, ClientError> {
        Ok(json!({
            "event_id": event_id,
            "contract": terms,
            "signature": {
                "party": party,
                "key_id": self.key_id,
                "signature": self.sign_terms(terms)?,
                "signed_at": now(),
            },
        }))
    }

    /// RFC 9421 headers for a request, `created` = now.
    pub fn sign_request(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<HeaderMap, ClientError> {
        self.sign_request_at(method, path, body, now())
    }

    /// RFC 9421 headers for a request signed at `created`.
    pub fn sign_request_at(
        &self,
        method: &str,
        path: &str,
        body: &[u8],
        created: i64,
    ) -> Result<HeaderMap, ClientError> {
        let sign_error = |e: String| ClientError::Sign(e);
        let mut headers = http::HeaderMap::new();
        let mut components = vec!["@method", "@path"];
        if path.contains('?') {
            components.push("@query");
        }
        if !body.is_empty() {
            let digest = moneta_signing::content_digest(body);
            headers.insert(
                "content-digest",
                HeaderValue::from_str(&digest).map_err(|e| sign_error(e.to_string()))?,
            );
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            components.push("content-digest");
        }
        let method: http::Method = method.parse().map_err(|_| sign_error("method".into()))?;
        let uri: http::Uri = path.parse().map_err(|_| sign_error("path".into()))?;
        let mut params = SignatureParams::new(&components);
        params.created = Some(created);
        params.keyid = Some(self.key_id.clone());
        params.alg = Some("ed25519".into());
        // A fresh nonce: ed25519 is deterministic, so two identical requests
        // in one second would otherwise carry the same, refused, signature.
        params.nonce = Some(format!("{:032x}", rand::random::<u128>()));
        let signed = moneta_signing::sign_request(
            &RequestParts::new(&method, &uri, &headers),
            "sig1",
            &params,
            &self.key,
        )
        .map_err(|e| sign_error(e.to_string()))?;
        for (name, value) in [
            ("signature-input", signed.signature_input),
            ("signature", signed.signature),
        ] {
            headers.insert(
                name,
                HeaderValue::from_str(&value).map_err(|e| sign_error(e.to_string()))?,
            );
        }
        Ok(headers)
    }

    /// Sends a request with these headers; the body is JSON if present.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<Reply, ClientError> {
        let method: reqwest::Method = method
            .parse()
            .map_err(|_| ClientError::Sign("method".into()))?;
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .headers(headers)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok(Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        })
    }

    /// Submits `body` to `POST /v1/events/{domain}`, signed.
    pub async fn submit(
        &self,
        domain: &str,
        body: &Value,
        idempotency_key: Option<&str>,
    ) -> Result<Reply, ClientError> {
        let path = format!("/v1/events/{domain}");
        let bytes = serde_json::to_vec(body).map_err(|e| ClientError::Sign(e.to_string()))?;
        let mut headers = self.sign_request("POST", &path, &bytes)?;
        if let Some(key) = idempotency_key {
            headers.insert(
                "idempotency-key",
                HeaderValue::from_str(key).map_err(|e| ClientError::Sign(e.to_string()))?,
            );
        }
        self.send("POST", &path, headers, bytes).await
    }

    /// A signed `GET`.
    pub async fn get(&self, path: &str) -> Result<Reply, ClientError> {
        let headers = self.sign_request("GET", path, &[])?;
        self.send("GET", path, headers, Vec::new()).await
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

//! The Standard Webhooks wire format.
//!
//! Every request carries three headers:
//!
//! - `webhook-id`: the message id, identical on every retry of the same
//!   message (see [`webhook_id`]);
//! - `webhook-timestamp`: unix seconds of *this* attempt (receivers reject
//!   timestamps outside a tolerance window, so retries are re-signed with a
//!   fresh timestamp);
//! - `webhook-signature`: space-separated `version,base64` signatures over
//!   `{id}.{timestamp}.{body}` — `v1a` is ed25519 by Moneta's active key,
//!   `v1` is HMAC-SHA256 with the endpoint's `whsec_` secret.

mod id;
mod secret;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use moneta_signing::KeyRing;

pub use id::webhook_id;
pub use secret::{HmacSecret, HmacSecretError};

/// Header carrying the message id.
pub const HEADER_ID: &str = "webhook-id";
/// Header carrying the attempt's unix timestamp (seconds).
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Header carrying the space-separated signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// One message as signed: id, attempt timestamp and the exact body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookMessage<'a> {
    /// The `webhook-id` (same on every retry).
    pub id: &'a str,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The request body, byte for byte.
    pub body: &'a [u8],
}

/// The bytes every signature covers: `{id}.{timestamp}.{body}`.
pub fn signed_content(msg: &WebhookMessage<'_>) -> Vec<u8> {
    let prefix = format!("{}.{}.", msg.id, msg.timestamp);
    let mut out = Vec::with_capacity(prefix.len() + msg.body.len());
    out.extend_from_slice(prefix.as_bytes());
    out.extend_from_slice(msg.body);
    out
}

/// The `v1a,<base64>` ed25519 signature by the ring's active key.
pub fn sign_v1a(keys: &KeyRing, msg: &WebhookMessage<'_>) -> String {
    let (_kid, signature) = keys.sign(&signed_content(msg));
    format!("v1a,{}", STANDARD.encode(signature.to_bytes()))
}

/// The three Standard Webhooks headers: `v1a` always, plus one `v1` per
/// HMAC secret of the endpoint (during a rotation, the new and the old;
/// space-separated, `v1a` first).
pub fn headers(
    msg: &WebhookMessage<'_>,
    keys: &KeyRing,
    hmac: &[HmacSecret],
) -> Vec<(&'static str, String)> {
    let mut signature = sign_v1a(keys, msg);
    for secret in hmac {
        signature.push(' ');
        signature.push_str(&secret.sign_v1(msg));
    }
    vec![
        (HEADER_ID, msg.id.to_owned()),
        (HEADER_TIMESTAMP, msg.timestamp.to_string()),
        (HEADER_SIGNATURE, signature),
    ]
}

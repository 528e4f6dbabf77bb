//! Moneta's own ed25519 signing keys: one active key plus retired
//! verification-only keys.
//!
//! # Key file format
//!
//! A UTF-8 text file, one entry per line; blank lines and lines starting
//! with `#` are ignored:
//!
//! ```text
//! # Moneta signing keys — keep this file mode 0600.
//! active  moneta-2025-02  <standard base64 of the 32-byte ed25519 seed>
//! retired moneta-2024-11  <standard base64 of the 32-byte public key>
//! ```
//!
//! Exactly one `active` entry is required; key ids are 1–128 characters of
//! `[A-Za-z0-9._:-]` and must be unique. When loaded from an environment
//! variable the same format is used, and `;` may separate entries instead of
//! newlines. Error messages name line numbers only, never line content.

mod error;
mod files;
mod format;
#[cfg(test)]
mod tests;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

pub use error::KeyError;

/// The public description of one key, as served by `GET /v1/keys`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PublishedKey {
    /// Key id (the `kid` callers see in signatures).
    pub kid: String,
    /// Algorithm, always `ed25519`.
    pub alg: String,
    /// Standard base64 of the 32-byte public key.
    pub public_key: String,
    /// `active` or `retired`.
    pub status: String,
}

/// One active signing key and any number of retired verification keys.
#[derive(Clone)]
pub struct KeyRing {
    active_id: String,
    active: SigningKey,
    retired: Vec<(String, VerifyingKey)>,
}

impl KeyRing {
    /// Creates a ring with a single active key (the id is validated).
    pub fn new(active_id: &str, active: SigningKey) -> Result<Self, KeyError> {
        format::check_key_id(active_id)?;
        Ok(Self {
            active_id: active_id.to_owned(),
            active,
            retired: Vec::new(),
        })
    }

    /// Adds a retired, verification-only key.
    pub fn with_retired(mut self, key_id: &str, key: VerifyingKey) -> Result<Self, KeyError> {
        format::check_key_id(key_id)?;
        if self.contains(key_id) {
            return Err(KeyError::KeyIdInUse);
        }
        self.retired.push((key_id.to_owned(), key));
        Ok(self)
    }

    /// Id of the active signing key.
    pub fn active_id(&self) -> &str {
        &self.active_id
    }

    /// The active signing key (for RFC 9421 request signing).
    pub fn active_key(&self) -> &SigningKey {
        &self.active
    }

    /// Signs `msg` with the active key, returning its id and the signature.
    pub fn sign(&self, msg: &[u8]) -> (String, Signature) {
        (self.active_id.clone(), self.active.sign(msg))
    }

    /// Public key for `key_id`, active or retired.
    pub fn verifying_key(&self, key_id: &str) -> Option<VerifyingKey> {
        if key_id == self.active_id {
            return Some(self.active.verifying_key());
        }
        self.retired
            .iter()
            .find(|(id, _)| id == key_id)
            .map(|(_, key)| *key)
    }

    /// All keys (active first) in publishable form.
    pub fn published(&self) -> Vec<PublishedKey> {
        let active = std::iter::once((&self.active_id, self.active.verifying_key(), "active"));
        let retired = self.retired.iter().map(|(id, k)| (id, *k, "retired"));
        active
            .chain(retired)
            .map(|(kid, key, status)| PublishedKey {
                kid: kid.clone(),
                alg: "ed25519".to_owned(),
                public_key: STANDARD.encode(key.as_bytes()),
                status: status.to_owned(),
            })
            .collect()
    }

    fn contains(&self, key_id: &str) -> bool {
        self.active_id == key_id || self.retired.iter().any(|(id, _)| id == key_id)
    }
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let public = |k: &VerifyingKey| STANDARD.encode(k.as_bytes());
        f.debug_struct("KeyRing")
            .field(
                "active",
                &(&self.active_id, public(&self.active.verifying_key())),
            )
            .field(
                "retired",
                &self
                    .retired
                    .iter()
                    .map(|(id, k)| (id, public(k)))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

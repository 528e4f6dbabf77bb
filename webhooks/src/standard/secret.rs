//! Per-endpoint HMAC secrets (`whsec_<base64>`).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{WebhookMessage, signed_content};

/// Prefix of the textual secret form.
const PREFIX: &str = "whsec_";
/// Shortest accepted secret (the spec recommends 24–64 bytes).
const MIN_LEN: usize = 24;
/// Longest accepted secret.
const MAX_LEN: usize = 64;
/// Length of generated secrets.
const GENERATED_LEN: usize = 32;

/// Why a `whsec_` secret was rejected (the secret itself is never echoed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HmacSecretError {
    /// The text does not start with `whsec_`.
    #[error("webhook secret must start with `whsec_`")]
    MissingPrefix,
    /// The part after the prefix is not base64.
    #[error("webhook secret is not valid base64")]
    Base64,
    /// The decoded secret is shorter than 24 or longer than 64 bytes.
    #[error("webhook secret must be 24 to 64 bytes, got {0}")]
    Length(usize),
}

/// An endpoint's HMAC-SHA256 secret for `v1` signatures; zeroed on drop,
/// redacted in `Debug`.
#[derive(Clone)]
pub struct HmacSecret(Zeroizing<Vec<u8>>);

impl HmacSecret {
    /// Parses `whsec_<base64>` (padded or unpadded standard base64).
    pub fn parse(text: &str) -> Result<Self, HmacSecretError> {
        let b64 = text
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(HmacSecretError::MissingPrefix)?;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(b64)
                .or_else(|_| STANDARD_NO_PAD.decode(b64))
                .map_err(|_| HmacSecretError::Base64)?,
        );
        Self::from_bytes(&bytes)
    }

    /// Wraps raw secret bytes (24–64 bytes).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HmacSecretError> {
        if !(MIN_LEN..=MAX_LEN).contains(&bytes.len()) {
            return Err(HmacSecretError::Length(bytes.len()));
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// A fresh random 32-byte secret for a new endpoint.
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new(vec![0u8; GENERATED_LEN]);
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The `whsec_<base64>` text, to hand to the endpoint's owner once.
    /// Deliberately named: this is the only way the secret leaves the type.
    pub fn expose_whsec(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{PREFIX}{}", STANDARD.encode(&*self.0)))
    }

    /// The `v1,<base64>` HMAC-SHA256 signature of `msg`.
    pub fn sign_v1(&self, msg: &WebhookMessage<'_>) -> String {
        // HMAC pads keys shorter than the SHA-256 block (64 bytes) with zeros,
        // and secrets are at most 64 bytes, so padding here is exact and lets
        // us use the infallible fixed-size constructor.
        let mut key = Zeroizing::new([0u8; MAX_LEN]);
        key[..self.0.len()].copy_from_slice(&self.0);
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*key).into());
        mac.update(&signed_content(msg));
        let tag = mac.finalize().into_bytes();
        format!("v1,{}", STANDARD.encode(tag))
    }
}

impl std::str::FromStr for HmacSecret {
    type Err = HmacSecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl std::fmt::Debug for HmacSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HmacSecret(<redacted>)")
    }
}

//! Partners' public signing keys, used to verify contract signatures.
//!
//! Not in design §2.3 (which only mentions an mPass public-key table); an
//! organization may hold several active keys at once so keys can be rotated.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::status::{KeyState, TransitionError};

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032): 32-byte public keys, 64-byte signatures.
    Ed25519,
}

impl KeyAlgorithm {
    /// The serialized (`snake_case`) name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::Ed25519 => "ed25519",
        }
    }

    /// Length in bytes of a public key for this algorithm.
    pub fn public_key_len(self) -> usize {
        match self {
            KeyAlgorithm::Ed25519 => 32,
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartnerKeyError {
    /// The key is not standard base64.
    #[error("public key is not valid base64")]
    InvalidBase64,
    /// The decoded key has the wrong length for its algorithm.
    #[error("{algorithm} public key must be {expected} bytes, got {actual}")]
    WrongLength {
        /// The key's algorithm.
        algorithm: KeyAlgorithm,
        /// Bytes the algorithm needs.
        expected: usize,
        /// Bytes decoded.
        actual: usize,
    },
}

/// A partner organization's public signing key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerKey {
    /// Primary key: the key id signatures refer to.
    pub id: String,
    /// The organization (MO or publisher) that owns it.
    pub organization_id: String,
    /// Signature algorithm.
    pub algorithm: KeyAlgorithm,
    /// The public key, standard base64 (32 bytes for Ed25519).
    pub public_key: String,
    /// Active or revoked.
    pub state: KeyState,
    /// When it was registered, Unix seconds.
    pub created_at: i64,
    /// When it was revoked, Unix seconds.
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

impl PartnerKey {
    /// Index on the owning organization.
    pub const INDEX_ORGANIZATION: &'static str = "organization";

    /// An active key, after checking `public_key` decodes to the algorithm's
    /// key length.
    pub fn new(
        id: impl Into<String>,
        organization_id: impl Into<String>,
        algorithm: KeyAlgorithm,
        public_key: impl Into<String>,
        created_at: i64,
    ) -> Result<Self, PartnerKeyError> {
        let key = Self {
            id: id.into(),
            organization_id: organization_id.into(),
            algorithm,
            public_key: public_key.into(),
            state: KeyState::Active,
            created_at,
            revoked_at: None,
        };
        key.validate()?;
        Ok(key)
    }

    /// Checks the public key decodes to the algorithm's key length (only the
    /// length: whether the bytes form a valid curve point is the verifier's
    /// business).
    pub fn validate(&self) -> Result<(), PartnerKeyError> {
        self.decoded_public_key().map(|_| ())
    }

    /// The decoded public key bytes, checked for length.
    pub fn decoded_public_key(&self) -> Result<Vec<u8>, PartnerKeyError> {
        let bytes = decode_base64(&self.public_key).ok_or(PartnerKeyError::InvalidBase64)?;
        let expected = self.algorithm.public_key_len();
        if bytes.len() != expected {
            return Err(PartnerKeyError::WrongLength {
                algorithm: self.algorithm,
                expected,
                actual: bytes.len(),
            });
        }
        Ok(bytes)
    }

    /// Whether signatures made with this key are accepted.
    pub fn is_active(&self) -> bool {
        self.state == KeyState::Active
    }

    /// Applies a state transition; revoking records `revoked_at = now`.
    pub fn set_status(&mut self, to: KeyState, now: i64) -> Result<(), TransitionError> {
        self.state = self
            .state
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        if to == KeyState::Revoked {
            self.revoked_at = Some(now);
        }
        Ok(())
    }
}

impl Entity for PartnerKey {
    const KIND: Kind = Kind::PartnerKey;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_ORGANIZATION, self.organization_id.clone())]
    }
}

/// Decodes standard (RFC 4648 §4) base64, fully padded or unpadded.
fn decode_base64(input: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    STANDARD
        .decode(input)
        .or_else(|_| STANDARD_NO_PAD.decode(input))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn base64_round_trip() {
        for len in 0..70 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = encode(&bytes);
            assert_eq!(decode_base64(&text), Some(bytes.clone()), "{text}");
            assert_eq!(decode_base64(text.trim_end_matches('=')), Some(bytes));
        }
        assert_eq!(decode_base64("QQ=="), Some(b"A".to_vec()));
        assert_eq!(decode_base64("QR=="), None, "non-canonical trailing bits");
        assert_eq!(decode_base64("QQ="), None, "bad padding");
        assert_eq!(decode_base64("Q"), None);
        assert_eq!(decode_base64("QQ==="), None);
        assert_eq!(decode_base64("QQ-_"), None, "url-safe alphabet refused");
    }

    #[test]
    fn accepts_32_byte_key() {
        let key = encode(&[7u8; 32]);
        assert_eq!(key.len(), 44);
        let k = PartnerKey::new("k1", "org-1", KeyAlgorithm::Ed25519, key, 1).expect("valid key");
        assert!(k.is_active());
        assert_eq!(k.decoded_public_key(), Ok(vec![7u8; 32]));
        assert_eq!(k.indexes(), vec![("organization", "org-1".to_string())]);
    }

    #[test]
    fn refuses_wrong_length_and_bad_base64() {
        for len in [0usize, 31, 33, 64] {
            let err = PartnerKey::new("k", "o", KeyAlgorithm::Ed25519, encode(&vec![1u8; len]), 1)
                .expect_err("wrong length");
            assert_eq!(
                err,
                PartnerKeyError::WrongLength {
                    algorithm: KeyAlgorithm::Ed25519,
                    expected: 32,
                    actual: len
                }
            );
        }
        let err = PartnerKey::new("k", "o", KeyAlgorithm::Ed25519, "not base64!", 1)
            .expect_err("garbage");
        assert_eq!(err, PartnerKeyError::InvalidBase64);
    }

    #[test]
    fn revoke_records_time_and_is_terminal() {
        let mut k = PartnerKey::new("k1", "org-1", KeyAlgorithm::Ed25519, encode(&[0u8; 32]), 1)
            .expect("valid");
        k.set_status(KeyState::Revoked, 9).expect("revoke");
        assert_eq!((k.state, k.revoked_at), (KeyState::Revoked, Some(9)));
        let err = k.set_status(KeyState::Active, 10).expect_err("terminal");
        assert_eq!(err.entity, "partner_key");
        assert_eq!(k.revoked_at, Some(9));
    }
}

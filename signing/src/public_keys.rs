//! Partners' ed25519 public keys, decoded once.
//!
//! Decoding a public key decompresses a curve point (a field square root):
//! about a fifth of an ed25519 verification. A partner signs every request
//! and every contract with the same few keys, so the decoded keys are kept,
//! process-wide, keyed by their base64 text. Public keys are not secrets;
//! the map is bounded ([`CAPACITY`]) and emptied when full.

use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::VerifyingKey;

use crate::SigError;

/// How many decoded keys are kept at most before the map starts again.
pub const CAPACITY: usize = 4096;

fn keys() -> &'static RwLock<HashMap<String, VerifyingKey>> {
    static KEYS: OnceLock<RwLock<HashMap<String, VerifyingKey>>> = OnceLock::new();
    KEYS.get_or_init(|| RwLock::new(HashMap::new()))
}

/// The ed25519 public key a std-base64 string holds (32 bytes, a valid
/// point), decoded once per process and kept for the next call.
pub fn public_key(public_key_b64: &str) -> Result<VerifyingKey, SigError> {
    let text = public_key_b64.trim();
    if let Some(key) = keys()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(text)
    {
        return Ok(*key);
    }
    let key = decode(text)?;
    let mut keys = keys().write().unwrap_or_else(PoisonError::into_inner);
    if keys.len() >= CAPACITY {
        keys.clear();
    }
    keys.insert(text.to_owned(), key);
    Ok(key)
}

fn decode(text: &str) -> Result<VerifyingKey, SigError> {
    let bytes: [u8; 32] = STANDARD
        .decode(text)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SigError::InvalidKey)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| SigError::InvalidKey)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn encoded(seed: u8) -> (VerifyingKey, String) {
        let key = SigningKey::from_bytes(&[seed; 32]).verifying_key();
        (key, STANDARD.encode(key.as_bytes()))
    }

    #[test]
    fn a_kept_key_is_the_key_the_text_holds() {
        let (key, text) = encoded(3);
        assert_eq!(public_key(&text), Ok(key));
        assert_eq!(public_key(&format!(" {text}\n")), Ok(key));
        let (other, other_text) = encoded(4);
        assert_eq!(public_key(&other_text), Ok(other));
        assert_eq!(public_key(&text), Ok(key));
    }

    #[test]
    fn bad_keys_are_refused_and_never_kept() {
        assert_eq!(public_key("AAAA"), Err(SigError::InvalidKey));
        assert_eq!(public_key("not base64!"), Err(SigError::InvalidKey));
        assert!(!keys().read().expect("lock").contains_key("AAAA"));
    }

    #[test]
    fn the_map_stays_bounded() {
        for seed in 0..=255u8 {
            for salt in 0..20u8 {
                let mut bytes = [seed; 32];
                bytes[0] = salt;
                let key = SigningKey::from_bytes(&bytes).verifying_key();
                public_key(&STANDARD.encode(key.as_bytes())).expect("valid key");
            }
        }
        assert!(keys().read().expect("lock").len() <= CAPACITY);
    }
}

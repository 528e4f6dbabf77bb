//! Plain ed25519 helpers over base64 strings (contract signatures).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey};

use crate::SigError;

/// Verifies `signature_b64` over `msg` with `verify_strict`; inputs are std
/// base64 (the decoded key is kept: [`public_key`](crate::public_key)).
pub fn verify_ed25519(
    public_key_b64: &str,
    msg: &[u8],
    signature_b64: &str,
) -> Result<(), SigError> {
    let key = crate::public_keys::public_key(public_key_b64)?;
    let sig_bytes = STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| SigError::InvalidSignatureEncoding)?;
    let signature =
        Signature::from_slice(&sig_bytes).map_err(|_| SigError::InvalidSignatureEncoding)?;
    key.verify_strict(msg, &signature)
        .map_err(|_| SigError::BadSignature)
}

/// Signs `msg` and returns the 64-byte signature as std base64.
pub fn sign_ed25519(key: &SigningKey, msg: &[u8]) -> String {
    STANDARD.encode(key.sign(msg).to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032 §7.1 TEST 2.
    #[test]
    fn rfc8032_test_2() {
        let seed: [u8; 32] =
            decode_hex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");
        let key = SigningKey::from_bytes(&seed);
        let expected = "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da\
                        085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00";
        let sig = sign_ed25519(&key, &[0x72]);
        let raw = STANDARD.decode(&sig).expect("base64");
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
        let public = STANDARD.encode(key.verifying_key().as_bytes());
        assert_eq!(verify_ed25519(&public, &[0x72], &sig), Ok(()));
        assert_eq!(
            verify_ed25519(&public, &[0x73], &sig),
            Err(SigError::BadSignature)
        );
    }

    #[test]
    fn bad_inputs_have_codes() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = STANDARD.encode(key.verifying_key().as_bytes());
        let sig = sign_ed25519(&key, b"m");
        assert_eq!(
            verify_ed25519("AAAA", b"m", &sig).map_err(|e| e.code()),
            Err("invalid_key")
        );
        assert_eq!(
            verify_ed25519(&public, b"m", "AAAA").map_err(|e| e.code()),
            Err("invalid_signature_encoding")
        );
        assert_eq!(
            verify_ed25519(&public, b"m", "not base64!").map_err(|e| e.code()),
            Err("invalid_signature_encoding")
        );
    }

    fn decode_hex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }
}

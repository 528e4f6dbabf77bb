//! Verifying parsed signatures and simple policy checks.

use ed25519_dalek::{Signature, VerifyingKey};

use super::{ParsedSignature, RequestParts, SigError, signature_base};

/// Verifies one signature over `parts` with `verify_strict` (RFC 9421 §3.2).
pub fn verify_request(
    parts: &RequestParts<'_>,
    sig: &ParsedSignature,
    key: &VerifyingKey,
) -> Result<(), SigError> {
    if let Some(alg) = sig.params.alg.as_deref().filter(|a| *a != "ed25519") {
        return Err(SigError::UnsupportedAlgorithm(alg.to_owned()));
    }
    let signature =
        Signature::from_slice(&sig.signature).map_err(|_| SigError::InvalidSignatureEncoding)?;
    let base = signature_base(parts, &sig.params_serialized, &sig.params.components)?;
    key.verify_strict(base.as_bytes(), &signature)
        .map_err(|_| SigError::BadSignature)
}

/// Fails with [`SigError::MissingComponent`] naming the first uncovered component.
pub fn require_components(sig: &ParsedSignature, required: &[&str]) -> Result<(), SigError> {
    for name in required {
        let lower = name.to_ascii_lowercase();
        if !sig.params.components.contains(&lower) {
            return Err(SigError::MissingComponent(lower));
        }
    }
    Ok(())
}

/// Requires `created` within `max_age` seconds before `now` (allowing
/// `max_skew` seconds in the future) and `expires`, if present, not passed.
pub fn check_freshness(
    sig: &ParsedSignature,
    now: i64,
    max_age: i64,
    max_skew: i64,
) -> Result<(), SigError> {
    let created = sig
        .params
        .created
        .ok_or(SigError::StaleSignature("created parameter missing"))?;
    if created > now.saturating_add(max_skew) {
        return Err(SigError::StaleSignature("created is in the future"));
    }
    if created < now.saturating_sub(max_age) {
        return Err(SigError::StaleSignature("created is too old"));
    }
    if sig.params.expires.is_some_and(|e| e < now) {
        return Err(SigError::StaleSignature("signature has expired"));
    }
    Ok(())
}

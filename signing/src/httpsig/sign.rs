//! Producing `Signature-Input` / `Signature` header values.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer as _, SigningKey};

use super::{RequestParts, SigError, SignatureParams, signature_base};
use crate::sfv;

/// Header values to attach to a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Signature-Input` value, e.g. `sig1=("@method");created=1`.
    pub signature_input: String,
    /// `Signature` value, e.g. `sig1=:<base64>:`.
    pub signature: String,
}

/// Signs a request with ed25519 under `label` (RFC 9421 §3.1).
pub fn sign_request(
    parts: &RequestParts<'_>,
    label: &str,
    params: &SignatureParams,
    key: &SigningKey,
) -> Result<SignedHeaders, SigError> {
    if !sfv::is_key(label) {
        return Err(SigError::MalformedHeader(
            "signature label must be a structured-field key".into(),
        ));
    }
    if let Some(alg) = params.alg.as_deref().filter(|a| *a != "ed25519") {
        return Err(SigError::UnsupportedAlgorithm(alg.to_owned()));
    }
    let serialized = params.serialize()?;
    let base = signature_base(parts, &serialized, &params.components)?;
    let signature = key.sign(base.as_bytes());
    Ok(SignedHeaders {
        signature_input: format!("{label}={serialized}"),
        signature: format!("{label}=:{}:", STANDARD.encode(signature.to_bytes())),
    })
}

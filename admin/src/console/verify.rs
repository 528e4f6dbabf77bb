//! Signature checks for the console, computed on the server: each
//! signature of a contract against the key it names, over the contract's
//! canonical terms (RFC 8785), as a verifier outside Moneta would.

use moneta_domain::{Contract, PartnerKey, Signature};
use moneta_signing::verify_ed25519;

use crate::AdminState;

/// What checking one signature found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The signature verifies with the named key.
    Verified,
    /// It does not; why.
    Failed(String),
}

/// Each signature of `contract`, by party, with its verdict.
pub async fn signatures(
    state: &AdminState,
    contract: &Contract,
) -> Vec<(String, Signature, Verdict)> {
    let input = contract.terms().signing_input();
    let mut out = Vec::new();
    for (party, signature) in &contract.signatures {
        let verdict = match &input {
            Err(e) => Verdict::Failed(format!("terms do not canonicalize: {e}")),
            Ok(input) => match public_key(state, contract, party, &signature.key_id).await {
                Err(why) => Verdict::Failed(why),
                Ok(key) => match verify_ed25519(&key, input, &signature.signature) {
                    Ok(()) => Verdict::Verified,
                    Err(e) => Verdict::Failed(e.to_string()),
                },
            },
        };
        out.push((party.clone(), signature.clone(), verdict));
    }
    out
}

/// The public key (base64) that `key_id` names for `party`, which must own it.
async fn public_key(
    state: &AdminState,
    contract: &Contract,
    party: &str,
    key_id: &str,
) -> Result<String, String> {
    if party == "moneta" {
        return state
            .moneta_keys
            .iter()
            .find(|k| k.kid == key_id)
            .map(|k| k.public_key.clone())
            .ok_or_else(|| format!("Moneta has no key {key_id}"));
    }
    let owner = match party {
        "mo" => &contract.mo_id,
        "publisher" => &contract.publisher_id,
        other => return Err(format!("no party {other}")),
    };
    match state.registry.get::<PartnerKey>(key_id).await {
        Ok(Some(key)) if key.entity.organization_id != *owner => {
            Err(format!("key {key_id} does not belong to {owner}"))
        }
        Ok(Some(key)) => Ok(key.entity.public_key),
        Ok(None) => Err(format!("no partner key {key_id}")),
        Err(e) => Err(format!("the registry failed: {e}")),
    }
}

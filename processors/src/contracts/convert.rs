//! Between the Avro records on the wire and the domain's types.

use moneta_avro::{ContractEvent, Party};
use moneta_domain::ContractTerms;
use sha2::{Digest, Sha256};

use super::context::Refusal;

/// The domain terms of an Avro event, or why they are malformed.
pub fn to_domain_terms(terms: &moneta_avro::ContractTerms) -> Result<ContractTerms, Refusal> {
    let attributes: serde_json::Value = serde_json::from_str(&terms.terms_json)
        .map_err(|e| Refusal::new("malformed_terms", format!("terms_json is not JSON: {e}")))?;
    if !attributes.is_object() {
        return Err(Refusal::new(
            "malformed_terms",
            "terms_json must be a JSON object",
        ));
    }
    let template_version = u32::try_from(terms.template_version).map_err(|_| {
        Refusal::new(
            "malformed_terms",
            format!("template_version {} is negative", terms.template_version),
        )
    })?;
    Ok(ContractTerms {
        contract_id: terms.contract_id.clone(),
        contract_type: terms.contract_type.clone(),
        template_name: terms.template_name.clone(),
        template_version,
        mo_id: terms.mo_id.clone(),
        publisher_id: terms.publisher_id.clone(),
        mpass_id: terms.mpass_id.clone(),
        description: terms.description.clone(),
        terms: attributes,
    })
}

/// The domain party of a partner signature (`None` for Moneta).
pub fn domain_party(party: Party) -> Option<moneta_domain::Party> {
    match party {
        Party::Mo => Some(moneta_domain::Party::Mo),
        Party::Publisher => Some(moneta_domain::Party::Publisher),
        Party::Moneta => None,
    }
}

/// The party's name as a key of a contract's signatures.
pub fn party_name(party: Party) -> &'static str {
    match party {
        Party::Mo => "mo",
        Party::Publisher => "publisher",
        Party::Moneta => "moneta",
    }
}

/// SHA-256 (hex) of what identifies an event's content: its id, its terms
/// and its signature. A resubmission has the same fingerprint.
pub fn fingerprint(event: &ContractEvent) -> String {
    let mut hash = Sha256::new();
    for part in [
        event.event_id.as_str(),
        &event.contract.contract_id,
        &event.contract.contract_type,
        &event.contract.template_name,
        &event.contract.template_version.to_string(),
        &event.contract.mo_id,
        &event.contract.publisher_id,
        event.contract.mpass_id.as_deref().unwrap_or("\u{0}"),
        &event.contract.description,
        &event.contract.terms_json,
        party_name(event.signature.party),
        &event.signature.key_id,
        &event.signature.signature,
        &event.signature.signed_at.to_string(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

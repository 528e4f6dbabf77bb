//! Between the Avro records on the wire and the domain's types.

use moneta_avro::{ContractEvent, ContractLogEntry, Party, PartySignature};
use moneta_domain::ContractTerms;
use moneta_domain::{Contract, ContractStatus};
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

/// The Avro form of a contract, produced by `event_key` from `partner`.
pub fn to_avro(contract: &Contract, event_key: &str, partner: &str) -> moneta_avro::Contract {
    let party_order = [
        ("mo", moneta_avro::Party::Mo),
        ("publisher", moneta_avro::Party::Publisher),
        ("moneta", moneta_avro::Party::Moneta),
    ];
    let signatures = party_order
        .iter()
        .filter_map(|(name, party)| {
            contract.signatures.get(*name).map(|s| PartySignature {
                party: *party,
                key_id: s.key_id.clone(),
                signature: s.signature.clone(),
                signed_at: s.signed_at,
            })
        })
        .collect();
    let terms = contract.terms();
    moneta_avro::Contract {
        contract_id: contract.id.clone(),
        version: i64::try_from(contract.version).unwrap_or(i64::MAX),
        status: match contract.status {
            ContractStatus::Pending => moneta_avro::ContractStatus::Pending,
            ContractStatus::Active => moneta_avro::ContractStatus::Active,
            ContractStatus::Disputed => moneta_avro::ContractStatus::Disputed,
            ContractStatus::Finalized => moneta_avro::ContractStatus::Finalized,
            ContractStatus::Rejected => moneta_avro::ContractStatus::Rejected,
        },
        terms: moneta_avro::ContractTerms {
            contract_id: terms.contract_id,
            contract_type: terms.contract_type,
            template_name: terms.template_name,
            template_version: i32::try_from(terms.template_version).unwrap_or(i32::MAX),
            mo_id: terms.mo_id,
            publisher_id: terms.publisher_id,
            mpass_id: terms.mpass_id,
            description: terms.description,
            terms_json: terms.terms.to_string(),
        },
        signatures,
        event_id: event_key.to_owned(),
        partner_id: partner.to_owned(),
        events: contract
            .event_log
            .iter()
            .map(|e| ContractLogEntry {
                event_id: e.event_id.clone(),
                version: i64::try_from(e.version).unwrap_or(i64::MAX),
                kind: e.kind.clone(),
                at: e.at,
            })
            .collect(),
        created_at: contract.created_at,
        finalized_at: contract.finalized_at,
    }
}

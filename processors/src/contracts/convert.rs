//! Between the records on the topics and the domain's types.

use std::collections::BTreeMap;

use moneta_domain::{
    ChargeDispute, Contract, ContractStatus, ContractTerms, DisputeState, EventLogEntry,
    KeyAlgorithm, Party, Signature,
};
use moneta_records::{self as records, ContractLogEntry, PartySignature};
use moneta_runtime::Rejection;

/// The organization id Moneta signs as: no party may use it, so no
/// partner's event can pass for Moneta's countersignature.
pub const MONETA: &str = "moneta";

/// The domain terms of an event's contract, or why they are malformed.
pub fn to_domain_terms(terms: &records::ContractTerms) -> Result<ContractTerms, Rejection> {
    for (role, id) in [
        ("mo_id", &terms.mo_id),
        ("publisher_id", &terms.publisher_id),
    ] {
        if id == MONETA {
            return Err(Rejection::new(
                "reserved_id",
                format!("{role} {MONETA} is reserved for Moneta"),
            ));
        }
    }
    let attributes: serde_json::Value = serde_json::from_str(&terms.terms_json)
        .map_err(|e| Rejection::new("malformed_terms", format!("terms_json is not JSON: {e}")))?;
    if !attributes.is_object() {
        return Err(Rejection::new(
            "malformed_terms",
            "terms_json must be a JSON object",
        ));
    }
    let template_version = u32::try_from(terms.template_version).map_err(|_| {
        Rejection::new(
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
pub fn domain_party(party: records::Party) -> Option<Party> {
    match party {
        records::Party::Mo => Some(Party::Mo),
        records::Party::Publisher => Some(Party::Publisher),
        records::Party::Moneta => None,
    }
}

const PARTIES: [records::Party; 3] = [
    records::Party::Mo,
    records::Party::Publisher,
    records::Party::Moneta,
];

fn record_status(status: ContractStatus) -> records::ContractStatus {
    match status {
        ContractStatus::Pending => records::ContractStatus::Pending,
        ContractStatus::Active => records::ContractStatus::Active,
        ContractStatus::Disputed => records::ContractStatus::Disputed,
        ContractStatus::Finalized => records::ContractStatus::Finalized,
        ContractStatus::Rejected => records::ContractStatus::Rejected,
        ContractStatus::Expired => records::ContractStatus::Expired,
    }
}

fn domain_status(status: records::ContractStatus) -> ContractStatus {
    match status {
        records::ContractStatus::Pending => ContractStatus::Pending,
        records::ContractStatus::Active => ContractStatus::Active,
        records::ContractStatus::Disputed => ContractStatus::Disputed,
        records::ContractStatus::Finalized => ContractStatus::Finalized,
        records::ContractStatus::Rejected => ContractStatus::Rejected,
        records::ContractStatus::Expired => ContractStatus::Expired,
    }
}

/// The record of a contract's row on the contract changelog: it names the
/// last event applied and the organization that submitted it.
pub fn row_record(contract: &Contract) -> records::Contract {
    let last = contract
        .event_log
        .last()
        .map(|e| e.event_id.as_str())
        .unwrap_or_default();
    let partner = last.split_once('/').map_or("", |(partner, _)| partner);
    to_record(contract, last, partner)
}

/// The record of a contract, produced by `event_key` from `partner`.
pub fn to_record(contract: &Contract, event_key: &str, partner: &str) -> records::Contract {
    let signatures = PARTIES
        .iter()
        .filter_map(|party| {
            contract
                .signatures
                .get(party.name())
                .map(|s| PartySignature {
                    party: *party,
                    key_id: s.key_id.clone(),
                    signature: s.signature.clone(),
                    signed_at: s.signed_at,
                })
        })
        .collect();
    let terms = contract.terms();
    records::Contract {
        contract_id: contract.id.clone(),
        version: i64::try_from(contract.version).unwrap_or(i64::MAX),
        status: record_status(contract.status),
        terms: records::ContractTerms {
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
        disputes: contract
            .disputes
            .iter()
            .map(|d| records::ChargeDispute {
                dispute_id: d.dispute_id.clone(),
                claimed_minor: d.claimed_minor,
                state: match d.state {
                    DisputeState::Open => records::DisputeState::Open,
                    DisputeState::Upheld => records::DisputeState::Upheld,
                    DisputeState::PartiallyUpheld => records::DisputeState::PartiallyUpheld,
                    DisputeState::Rejected => records::DisputeState::Rejected,
                },
                upheld_minor: d.upheld_minor,
                resolution_id: d.resolution_id.clone(),
            })
            .collect(),
    }
}

/// The domain contract a record carries, or why it is malformed.
pub fn from_record(record: &records::Contract) -> Result<Contract, Rejection> {
    let terms = to_domain_terms(&record.terms)?;
    let unsigned = |what: &str, n: i64| {
        u64::try_from(n)
            .map_err(|_| Rejection::new("malformed_contract", format!("{what} {n} is negative")))
    };
    let mut event_log = Vec::with_capacity(record.events.len());
    for e in &record.events {
        event_log.push(EventLogEntry {
            event_id: e.event_id.clone(),
            version: unsigned("event version", e.version)?,
            kind: e.kind.clone(),
            at: e.at,
        });
    }
    let signatures: BTreeMap<String, Signature> = record
        .signatures
        .iter()
        .map(|s| {
            (
                s.party.name().to_owned(),
                Signature {
                    key_id: s.key_id.clone(),
                    algorithm: KeyAlgorithm::Ed25519,
                    signature: s.signature.clone(),
                    signed_at: s.signed_at,
                },
            )
        })
        .collect();
    Ok(Contract {
        id: terms.contract_id,
        description: terms.description,
        template_name: terms.template_name,
        template_version: terms.template_version,
        mo_id: terms.mo_id,
        publisher_id: terms.publisher_id,
        mpass_id: terms.mpass_id,
        contract_type: terms.contract_type,
        version: unsigned("version", record.version)?,
        payload: terms.terms,
        signatures,
        event_log,
        status: domain_status(record.status),
        created_at: record.created_at,
        finalized_at: record.finalized_at,
        disputes: record
            .disputes
            .iter()
            .map(|d| ChargeDispute {
                dispute_id: d.dispute_id.clone(),
                claimed_minor: d.claimed_minor,
                state: match d.state {
                    records::DisputeState::Open => DisputeState::Open,
                    records::DisputeState::Upheld => DisputeState::Upheld,
                    records::DisputeState::PartiallyUpheld => DisputeState::PartiallyUpheld,
                    records::DisputeState::Rejected => DisputeState::Rejected,
                },
                upheld_minor: d.upheld_minor,
                resolution_id: d.resolution_id.clone(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Contract {
        Contract {
            id: "c-1".into(),
            description: "May".into(),
            template_name: "subscription-charge".into(),
            template_version: 1,
            mo_id: "mo-1".into(),
            publisher_id: "pub-1".into(),
            mpass_id: Some("mp-1".into()),
            contract_type: "subscription_charge".into(),
            version: 2,
            payload: serde_json::json!({"amount_minor": 999, "currency": "EUR"}),
            signatures: [("mo", "k-mo"), ("publisher", "k-pub")]
                .into_iter()
                .map(|(party, key)| {
                    (
                        party.to_owned(),
                        Signature {
                            key_id: key.into(),
                            algorithm: KeyAlgorithm::Ed25519,
                            signature: "c2ln".into(),
                            signed_at: 7,
                        },
                    )
                })
                .collect(),
            event_log: vec![
                EventLogEntry {
                    event_id: "pub-1/e1".into(),
                    version: 1,
                    kind: "created".into(),
                    at: 10,
                },
                EventLogEntry {
                    event_id: "mo-1/e2".into(),
                    version: 2,
                    kind: "signed".into(),
                    at: 11,
                },
            ],
            status: ContractStatus::Active,
            created_at: 10,
            finalized_at: None,
            disputes: Vec::new(),
        }
    }

    #[test]
    fn a_contract_survives_its_record() {
        let contract = contract();
        let record = to_record(&contract, "mo-1/e2", "mo-1");
        assert_eq!(record.event_id, "mo-1/e2");
        assert_eq!(from_record(&record).expect("decodes"), contract);
    }

    #[test]
    fn malformed_records_are_refused_with_stable_codes() {
        let mut record = to_record(&contract(), "mo-1/e2", "mo-1");
        record.version = -1;
        assert_eq!(
            from_record(&record).err().map(|r| r.code),
            Some("malformed_contract".into())
        );
        let mut record = to_record(&contract(), "mo-1/e2", "mo-1");
        record.terms.terms_json = "[1]".into();
        assert_eq!(
            from_record(&record).err().map(|r| r.code),
            Some("malformed_terms".into())
        );
        record.terms.terms_json = "{".into();
        assert_eq!(
            from_record(&record).err().map(|r| r.code),
            Some("malformed_terms".into())
        );
        record.terms.terms_json = "{}".into();
        record.terms.template_version = -3;
        assert_eq!(
            from_record(&record).err().map(|r| r.code),
            Some("malformed_terms".into())
        );
    }
}

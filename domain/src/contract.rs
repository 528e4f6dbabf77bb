//! Signed business contracts between an MO and a publisher (design §2.3,
//! Contracts table).
//!
//! A contract is not an [`Entity`](crate::Entity): the store keeps it as a
//! versioned document changed only by applying events, each at most once
//! (see [`Contract::has_event`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::charge_dispute::{ChargeDispute, DisputeState};
use crate::partner_key::KeyAlgorithm;
use crate::status::{ContractStatus, TransitionError};

/// One party's signature over a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// The [`crate::PartnerKey`] (or Moneta key) that made it.
    pub key_id: String,
    /// Signature algorithm.
    pub algorithm: KeyAlgorithm,
    /// The signature, standard base64.
    pub signature: String,
    /// When it was made, Unix seconds.
    pub signed_at: i64,
}

/// One event applied to a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLogEntry {
    /// The event's id (unique; applying it twice is a no-op).
    pub event_id: String,
    /// The contract version this event produced.
    pub version: u64,
    /// What happened, e.g. `created`, `signed`, `finalized`.
    pub kind: String,
    /// When it was applied, Unix seconds.
    pub at: i64,
}

/// A contract between an MO and a publisher, optionally about one mPass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    /// Primary key (`contract_id`).
    pub id: String,
    /// Human-readable summary of its purpose.
    pub description: String,
    /// The template it follows (with `template_version`, the design's `template_id`).
    pub template_name: String,
    /// The template version it follows.
    pub template_version: u32,
    /// The MO party.
    pub mo_id: String,
    /// The publisher party.
    pub publisher_id: String,
    /// The mPass it concerns, if any.
    #[serde(default)]
    pub mpass_id: Option<String>,
    /// Contract type, e.g. `subscription_charge`.
    pub contract_type: String,
    /// Contract version: 1 when created, +1 per applied event.
    pub version: u64,
    /// The contract's data.
    pub payload: serde_json::Value,
    /// Signatures by party (e.g. `mo`, `publisher`, `moneta`).
    pub signatures: BTreeMap<String, Signature>,
    /// Every event applied, oldest first.
    pub event_log: Vec<EventLogEntry>,
    /// Lifecycle status.
    pub status: ContractStatus,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// When it was finalized, Unix seconds.
    #[serde(default)]
    pub finalized_at: Option<i64>,
    /// A charge's disputes (none for other contract types), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disputes: Vec<ChargeDispute>,
}

impl Contract {
    /// How much of this charge its resolved disputes reversed, minor units.
    pub fn reversed_minor(&self) -> i64 {
        self.disputes.iter().map(|d| d.upheld_minor).sum()
    }

    /// The dispute `dispute_id` of this charge, if it has one.
    pub fn dispute(&self, dispute_id: &str) -> Option<&ChargeDispute> {
        self.disputes.iter().find(|d| d.dispute_id == dispute_id)
    }

    /// `disputed` while a dispute is open, else `finalized` (for a
    /// finalized charge's status as its disputes come and go).
    pub fn status_after_disputes(&self) -> ContractStatus {
        if self.disputes.iter().any(|d| d.state == DisputeState::Open) {
            ContractStatus::Disputed
        } else {
            ContractStatus::Finalized
        }
    }

    /// Whether the event `event_id` has already been applied.
    pub fn has_event(&self, event_id: &str) -> bool {
        self.event_log.iter().any(|e| e.event_id == event_id)
    }

    /// Whether `party` has signed.
    pub fn is_signed_by(&self, party: &str) -> bool {
        self.signatures.contains_key(party)
    }

    /// Applies a status transition; finalizing records `finalized_at = now`.
    pub fn set_status(&mut self, to: ContractStatus, now: i64) -> Result<(), TransitionError> {
        self.status = self.status.transition(to)?;
        if to == ContractStatus::Finalized {
            self.finalized_at = Some(now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract() -> Contract {
        Contract {
            id: "c-1".into(),
            description: "monthly".into(),
            template_name: "subscription".into(),
            template_version: 3,
            mo_id: "mo-1".into(),
            publisher_id: "pub-1".into(),
            mpass_id: Some("p-1".into()),
            contract_type: "subscription_charge".into(),
            version: 1,
            payload: serde_json::json!({"amount": 999}),
            signatures: BTreeMap::from([(
                "mo".to_string(),
                Signature {
                    key_id: "k1".into(),
                    algorithm: KeyAlgorithm::Ed25519,
                    signature: "c2ln".into(),
                    signed_at: 5,
                },
            )]),
            event_log: vec![EventLogEntry {
                event_id: "ev-1".into(),
                version: 1,
                kind: "created".into(),
                at: 5,
            }],
            status: ContractStatus::Pending,
            created_at: 5,
            finalized_at: None,
            disputes: Vec::new(),
        }
    }

    #[test]
    fn events_and_signatures() {
        let c = contract();
        assert!(c.has_event("ev-1"));
        assert!(!c.has_event("ev-2"));
        assert!(c.is_signed_by("mo"));
        assert!(!c.is_signed_by("moneta"));
    }

    #[test]
    fn finalizing_records_time() {
        let mut c = contract();
        c.set_status(ContractStatus::Active, 6).expect("activate");
        assert_eq!(c.finalized_at, None);
        c.set_status(ContractStatus::Finalized, 7)
            .expect("finalize");
        assert_eq!(c.finalized_at, Some(7));
        let err = c
            .set_status(ContractStatus::Pending, 8)
            .expect_err("never back to pending");
        assert_eq!(
            (err.entity, err.from, err.to),
            ("contract", "finalized", "pending")
        );
    }

    #[test]
    fn serde_round_trip() {
        let c = contract();
        let json = serde_json::to_value(&c).expect("serialize");
        assert_eq!(json["status"], "pending");
        assert_eq!(json["signatures"]["mo"]["algorithm"], "ed25519");
        let back: Contract = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, c);
    }
}

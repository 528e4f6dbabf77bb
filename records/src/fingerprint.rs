//! What identifies an event's content.

use sha2::{Digest, Sha256};

use crate::types::{ContractEvent, Party};

impl Party {
    /// The party's name as a key of a contract's signatures.
    pub fn name(self) -> &'static str {
        match self {
            Party::Mo => "mo",
            Party::Publisher => "publisher",
            Party::Moneta => "moneta",
        }
    }
}

impl ContractEvent {
    /// SHA-256 (hex) of what identifies the event's content: its id, its
    /// terms and its signature. A resubmission has the same fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for part in [
            self.event_id.as_str(),
            &self.contract.contract_id,
            &self.contract.contract_type,
            &self.contract.template_name,
            &self.contract.template_version.to_string(),
            &self.contract.mo_id,
            &self.contract.publisher_id,
            self.contract.mpass_id.as_deref().unwrap_or("\u{0}"),
            &self.contract.description,
            &self.contract.terms_json,
            self.signature.party.name(),
            &self.signature.key_id,
            &self.signature.signature,
            &self.signature.signed_at.to_string(),
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The organization the signature claims: the MO's or the publisher's
    /// id (authenticated once validated), `moneta` for Moneta.
    pub fn claimed_partner(&self) -> &str {
        match self.signature.party {
            Party::Mo => &self.contract.mo_id,
            Party::Publisher => &self.contract.publisher_id,
            Party::Moneta => "moneta",
        }
    }
}

//! Contract terms: what every party signs, and the exact bytes they sign.
//!
//! The signing input is the RFC 8785 canonical JSON of [`ContractTerms`]
//! (`docs/contracts.md`): every party, and Moneta when it countersigns,
//! signs these same bytes with ed25519.

use serde::{Deserialize, Serialize};

use crate::contract::Contract;

/// The terms of one contract, as signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContractTerms {
    /// Ties every event of one contract together.
    pub contract_id: String,
    /// The template's contract type, e.g. `subscription_charge`.
    pub contract_type: String,
    /// Template name.
    pub template_name: String,
    /// Template version.
    pub template_version: u32,
    /// The MO party.
    pub mo_id: String,
    /// The publisher party.
    pub publisher_id: String,
    /// The mPass concerned, if any.
    #[serde(default)]
    pub mpass_id: Option<String>,
    /// A human-readable summary.
    #[serde(default)]
    pub description: String,
    /// The template's attributes (a JSON object).
    pub terms: serde_json::Value,
}

impl ContractTerms {
    /// The JSON document whose canonical form is signed.
    pub fn document(&self) -> serde_json::Value {
        serde_json::json!({
            "contract_id": self.contract_id,
            "contract_type": self.contract_type,
            "template_name": self.template_name,
            "template_version": self.template_version,
            "mo_id": self.mo_id,
            "publisher_id": self.publisher_id,
            "mpass_id": self.mpass_id,
            "description": self.description,
            "terms": self.terms,
        })
    }

    /// The bytes every signature covers: RFC 8785 canonical JSON of [`Self::document`].
    pub fn signing_input(&self) -> Result<Vec<u8>, moneta_signing::jcs::JcsError> {
        moneta_signing::jcs::canonicalize(&self.document())
    }
}

impl Contract {
    /// The terms this contract's signatures cover.
    pub fn terms(&self) -> ContractTerms {
        ContractTerms {
            contract_id: self.id.clone(),
            contract_type: self.contract_type.clone(),
            template_name: self.template_name.clone(),
            template_version: self.template_version,
            mo_id: self.mo_id.clone(),
            publisher_id: self.publisher_id.clone(),
            mpass_id: self.mpass_id.clone(),
            description: self.description.clone(),
            terms: self.payload.clone(),
        }
    }
}

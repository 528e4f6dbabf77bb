//! The disputes of a subscription charge, kept on the charge's contract
//! row: which are open, how each was resolved, how much of the charge has
//! been reversed. What caps the reversals of one charge at the charge.

use serde::{Deserialize, Serialize};

/// Where a dispute is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeState {
    /// Opened by the MO, awaiting its resolution.
    Open,
    /// Resolved: the whole disputed amount is reversed.
    Upheld,
    /// Resolved: part of the disputed amount is reversed.
    PartiallyUpheld,
    /// Resolved: nothing is reversed.
    Rejected,
}

impl DisputeState {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeState::Open => "open",
            DisputeState::Upheld => "upheld",
            DisputeState::PartiallyUpheld => "partially_upheld",
            DisputeState::Rejected => "rejected",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            DisputeState::Open,
            DisputeState::Upheld,
            DisputeState::PartiallyUpheld,
            DisputeState::Rejected,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// One dispute of a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeDispute {
    /// The dispute contract.
    pub dispute_id: String,
    /// The amount the MO disputes, minor units.
    pub claimed_minor: i64,
    /// Where it stands.
    pub state: DisputeState,
    /// The amount reversed by its resolution, minor units (0 until resolved).
    pub upheld_minor: i64,
    /// The resolution contract, once resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution_id: Option<String>,
}

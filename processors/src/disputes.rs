//! What a dispute does to the charge it disputes, applied by template-check
//! when the dispute or its resolution gets its last partner signature:
//!
//! - a dispute (template version 2) opens: the charge lists it `open` and
//!   is `disputed`;
//! - a resolution (template `dispute-resolution`) closes it `upheld`,
//!   `partially_upheld` or `rejected` with the amount it reverses; the
//!   charge is `finalized` again once no dispute is open;
//! - a version-1 dispute agreed `upheld` is listed upheld at once.
//!
//! The charge's row is changed with compare-and-set, so two resolutions of
//! one charge racing on two partitions are decided one after the other, and
//! the reversals of a charge never add up to more than the charge
//! (`reversal_exceeds_charge`). Each change is an event of the charge
//! (`moneta/dispute-opened:<id>`, `moneta/dispute-resolved:<id>`): applying
//! it again changes nothing.

use moneta_domain::{ChargeDispute, Contract, DisputeState, EventLogEntry};
use moneta_runtime::{ProcessError, Rejection};
use moneta_state::cas::{self, Attempt};

use crate::contracts::PathContext;
use crate::rules::dispute::{resolved_state, within_charge};

/// What a complete dispute or resolution does to its charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeChange {
    /// The charge.
    pub charge_id: String,
    /// The dispute concerned.
    pub dispute_id: String,
    /// The resolution, if this closes the dispute.
    pub resolution_id: Option<String>,
    /// The amount disputed.
    pub claimed_minor: i64,
    /// Where the dispute goes.
    pub state: DisputeState,
    /// The amount reversed.
    pub upheld_minor: i64,
}

impl ChargeChange {
    /// The change `contract` makes to a charge once its partner signatures
    /// are complete, if it makes one.
    pub fn of(contract: &Contract) -> Option<Self> {
        let text = |field: &str| {
            contract
                .payload
                .get(field)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        let amount = contract
            .payload
            .get("amount_minor")
            .and_then(|v| v.as_i64())
            .unwrap_or_default();
        let charge_id = text("charge_contract_id");
        match (contract.contract_type.as_str(), contract.template_version) {
            ("dispute", 2..) => Some(Self {
                charge_id,
                dispute_id: contract.id.clone(),
                resolution_id: None,
                claimed_minor: amount,
                state: DisputeState::Open,
                upheld_minor: 0,
            }),
            ("dispute", _) if text("resolution") == "upheld" => Some(Self {
                charge_id,
                dispute_id: contract.id.clone(),
                resolution_id: Some(contract.id.clone()),
                claimed_minor: amount,
                state: DisputeState::Upheld,
                upheld_minor: amount,
            }),
            ("dispute_resolution", _) => Some(Self {
                charge_id,
                dispute_id: text("dispute_contract_id"),
                resolution_id: Some(contract.id.clone()),
                claimed_minor: 0,
                // Checked when the resolution was created; read again here.
                state: match text("outcome").as_str() {
                    "upheld" => DisputeState::Upheld,
                    "partially_upheld" => DisputeState::PartiallyUpheld,
                    _ => DisputeState::Rejected,
                },
                upheld_minor: amount,
            }),
            _ => None,
        }
    }

    /// The charge's event for this change.
    fn event_id(&self) -> String {
        match &self.resolution_id {
            None => format!("moneta/dispute-opened:{}", self.dispute_id),
            Some(resolution) => format!("moneta/dispute-resolved:{resolution}"),
        }
    }

    /// The charge after this change, or why it cannot be made.
    fn apply(&self, mut charge: Contract, at: i64) -> Result<Contract, Rejection> {
        let known = charge
            .disputes
            .iter()
            .position(|d| d.dispute_id == self.dispute_id);
        match (&self.resolution_id, known) {
            // Opening (version 2).
            (None, None) => charge.disputes.push(ChargeDispute {
                dispute_id: self.dispute_id.clone(),
                claimed_minor: self.claimed_minor,
                state: DisputeState::Open,
                upheld_minor: 0,
                resolution_id: None,
            }),
            (None, Some(_)) => return Ok(charge),
            // Closing a version-2 dispute.
            (Some(resolution), Some(at_index)) if resolution != &self.dispute_id => {
                let open = &charge.disputes[at_index];
                if open.state != DisputeState::Open {
                    return Err(Rejection::new(
                        "dispute_not_open",
                        format!(
                            "dispute {} is already {}",
                            self.dispute_id,
                            open.state.as_str()
                        ),
                    ));
                }
                let claimed = open.claimed_minor;
                if resolved_state(self.state.as_str(), self.upheld_minor, claimed)
                    != Some(self.state)
                {
                    return Err(Rejection::new(
                        "resolution_amount_mismatch",
                        format!(
                            "{} of a {claimed} dispute cannot be {}",
                            self.state.as_str(),
                            self.upheld_minor
                        ),
                    ));
                }
                within_charge(&charge, self.upheld_minor)?;
                let closed = &mut charge.disputes[at_index];
                closed.state = self.state;
                closed.upheld_minor = self.upheld_minor;
                closed.resolution_id = Some(resolution.clone());
            }
            (Some(_), None) if self.state == DisputeState::Upheld && self.claimed_minor > 0 => {
                // A version-1 dispute agreed upheld: listed closed at once.
                within_charge(&charge, self.upheld_minor)?;
                charge.disputes.push(ChargeDispute {
                    dispute_id: self.dispute_id.clone(),
                    claimed_minor: self.claimed_minor,
                    state: DisputeState::Upheld,
                    upheld_minor: self.upheld_minor,
                    resolution_id: self.resolution_id.clone(),
                });
            }
            _ => {
                return Err(Rejection::new(
                    "dispute_not_open",
                    format!(
                        "dispute {} of charge {} is not open",
                        self.dispute_id, charge.id
                    ),
                ));
            }
        }
        charge.version += 1;
        charge.event_log.push(EventLogEntry {
            event_id: self.event_id(),
            version: charge.version,
            kind: match self.resolution_id {
                None => "dispute_opened".into(),
                Some(_) => "dispute_resolved".into(),
            },
            at,
        });
        charge.status = charge.status_after_disputes();
        Ok(charge)
    }

    /// Makes this change to the charge's row (at `at`, Unix seconds) and
    /// returns the row; a change made before returns the row as it is.
    pub async fn make(
        &self,
        ctx: &PathContext,
        at: i64,
    ) -> Result<Result<Contract, Rejection>, ProcessError> {
        let event_id = self.event_id();
        cas::retry(&format!("contract {}", self.charge_id), || async {
            let Some(charge) = ctx.load_contract(&self.charge_id).await? else {
                return Ok::<_, ProcessError>(Attempt::Done(Err(Rejection::new(
                    "charge_not_found",
                    format!("no charge {}", self.charge_id),
                ))));
            };
            if charge.has_event(&event_id) {
                return Ok(Attempt::Done(Ok(charge)));
            }
            let expected = charge.version;
            let next = match self.apply(charge, at) {
                Ok(next) => next,
                Err(refusal) => return Ok(Attempt::Done(Err(refusal))),
            };
            Ok(
                match ctx.write_contract(&next, &event_id, expected).await? {
                    Attempt::Done(()) => Attempt::Done(Ok(next)),
                    Attempt::Lost => Attempt::Lost,
                },
            )
        })
        .await
    }

    /// The charge's row as it is now (to go to the contract changelog again
    /// when the dispute's event is replayed).
    pub async fn charge(&self, ctx: &PathContext) -> Result<Option<Contract>, ProcessError> {
        ctx.load_contract(&self.charge_id).await
    }
}

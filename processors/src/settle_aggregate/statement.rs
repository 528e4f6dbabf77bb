//! The record of a closing: a settlement (or adjustment) with its totals,
//! its split by the parties' agreement and Moneta's countersignature.

use base64::Engine;
use moneta_domain::SettlementAgreement;
use moneta_records::{MonetaSignature, Settlement, SettlementKind};
use moneta_runtime::{ProcessError, Rejection};
use moneta_settlement::split::{Shares, split};

use super::state::{Closing, KeyState, PeriodState, Settled};
use super::{SettleAggregate, rows};

impl SettleAggregate {
    /// Builds, splits and countersigns one settlement or adjustment.
    pub(super) async fn emit(
        &self,
        state: &KeyState,
        closing: Closing,
    ) -> Result<Settlement, ProcessError> {
        let base_id = |start: &str| {
            format!(
                "stl:{}:{}:{}:{start}",
                state.mo_id, state.publisher_id, state.currency
            )
        };
        let (slot, kind, adjusts, total, contracts, at_ms, id, settled) = match closing {
            Closing::Settlement(slot, _) => {
                let counted =
                    rows::contributions(self.ctx.store.as_ref(), &state.key, &slot.start).await?;
                let settled = slot
                    .closed
                    .as_ref()
                    .and_then(|c| c.settled.clone())
                    .unwrap_or_default();
                let own = counted.iter().map(|c| c.amount_minor).sum::<i64>();
                let total = own.saturating_add(settled.carried_in_minor);
                let contracts = counted.into_iter().map(|c| c.entry_id).collect();
                let at = slot.closed.as_ref().map_or(0, |c| c.at_ms);
                let id = base_id(&slot.start);
                (
                    slot,
                    SettlementKind::Settlement,
                    None,
                    total,
                    contracts,
                    at,
                    id,
                    settled,
                )
            }
            Closing::Adjustment(slot, contract, amount, at) => {
                let id = format!("{}:adj:{contract}", base_id(&slot.start));
                let adjusts = Some(base_id(&slot.start));
                (
                    slot,
                    SettlementKind::Adjustment,
                    adjusts,
                    amount,
                    vec![contract],
                    at,
                    id,
                    Settled::default(),
                )
            }
        };
        let agreement = self.agreement(state, &slot).await?;
        let none = moneta_settlement::split::Split {
            publisher_minor: 0,
            mo_minor: 0,
            moneta_fee_minor: 0,
        };
        let (agreement_id, parts, unallocated) = match &agreement {
            // Below the minimum: the whole total is carried, nothing paid.
            Some(a) if settled.carried_forward => (Some(a.id.clone()), none, 0),
            Some(a) => {
                let shares = Shares {
                    publisher_bps: a.publisher_bps,
                    mo_bps: a.mo_bps,
                    moneta_fee_bps: a.moneta_fee_bps,
                };
                let parts = split(total, &shares)
                    .map_err(|e| Rejection::new("invalid_agreement", e.to_string()))?;
                (Some(a.id.clone()), parts, 0)
            }
            None => (None, none, total),
        };
        let base = |start: String| base_id(&start);
        let mut settlement = Settlement {
            settlement_id: id.clone(),
            kind,
            adjusts,
            mo_id: state.mo_id.clone(),
            publisher_id: state.publisher_id.clone(),
            currency: state.currency.clone(),
            period_start: slot.start.clone(),
            period_end: slot.end.clone(),
            agreement_id,
            total_minor: total,
            publisher_minor: parts.publisher_minor,
            mo_minor: parts.mo_minor,
            moneta_fee_minor: parts.moneta_fee_minor,
            unallocated_minor: unallocated,
            contracts,
            closed_at_ms: at_ms,
            signature: MonetaSignature {
                key_id: String::new(),
                signature: String::new(),
            },
            carried_in_minor: settled.carried_in_minor,
            carried_from: settled.carried_from.map(base),
            carried_forward_minor: if settled.carried_forward { total } else { 0 },
        };
        settlement.signature = self.countersign(&settlement)?;
        tracing::info!(settlement_id = %id, total, "settlement emitted");
        Ok(settlement)
    }

    /// The agreement between the parties in this currency in force at the period's start.
    pub(super) async fn agreement(
        &self,
        state: &KeyState,
        slot: &PeriodState,
    ) -> Result<Option<SettlementAgreement>, ProcessError> {
        let period_start_s = crate::rules::parse_date(&slot.start).unwrap_or_default() * 86_400;
        let found = self
            .ctx
            .registry
            .find::<SettlementAgreement>(SettlementAgreement::INDEX_MO_ID, &state.mo_id)
            .await?;
        Ok(found
            .into_iter()
            .map(|v| v.entity)
            .filter(|a| {
                a.publisher_id == state.publisher_id
                    && a.currency == state.currency
                    && a.effective_from <= period_start_s
            })
            .max_by(|a, b| (a.effective_from, &a.id).cmp(&(b.effective_from, &b.id))))
    }

    /// Moneta's signature over the settlement's canonical JSON without `signature`.
    fn countersign(&self, settlement: &Settlement) -> Result<MonetaSignature, ProcessError> {
        let input = signing_input(settlement)?;
        let (key_id, signature) = self.keys.sign(&input);
        Ok(MonetaSignature {
            key_id,
            signature: base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
        })
    }
}

/// The bytes Moneta signs: RFC 8785 canonical JSON of the settlement
/// without its `signature` member.
pub fn signing_input(settlement: &Settlement) -> Result<Vec<u8>, Rejection> {
    let mut document = serde_json::to_value(settlement)
        .map_err(|e| Rejection::new("unencodable", e.to_string()))?;
    if let Some(object) = document.as_object_mut() {
        object.remove("signature");
        // Left out at their defaults, so settlements signed before
        // minimums existed verify the same.
        for (member, default) in [
            ("carried_in_minor", serde_json::json!(0)),
            ("carried_from", serde_json::Value::Null),
            ("carried_forward_minor", serde_json::json!(0)),
        ] {
            if object.get(member) == Some(&default) {
                object.remove(member);
            }
        }
    }
    moneta_signing::jcs::canonicalize(&document)
        .map_err(|e| Rejection::new("unencodable", e.to_string()))
}

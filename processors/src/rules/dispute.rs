//! Disputes: about an existing finalized charge between the same parties,
//! inside the dispute window, with evidence, for no more than was charged.

use moneta_domain::{Contract, ContractStatus, ContractTerms};

use super::{RuleResult, RulesConfig, int, known_currency, parse_rfc3339, text};
use crate::contracts::PathContext;
use moneta_runtime::{ProcessError, Rejection};

/// Checks a dispute.
pub async fn check(rules: &RulesConfig, ctx: &PathContext, terms: &ContractTerms) -> RuleResult {
    if text(terms, "details").trim().is_empty() {
        return Ok(Err(Rejection::new(
            "evidence_required",
            "a dispute needs its evidence in `details`",
        )));
    }
    if let Err(refusal) = known_currency(text(terms, "currency")) {
        return Ok(Err(refusal));
    }
    let charge_id = text(terms, "charge_contract_id");
    let charge: Option<Contract> = match ctx.store.get_contract(charge_id).await? {
        Some(stored) => Some(
            serde_json::from_slice(&stored.body)
                .map_err(|e| ProcessError::corrupt(format!("stored contract {charge_id}: {e}")))?,
        ),
        None => None,
    };
    let Some(charge) = charge.filter(|c| {
        c.contract_type == "subscription_charge"
            && c.mo_id == terms.mo_id
            && c.publisher_id == terms.publisher_id
    }) else {
        return Ok(Err(Rejection::new(
            "charge_not_found",
            format!("no subscription charge {charge_id} between these parties"),
        )));
    };
    if charge.status != ContractStatus::Finalized {
        return Ok(Err(Rejection::new(
            "charge_not_finalized",
            format!("charge {charge_id} is {}", charge.status.as_str()),
        )));
    }
    let charge_currency = charge
        .payload
        .get("currency")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    if charge_currency != text(terms, "currency") {
        return Ok(Err(Rejection::new(
            "currency_mismatch",
            format!("the charge is in {charge_currency}"),
        )));
    }
    let charged = charge
        .payload
        .get("amount_minor")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let disputed = int(terms, "amount_minor");
    if disputed > charged {
        return Ok(Err(Rejection::new(
            "dispute_amount_exceeds_charge",
            format!("disputes {disputed} of a {charged} charge"),
        )));
    }
    let charged_at = charge
        .payload
        .get("charged_at")
        .and_then(|v| v.as_str())
        .and_then(parse_rfc3339);
    let opened_at = parse_rfc3339(text(terms, "opened_at"));
    match (charged_at, opened_at) {
        (Some(charged_at), Some(opened_at)) if opened_at < charged_at => Ok(Err(Rejection::new(
            "invalid_period",
            "the dispute is opened before the charge",
        ))),
        (Some(charged_at), Some(opened_at))
            if opened_at - charged_at > rules.dispute_window_days * 86_400 =>
        {
            Ok(Err(Rejection::new(
                "dispute_window_expired",
                format!(
                    "disputes must be opened within {} days of the charge",
                    rules.dispute_window_days
                ),
            )))
        }
        (Some(_), Some(_)) => Ok(Ok(())),
        _ => Ok(Err(Rejection::new(
            "invalid_period",
            "opened_at or the charge's charged_at is not an RFC 3339 timestamp",
        ))),
    }
}

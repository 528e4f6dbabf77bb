//! Disputes: about an existing finalized charge between the same parties,
//! inside the dispute window, with evidence, for no more than is left of
//! the charge after earlier reversals. Resolutions (template
//! `dispute-resolution`): of an open dispute of that charge, for an amount
//! its outcome allows, never reversing more than the charge.

use moneta_domain::{Contract, ContractStatus, ContractTerms, DisputeState};

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
    let Some(charge) = load(ctx, charge_id, "subscription_charge", terms).await? else {
        return Ok(Err(Rejection::new(
            "charge_not_found",
            format!("no subscription charge {charge_id} between these parties"),
        )));
    };
    if !matches!(
        charge.status,
        ContractStatus::Finalized | ContractStatus::Disputed
    ) {
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
    let left = charged - charge.reversed_minor();
    if disputed > left {
        return Ok(Err(Rejection::new(
            "dispute_amount_exceeds_charge",
            format!(
                "disputes {disputed} of a {charged} charge of which {left} is not reversed yet"
            ),
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

/// The contract `id` if it is of `contract_type` between the parties of `terms`.
async fn load(
    ctx: &PathContext,
    id: &str,
    contract_type: &str,
    terms: &ContractTerms,
) -> Result<Option<Contract>, ProcessError> {
    Ok(ctx.load_contract(id).await?.filter(|c| {
        c.contract_type == contract_type
            && c.mo_id == terms.mo_id
            && c.publisher_id == terms.publisher_id
    }))
}

/// The amount a resolution's `outcome` reverses of a `claimed` dispute, if
/// `amount` fits it: all of it, part of it, or nothing.
pub fn resolved_state(outcome: &str, amount: i64, claimed: i64) -> Option<DisputeState> {
    match outcome {
        "upheld" if amount == claimed => Some(DisputeState::Upheld),
        "partially_upheld" if amount > 0 && amount < claimed => Some(DisputeState::PartiallyUpheld),
        "rejected" if amount == 0 => Some(DisputeState::Rejected),
        _ => None,
    }
}

/// Checks a dispute resolution: of an open dispute (version 2, opened and
/// countersigned) of this charge, in its currency, for an amount its
/// outcome allows, within what is left of the charge.
pub async fn check_resolution(ctx: &PathContext, terms: &ContractTerms) -> RuleResult {
    let dispute_id = text(terms, "dispute_contract_id");
    let Some(dispute) = load(ctx, dispute_id, "dispute", terms)
        .await?
        .filter(|d| d.template_version >= 2)
    else {
        return Ok(Err(Rejection::new(
            "dispute_not_found",
            format!("no dispute {dispute_id} (template dispute version 2) between these parties"),
        )));
    };
    let of_dispute = |field: &str| dispute.payload.get(field).cloned().unwrap_or_default();
    let charge_id = text(terms, "charge_contract_id");
    if of_dispute("charge_contract_id") != charge_id {
        return Ok(Err(Rejection::new(
            "dispute_not_found",
            format!("dispute {dispute_id} is not about charge {charge_id}"),
        )));
    }
    if of_dispute("currency") != text(terms, "currency") {
        return Ok(Err(Rejection::new(
            "currency_mismatch",
            format!("dispute {dispute_id} is in {}", of_dispute("currency")),
        )));
    }
    let Some(charge) = load(ctx, charge_id, "subscription_charge", terms).await? else {
        return Ok(Err(Rejection::new(
            "charge_not_found",
            format!("no subscription charge {charge_id} between these parties"),
        )));
    };
    let open = charge
        .dispute(dispute_id)
        .is_some_and(|d| d.state == DisputeState::Open);
    if dispute.status != ContractStatus::Finalized || !open {
        return Ok(Err(Rejection::new(
            "dispute_not_open",
            format!("dispute {dispute_id} is not open (not countersigned yet, or resolved)"),
        )));
    }
    let claimed = of_dispute("amount_minor").as_i64().unwrap_or_default();
    let amount = int(terms, "amount_minor");
    if resolved_state(text(terms, "outcome"), amount, claimed).is_none() {
        return Ok(Err(Rejection::new(
            "resolution_amount_mismatch",
            format!(
                "{} of a {claimed} dispute cannot be {amount} (upheld: all of it, partially_upheld: more than 0 and less, rejected: 0)",
                text(terms, "outcome")
            ),
        )));
    }
    Ok(within_charge(&charge, amount))
}

/// Refuses `amount` more of reversal on `charge` past the charge itself.
pub fn within_charge(charge: &Contract, amount: i64) -> Result<(), Rejection> {
    let charged = charge
        .payload
        .get("amount_minor")
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let reversed = charge.reversed_minor();
    if reversed + amount > charged {
        return Err(Rejection::new(
            "reversal_exceeds_charge",
            format!(
                "charge {} of {charged} has {reversed} reversed already; {amount} more would exceed it",
                charge.id
            ),
        ));
    }
    Ok(())
}

//! Subscription charges: amount, currency, period, and the mPass tier cap.

use moneta_domain::{ContractTerms, MPass, MPassStatus};

use super::{RuleResult, RulesConfig, int, known_currency, ordered_period, text};
use crate::contracts::PathContext;
use moneta_runtime::Rejection;

/// Checks a subscription charge.
pub async fn check(rules: &RulesConfig, ctx: &PathContext, terms: &ContractTerms) -> RuleResult {
    let amount = int(terms, "amount_minor");
    if amount < rules.min_charge_minor {
        return Ok(Err(Rejection::new(
            "amount_out_of_range",
            format!(
                "amount_minor {amount} is below the minimum charge {}",
                rules.min_charge_minor
            ),
        )));
    }
    if let Err(refusal) = known_currency(text(terms, "currency")) {
        return Ok(Err(refusal));
    }
    if let Err(refusal) = ordered_period(text(terms, "period_start"), text(terms, "period_end")) {
        return Ok(Err(refusal));
    }
    let Some(mpass_id) = &terms.mpass_id else {
        return Ok(Ok(()));
    };
    let mpass = ctx.registry.get::<MPass>(mpass_id).await?.map(|v| v.entity);
    let Some(mpass) = mpass.filter(|m| m.mo_id == terms.mo_id) else {
        return Ok(Err(Rejection::new(
            "mpass_not_found",
            format!("mPass {mpass_id} is not an mPass of {}", terms.mo_id),
        )));
    };
    let number = text(terms, "mpass_number");
    if !number.is_empty() && number != mpass.mpass_number {
        return Ok(Err(Rejection::new(
            "mpass_mismatch",
            format!("mpass_number {number} is not mPass {mpass_id}'s number"),
        )));
    }
    if mpass.status != MPassStatus::Active {
        return Ok(Err(Rejection::new(
            "mpass_inactive",
            format!("mPass {mpass_id} is {}", mpass.status.as_str()),
        )));
    }
    match rules.max_charge_minor_by_tier.get(&mpass.tier) {
        Some(cap) if amount > *cap => Ok(Err(Rejection::new(
            "tier_limit_exceeded",
            format!(
                "amount_minor {amount} exceeds the {} tier's cap of {cap}",
                mpass.tier
            ),
        ))),
        _ => Ok(Ok(())),
    }
}

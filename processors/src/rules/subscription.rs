//! Subscription charges: amount, currency, period, a `charged_at` no later
//! than it can be, and the mPass (its MO, status, expiry, billing account,
//! tier cap).

use moneta_domain::{BillingAccount, BillingAccountStatus, ContractTerms, MPass, MPassStatus};

use super::{RuleResult, RulesConfig, int, known_currency, ordered_period, parse_rfc3339, text};
use crate::contracts::PathContext;
use moneta_runtime::Rejection;

/// Checks a subscription charge that reached Moneta at `at_s`.
pub async fn check(
    rules: &RulesConfig,
    ctx: &PathContext,
    terms: &ContractTerms,
    at_s: i64,
) -> RuleResult {
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
    let charged_at = text(terms, "charged_at");
    let Some(charged_s) = parse_rfc3339(charged_at) else {
        return Ok(Err(Rejection::new(
            "invalid_charged_at",
            format!("charged_at {charged_at:?} is not an RFC 3339 timestamp"),
        )));
    };
    if charged_s > at_s + rules.max_charge_ahead_s {
        return Ok(Err(Rejection::new(
            "charged_in_future",
            format!(
                "charged_at {charged_at} is {} s after the charge reached Moneta (at most {} s allowed)",
                charged_s - at_s,
                rules.max_charge_ahead_s
            ),
        )));
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
    if mpass.expires_at > 0 && charged_s >= mpass.expires_at {
        return Ok(Err(Rejection::new(
            "mpass_expired",
            format!("mPass {mpass_id} expired before charged_at {charged_at}"),
        )));
    }
    if let Some(account_id) = &mpass.billing_account_id {
        let account = ctx
            .registry
            .get::<BillingAccount>(account_id)
            .await?
            .map(|v| v.entity);
        match account {
            Some(account) if account.status == BillingAccountStatus::Active => {}
            Some(account) => {
                return Ok(Err(Rejection::new(
                    "billing_account_inactive",
                    format!(
                        "billing account {account_id} of mPass {mpass_id} is {}",
                        account.status.as_str()
                    ),
                )));
            }
            None => {
                return Ok(Err(Rejection::new(
                    "billing_account_inactive",
                    format!("billing account {account_id} of mPass {mpass_id} does not exist"),
                )));
            }
        }
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

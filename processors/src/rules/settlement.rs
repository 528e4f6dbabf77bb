//! Settlements: minimum amount, authorized parties (a settlement agreement
//! between them in this currency), and parts that add up to the total.

use moneta_domain::{ContractTerms, SettlementAgreement};

use super::{RuleResult, RulesConfig, int, known_currency, ordered_period, text};
use crate::contracts::PathContext;
use moneta_runtime::Rejection;

/// Checks a settlement.
pub async fn check(rules: &RulesConfig, ctx: &PathContext, terms: &ContractTerms) -> RuleResult {
    let total = int(terms, "total_minor");
    if total < rules.min_settlement_minor {
        return Ok(Err(Rejection::new(
            "below_minimum_settlement",
            format!(
                "total_minor {total} is below the minimum settlement {}",
                rules.min_settlement_minor
            ),
        )));
    }
    let currency = text(terms, "currency");
    if let Err(refusal) = known_currency(currency) {
        return Ok(Err(refusal));
    }
    if let Err(refusal) = ordered_period(text(terms, "period_start"), text(terms, "period_end")) {
        return Ok(Err(refusal));
    }
    let parts = ["publisher_minor", "mo_minor", "moneta_fee_minor"]
        .iter()
        .try_fold(0i64, |sum, field| sum.checked_add(int(terms, field)));
    if parts != Some(total) {
        return Ok(Err(Rejection::new(
            "split_mismatch",
            "publisher_minor + mo_minor + moneta_fee_minor must equal total_minor",
        )));
    }
    let agreement_id = text(terms, "agreement_id");
    let agreement = ctx
        .registry
        .get::<SettlementAgreement>(agreement_id)
        .await?
        .map(|v| v.entity);
    match agreement {
        Some(a) if a.mo_id == terms.mo_id && a.publisher_id == terms.publisher_id => {
            if a.currency == currency {
                Ok(Ok(()))
            } else {
                Ok(Err(Rejection::new(
                    "currency_mismatch",
                    format!("agreement {agreement_id} settles in {}", a.currency),
                )))
            }
        }
        _ => Ok(Err(Rejection::new(
            "unauthorized_party",
            format!("no settlement agreement {agreement_id} between these parties"),
        ))),
    }
}

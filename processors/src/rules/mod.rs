//! The pipelines' business rules (ADR-001: each domain keeps its own), run
//! by template-check when a contract is created. Each rule refuses with a
//! stable code listed in `docs/errors.md`.

mod currency;
pub mod dispute;
mod reconciliation;
mod settlement;
mod statement;
mod subscription;
mod time;

use std::collections::BTreeMap;

use moneta_domain::ContractTerms;
use moneta_runtime::ProcessError;
use serde::{Deserialize, Serialize};

use crate::contracts::PathContext;
use moneta_runtime::Rejection;

pub use currency::is_iso_4217;
pub use time::{format_rfc3339_ms, parse_date, parse_rfc3339};

/// `[rules]`: the numbers behind the business rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RulesConfig {
    /// Smallest subscription charge, minor units.
    pub min_charge_minor: i64,
    /// Largest subscription charge per mPass tier, minor units; a tier not
    /// listed has no cap.
    pub max_charge_minor_by_tier: BTreeMap<String, i64>,
    /// Days after a charge in which it may be disputed.
    pub dispute_window_days: i64,
    /// Smallest settlement total, minor units.
    pub min_settlement_minor: i64,
    /// How far past the moment it reaches Moneta (its record's time) a
    /// charge's `charged_at` may be, seconds: the clock skew allowed.
    pub max_charge_ahead_s: i64,
    /// Seconds after its creation within which every required party must
    /// sign a contract whose template sets no `expires_after_s`.
    pub signature_expiry_s: i64,
    /// How often, in seconds of stream time, template-check looks for
    /// contracts whose signing deadline passed.
    pub expiry_sweep_s: i64,
    /// Seconds past a deadline before a contract is expired: a signature
    /// made in time but still on its way (another partition lagging) may
    /// land in that window.
    pub expiry_grace_s: i64,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            min_charge_minor: 1,
            max_charge_minor_by_tier: BTreeMap::from([
                ("Standard".to_owned(), 50_000),
                ("Gold".to_owned(), 200_000),
                ("Platinum".to_owned(), 1_000_000),
            ]),
            dispute_window_days: 120,
            min_settlement_minor: 100,
            max_charge_ahead_s: 300,
            signature_expiry_s: 7 * 86_400,
            expiry_sweep_s: 60,
            expiry_grace_s: 300,
        }
    }
}

/// The result of a rule: `Ok(Err(_))` refuses the event, `Err(_)` is an
/// infrastructure failure to retry.
pub type RuleResult = Result<Result<(), Rejection>, ProcessError>;

/// Runs the rules of `terms.contract_type` (types without rules pass);
/// `at_s` is when the creating event reached Moneta (its record's time).
pub async fn check(
    rules: &RulesConfig,
    ctx: &PathContext,
    terms: &ContractTerms,
    at_s: i64,
) -> RuleResult {
    match terms.contract_type.as_str() {
        "subscription_charge" => subscription::check(rules, ctx, terms, at_s).await,
        "dispute" => dispute::check(rules, ctx, terms).await,
        "dispute_resolution" => dispute::check_resolution(ctx, terms).await,
        "settlement" => settlement::check(rules, ctx, terms).await,
        "reconciliation" => Ok(reconciliation::check(terms)),
        "settlement_statement" => Ok(statement::check(terms)),
        _ => Ok(Ok(())),
    }
}

/// Reads a string attribute.
fn text<'a>(terms: &'a ContractTerms, field: &str) -> &'a str {
    terms
        .terms
        .get(field)
        .and_then(|v| v.as_str())
        .unwrap_or("")
}

/// Reads an integer attribute.
fn int(terms: &ContractTerms, field: &str) -> i64 {
    terms.terms.get(field).and_then(|v| v.as_i64()).unwrap_or(0)
}

/// Refuses unless `currency` is an active ISO 4217 code.
fn known_currency(currency: &str) -> Result<(), Rejection> {
    if is_iso_4217(currency) {
        Ok(())
    } else {
        Err(Rejection::new(
            "unknown_currency",
            format!("{currency} is not an ISO 4217 currency code"),
        ))
    }
}

/// Refuses unless `start <= end` (both `YYYY-MM-DD`).
fn ordered_period(start: &str, end: &str) -> Result<(), Rejection> {
    match (parse_date(start), parse_date(end)) {
        (Some(s), Some(e)) if s <= e => Ok(()),
        _ => Err(Rejection::new(
            "invalid_period",
            format!("period {start}..{end} is not a valid date range"),
        )),
    }
}

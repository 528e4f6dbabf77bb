//! Reconciliations: a valid period and known currencies in every record.

use moneta_domain::ContractTerms;

use super::{known_currency, ordered_period, text};
use moneta_runtime::Rejection;

/// Checks a reconciliation submission.
pub fn check(terms: &ContractTerms) -> Result<(), Rejection> {
    ordered_period(text(terms, "period_start"), text(terms, "period_end"))?;
    let records = terms
        .terms
        .get("records")
        .and_then(|r| r.as_array())
        .map(Vec::as_slice)
        .unwrap_or_default();
    for record in records {
        let currency = record
            .get("currency")
            .and_then(|c| c.as_str())
            .unwrap_or("");
        known_currency(currency)?;
    }
    Ok(())
}

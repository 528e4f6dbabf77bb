//! Settlement statements: a party's answer names a settlement of its own
//! MO–publisher pair.

use moneta_domain::ContractTerms;

use super::text;
use moneta_runtime::Rejection;

/// Checks a party's answer to a settlement statement.
pub fn check(terms: &ContractTerms) -> Result<(), Rejection> {
    let settlement_id = text(terms, "settlement_id");
    let ours = format!("stl:{}:{}:", terms.mo_id, terms.publisher_id);
    if !settlement_id.starts_with(&ours) {
        return Err(Rejection::new(
            "statement_of_other_parties",
            format!(
                "settlement {settlement_id} is not one of {} and {}",
                terms.mo_id, terms.publisher_id
            ),
        ));
    }
    Ok(())
}

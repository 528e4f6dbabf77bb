//! `ledger`: turns finalized contracts into ledger entries, keyed by the
//! settlement aggregation key `mo|publisher|currency` (a repartition: every
//! entry of one key reaches settle-aggregate in one partition, in order).
//!
//! - A finalized subscription charge is a `CHARGE` of `+amount_minor` at its
//!   `charged_at`.
//! - A finalized dispute (template version 1) with `resolution: upheld` is
//!   a `REVERSAL` of `-amount_minor` at its `opened_at`; other resolutions
//!   move no money.
//! - A finalized dispute resolution `upheld` or `partially_upheld` is a
//!   `REVERSAL` of `-amount_minor` at its `resolved_at`; `rejected` moves
//!   no money. (A version-2 dispute itself moves none: it only opens.)
//! - Other contract types produce nothing.
//!
//! Each entry's id is its contract id, so a replay produces the same entries.

use moneta_records::{Contract, ContractStatus, LedgerEntry, LedgerKind};
use moneta_runtime::{Emit, Emitted, ProcessError, Record, Rejection, Stage};
use serde_json::Value;

use crate::contracts::ContractTopics;
use crate::rules::parse_rfc3339;

/// The stage name.
pub const STAGE: &str = "ledger";

/// The aggregation key of an MO, a publisher and a currency.
pub fn aggregation_key(mo_id: &str, publisher_id: &str, currency: &str) -> String {
    format!("{mo_id}|{publisher_id}|{currency}")
}

/// The ledger processor; stateless.
#[derive(Clone)]
pub struct Ledger {
    topic: String,
}

impl Ledger {
    /// A ledger processor writing to the path's ledger topic.
    pub fn new(topics: &ContractTopics) -> Self {
        Self {
            topic: topics.ledger.clone(),
        }
    }
}

/// The ledger entry a finalized contract makes, if any.
pub fn entry(contract: &Contract) -> Result<Option<LedgerEntry>, Rejection> {
    if contract.status != ContractStatus::Finalized {
        return Ok(None);
    }
    let terms: Value = serde_json::from_str(&contract.terms.terms_json)
        .map_err(|e| Rejection::new("malformed_terms", e.to_string()))?;
    let text = |field: &str| terms.get(field).and_then(Value::as_str).unwrap_or_default();
    let amount = terms
        .get("amount_minor")
        .and_then(Value::as_i64)
        .unwrap_or_default();
    let time = |field: &str| {
        parse_rfc3339(text(field))
            .map(|s| s * 1000)
            .ok_or_else(|| Rejection::new("invalid_period", format!("{field} is not RFC 3339")))
    };
    let (kind, amount_minor, event_time_ms, charge) = match contract.terms.contract_type.as_str() {
        "subscription_charge" => (LedgerKind::Charge, amount, time("charged_at")?, None),
        "dispute_resolution"
            if matches!(text("outcome"), "upheld" | "partially_upheld") && amount > 0 =>
        {
            (
                LedgerKind::Reversal,
                -amount,
                time("resolved_at")?,
                Some(text("charge_contract_id").to_owned()),
            )
        }
        "dispute" if text("resolution") == "upheld" => (
            LedgerKind::Reversal,
            -amount,
            time("opened_at")?,
            Some(text("charge_contract_id").to_owned()),
        ),
        _ => return Ok(None),
    };
    Ok(Some(LedgerEntry {
        kind,
        entry_id: contract.contract_id.clone(),
        mo_id: contract.terms.mo_id.clone(),
        publisher_id: contract.terms.publisher_id.clone(),
        currency: text("currency").to_owned(),
        amount_minor,
        event_time_ms,
        charge_contract_id: charge,
    }))
}

impl Stage for Ledger {
    type Input = Contract;

    async fn process(&self, contract: Contract, _record: &Record) -> Result<Emitted, ProcessError> {
        let Some(entry) = entry(&contract)? else {
            return Ok(Emitted::default());
        };
        let key = aggregation_key(&entry.mo_id, &entry.publisher_id, &entry.currency);
        Ok(Emitted::of(vec![Emit::new(
            self.topic.as_str(),
            key,
            entry,
        )]))
    }
}

//! `ledger`: turns finalized contracts into ledger entries, keyed by the
//! settlement aggregation key `mo|publisher|currency` (a repartition: every
//! entry of one key reaches settle-aggregate in one partition, in order).
//!
//! - A finalized subscription charge is a `CHARGE` of `+amount_minor` at its
//!   `charged_at`.
//! - A finalized dispute with `resolution: upheld` is a `REVERSAL` of
//!   `-amount_minor` at its `opened_at`; other resolutions move no money.
//! - Other contract types produce nothing.
//!
//! Each entry's id is its contract id, so a replay produces the same entries.

use std::future::Future;

use moneta_avro::{Contract, ContractStatus, LedgerEntry, LedgerKind, SchemaName};
use moneta_runtime::{Outcome, ProcessError, Record, Rejection};
use serde_json::Value;

use crate::contracts::{AvroStage, PathContext, outcome};
use crate::rules::parse_rfc3339;

/// The stage name.
pub const STAGE: &str = "ledger";

/// The aggregation key of an MO, a publisher and a currency.
pub fn aggregation_key(mo_id: &str, publisher_id: &str, currency: &str) -> String {
    format!("{mo_id}|{publisher_id}|{currency}")
}

/// The ledger processor.
#[derive(Clone)]
pub struct Ledger {
    ctx: PathContext,
}

impl Ledger {
    /// A ledger processor in `ctx`.
    pub fn new(ctx: PathContext) -> Self {
        Self { ctx }
    }

    async fn run(&self, contract: Contract) -> Result<Outcome, ProcessError> {
        let Some(entry) = entry(&contract)? else {
            return Ok(Outcome::default());
        };
        let key = aggregation_key(&entry.mo_id, &entry.publisher_id, &entry.currency);
        let output = self
            .ctx
            .output(
                &self.ctx.topics.ledger,
                SchemaName::LedgerEntry,
                &key,
                &entry,
            )
            .await?;
        Ok(outcome(output))
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

impl AvroStage for Ledger {
    type Value = Contract;
    const NAME: &'static str = STAGE;
    const SCHEMA: SchemaName = SchemaName::Contract;

    fn context(&self) -> &PathContext {
        &self.ctx
    }

    fn handle(
        &self,
        value: Contract,
        _record: &Record,
    ) -> impl Future<Output = Result<Outcome, ProcessError>> + Send {
        self.run(value)
    }
}

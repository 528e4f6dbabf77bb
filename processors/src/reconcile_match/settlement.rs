//! Submitted settlements compared with the ones Moneta computed.
//!
//! A party may submit its own settlement of a period (a `settlement`
//! contract, finalized). reconcile-match keeps, per MO, publisher,
//! currency and period start, Moneta's settlement and adjustments (read
//! from the settlements topic) and the submissions; once both sides are
//! there it compares them: the contracts each counts (Moneta's amounts
//! from the ledger, by [`moneta_settlement::reconcile`]) and the totals,
//! Moneta's being its own contracts plus the adjustments known then (a
//! balance carried in from a below-minimum period is not the period's).
//! Equal is `AGREED`; anything else a `DISCREPANCY` whose lines name the
//! contracts. A submission before Moneta's settlement waits for it. The
//! record that made a comparison emits it again if processed again.

use std::collections::BTreeMap;

use moneta_records::{
    ComparisonLine, ComparisonOutcome, Contract, LineOutcome, Settlement, SettlementComparison,
    SettlementKind,
};
use moneta_runtime::{ProcessError, Record, Rejection};
use moneta_settlement::reconcile;
use moneta_state::StateStore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::view;

/// Moneta's side: one settlement or adjustment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    /// The contracts it counts.
    pub contracts: Vec<String>,
    /// Its total without a balance carried in.
    pub total_minor: i64,
    /// The period's last day.
    pub period_end: String,
}

/// A party's side: one submitted settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submitted {
    /// The period's last day, as submitted.
    pub period_end: String,
    /// Its total.
    pub total_minor: i64,
    /// The contracts it lists (`None`: it lists none, only totals compare).
    pub contracts: Option<Vec<reconcile::Record>>,
}

/// A comparison made, and the record that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compared {
    /// The comparison.
    pub comparison: SettlementComparison,
    /// `topic/partition/offset` of the record that made it.
    pub by: String,
}

/// reconcile-match's row of one settlement period of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodRow {
    /// Moneta's settlement of the period.
    pub settlement: Option<Computed>,
    /// Moneta's adjustments of it, by id.
    pub adjustments: BTreeMap<String, Computed>,
    /// Submissions waiting for Moneta's settlement, by contract id.
    pub pending: BTreeMap<String, Submitted>,
    /// Comparisons made, by submitted contract id.
    pub compared: BTreeMap<String, Compared>,
}

/// The id of Moneta's settlement of a key's period.
pub fn settlement_id(mo: &str, publisher: &str, currency: &str, start: &str) -> String {
    format!("stl:{mo}:{publisher}:{currency}:{start}")
}

fn row_key(settlement_id: &str) -> String {
    format!("settlement|{settlement_id}")
}

fn position(record: &Record) -> String {
    format!("{}/{}/{}", record.topic, record.partition, record.offset)
}

/// A settlement or adjustment Moneta computed: kept; the submissions that
/// waited for it are compared now. Returns the comparisons it made.
pub async fn computed(
    store: &dyn StateStore,
    s: &Settlement,
    record: &Record,
) -> Result<Vec<SettlementComparison>, ProcessError> {
    let base = s.adjusts.clone().unwrap_or_else(|| s.settlement_id.clone());
    let key = row_key(&base);
    let here = position(record);
    let side = &Computed {
        contracts: s.contracts.clone(),
        total_minor: s.total_minor.saturating_sub(s.carried_in_minor),
        period_end: s.period_end.clone(),
    };
    let header = &Header {
        mo_id: s.mo_id.clone(),
        publisher_id: s.publisher_id.clone(),
        currency: s.currency.clone(),
        period_start: s.period_start.clone(),
    };
    let (base, here) = (&base, &here);
    change(store, &key, |mut row| async move {
        match s.kind {
            SettlementKind::Settlement if row.settlement.is_none() => {
                row.settlement = Some(side.clone());
            }
            SettlementKind::Adjustment => {
                row.adjustments
                    .entry(s.settlement_id.clone())
                    .or_insert_with(|| side.clone());
            }
            SettlementKind::Settlement => {}
        }
        let waiting = std::mem::take(&mut row.pending);
        if row.settlement.is_none() {
            row.pending = waiting;
        } else {
            for (contract_id, submitted) in waiting {
                let comparison =
                    compare(store, header, base, &contract_id, &submitted, &row).await?;
                let by = here.clone();
                row.compared
                    .insert(contract_id, Compared { comparison, by });
            }
        }
        let made = row
            .compared
            .values()
            .filter(|c| &c.by == here)
            .map(|c| c.comparison.clone())
            .collect();
        Ok((row, made))
    })
    .await
}

/// A settlement a party submitted (finalized): compared with Moneta's if
/// it is there, else kept until it comes. Returns the comparison made (or
/// made before, when the contract is processed again).
pub async fn submitted(
    store: &dyn StateStore,
    contract: &Contract,
    record: &Record,
) -> Result<Option<SettlementComparison>, ProcessError> {
    let terms = super::terms_of(&contract.terms.terms_json)?;
    let text = |f: &str| super::text_of(&terms, f);
    let currency = text("currency");
    let contracts = terms
        .get("contracts")
        .cloned()
        .map(serde_json::from_value::<Vec<Line>>)
        .transpose()
        .map_err(|e| Rejection::new("malformed_terms", e.to_string()))?
        .map(|lines| {
            lines
                .into_iter()
                .map(|l| reconcile::Record {
                    contract_id: l.contract_id,
                    amount_minor: l.amount_minor,
                    currency: currency.clone(),
                })
                .collect()
        });
    let submission = &Submitted {
        period_end: text("period_end"),
        total_minor: terms
            .get("total_minor")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
        contracts,
    };
    let (mo, publisher) = (&contract.terms.mo_id, &contract.terms.publisher_id);
    let header = &Header {
        mo_id: mo.clone(),
        publisher_id: publisher.clone(),
        currency: currency.clone(),
        period_start: text("period_start"),
    };
    let base = &settlement_id(mo, publisher, &currency, &header.period_start);
    let id = &contract.contract_id;
    let here = &position(record);
    change(store, &row_key(base), |mut row| async move {
        if let Some(done) = row.compared.get(id) {
            let made = Some(done.comparison.clone());
            return Ok((row, made));
        }
        if row.settlement.is_none() {
            row.pending.insert(id.clone(), submission.clone());
            return Ok((row, None));
        }
        let comparison = compare(store, header, base, id, submission, &row).await?;
        let by = here.clone();
        let compared = Compared {
            comparison: comparison.clone(),
            by,
        };
        row.compared.insert(id.clone(), compared);
        Ok((row, Some(comparison)))
    })
    .await
}

/// One line of a submitted settlement's `contracts`.
#[derive(Deserialize)]
struct Line {
    contract_id: String,
    amount_minor: i64,
}

/// Reads `key`'s row, lets `decide` change it (and say what it made),
/// writes it if changed (compare-and-set, retried from the read).
async fn change<T, F, Fut>(store: &dyn StateStore, key: &str, decide: F) -> Result<T, ProcessError>
where
    F: Fn(PeriodRow) -> Fut,
    Fut: std::future::Future<Output = Result<(PeriodRow, T), ProcessError>>,
{
    view::decide(store, key, |row: PeriodRow| {
        let before = row.clone();
        let decided = decide(row);
        async move {
            let (row, made) = decided.await?;
            Ok(((row != before).then_some(row), made))
        }
    })
    .await
}

/// Which settlement period a comparison is of.
struct Header {
    mo_id: String,
    publisher_id: String,
    currency: String,
    period_start: String,
}

/// Compares `submitted` (contract `contract_id`) with the computed side in `row`.
async fn compare(
    store: &dyn StateStore,
    header: &Header,
    base: &str,
    contract_id: &str,
    submitted: &Submitted,
    row: &PeriodRow,
) -> Result<SettlementComparison, ProcessError> {
    let computed: Vec<&Computed> = row
        .settlement
        .iter()
        .chain(row.adjustments.values())
        .collect();
    let computed_total: i64 = computed.iter().map(|c| c.total_minor).sum();
    let end = row
        .settlement
        .as_ref()
        .map_or(submitted.period_end.as_str(), |s| s.period_end.as_str());
    let pair = view::pair_view(
        store,
        &header.mo_id,
        &header.publisher_id,
        (&header.period_start, end),
    )
    .await?;
    let ledger: Vec<reconcile::LedgerEntry> = computed
        .iter()
        .flat_map(|c| &c.contracts)
        .map(|id| reconcile::LedgerEntry {
            contract_id: id.clone(),
            amount_minor: pair.ledger.get(id).map_or(0, |e| e.amount_minor),
            currency: header.currency.clone(),
        })
        .collect();
    let lines = match &submitted.contracts {
        Some(records) => reconcile::reconcile(&ledger, records, None).lines,
        None => Vec::new(),
    };
    let differing: Vec<ComparisonLine> = lines
        .iter()
        .filter(|l| l.outcome != LineOutcome::Matched)
        .map(|l| ComparisonLine {
            contract_id: l.contract_id.clone(),
            outcome: l.outcome,
            computed_amount_minor: l.ledger.as_ref().map(|(a, _)| *a),
            submitted_amount_minor: l.submitted.as_ref().map(|(a, _)| *a),
        })
        .collect();
    let matched = lines.len() - differing.len();
    let agreed = differing.is_empty() && computed_total == submitted.total_minor;
    Ok(SettlementComparison {
        comparison_id: format!("cmp:{contract_id}"),
        submitted_contract_id: contract_id.to_owned(),
        settlement_id: base.to_owned(),
        mo_id: header.mo_id.clone(),
        publisher_id: header.publisher_id.clone(),
        currency: header.currency.clone(),
        period_start: header.period_start.clone(),
        period_end: submitted.period_end.clone(),
        outcome: if agreed {
            ComparisonOutcome::Agreed
        } else {
            ComparisonOutcome::Discrepancy
        },
        computed_total_minor: computed_total,
        submitted_total_minor: submitted.total_minor,
        adjustments: row.adjustments.keys().cloned().collect(),
        matched: i64::try_from(matched).unwrap_or(i64::MAX),
        mismatched: i64::try_from(differing.len()).unwrap_or(i64::MAX),
        lines: differing,
    })
}

//! `reconcile-match`: a reconciliation contract (one party's records for a
//! period) matched against Moneta's ledger and, when the other party has
//! submitted one for the same period, against theirs.
//!
//! It reads the ledger topic as well and keeps its own view per MO and
//! publisher ([`view`]): the ledger entries (charges and upheld-dispute
//! reversals), one row per event day, and the reconciliations it has
//! matched. Moneta's side of a
//! reconciliation is every entry whose event date lies in its period, in
//! every currency; the other party's side is their latest reconciliation of
//! the same period matched before. Matching is `moneta_settlement::reconcile`
//! (outcome classes and their precedence are documented there). The report
//! goes to the reconciliation reports topic and, through webhooks, to both
//! parties' endpoints that take `reconciliation.report`; a reconciliation
//! processed again re-emits the report it first got.
//!
//! It also reads the settlements topic, and compares a settlement a party
//! submitted with the one Moneta computed for the same period
//! ([`settlement`]): to the settlement comparisons topic and, as
//! `settlement.comparison`, to both parties' endpoints.

mod settlement;
mod view;

use moneta_records::{
    Contract, ContractStatus, LedgerEntry, LedgerKind, Message, ReconciliationReport, ReportLine,
    Settlement, SettlementComparison,
};
use moneta_runtime::{Emit, Emitted, ProcessError, Record, Rejection, Stage};
use moneta_settlement::reconcile;
use moneta_state::Deliveries;
use serde_json::Value;

use crate::contracts::PathContext;
use crate::webhook_dispatch::notify;

pub use settlement::{Compared, Computed, PeriodRow, Submitted};
pub use view::{DayLedger, Matched, PairView, Reconciliations, ViewEntry, ledger_key, pair_key};

/// The stage name.
pub const STAGE: &str = "reconcile-match";

/// The event type of a reconciliation report.
pub const RECONCILIATION_REPORT: &str = "reconciliation.report";

/// The event type of a settlement comparison.
pub const SETTLEMENT_COMPARISON: &str = "settlement.comparison";

/// The reconcile-match processor.
#[derive(Clone)]
pub struct ReconcileMatch {
    ctx: PathContext,
    deliveries: Deliveries,
}

/// A reconciliation's terms.
struct Submission {
    period_start: String,
    period_end: String,
    submitted_by: String,
    records: Vec<reconcile::Record>,
}

/// A contract's terms as JSON (`malformed_terms` if they are not).
fn terms_of(terms_json: &str) -> Result<Value, Rejection> {
    serde_json::from_str(terms_json).map_err(|e| Rejection::new("malformed_terms", e.to_string()))
}

/// A text attribute of `terms` (empty if absent).
fn text_of(terms: &Value, field: &str) -> String {
    terms
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn submission(terms_json: &str) -> Result<Submission, Rejection> {
    let terms = terms_of(terms_json)?;
    let text = |f: &str| text_of(&terms, f);
    let records = terms
        .get("records")
        .cloned()
        .map(serde_json::from_value::<Vec<reconcile::Record>>)
        .transpose()
        .map_err(|e| Rejection::new("malformed_terms", e.to_string()))?
        .unwrap_or_default();
    Ok(Submission {
        period_start: text("period_start"),
        period_end: text("period_end"),
        submitted_by: text("submitted_by"),
        records,
    })
}

impl ReconcileMatch {
    /// A reconcile-match processor in `ctx`.
    pub fn new(ctx: PathContext) -> Self {
        Self {
            deliveries: Deliveries::new(ctx.store.clone()),
            ctx,
        }
    }

    async fn run(&self, contract: Contract, record: &Record) -> Result<Emitted, ProcessError> {
        if contract.status != ContractStatus::Finalized {
            return Ok(Emitted::default());
        }
        match contract.terms.contract_type.as_str() {
            "reconciliation" => self.reconcile(contract, record).await,
            "settlement" => {
                let made =
                    settlement::submitted(self.ctx.store.as_ref(), &contract, record).await?;
                self.comparisons(made.into_iter().collect(), record).await
            }
            _ => Ok(Emitted::default()),
        }
    }

    /// A settlement Moneta computed: the submissions waiting for it compared.
    async fn computed(&self, s: Settlement, record: &Record) -> Result<Emitted, ProcessError> {
        let made = settlement::computed(self.ctx.store.as_ref(), &s, record).await?;
        self.comparisons(made, record).await
    }

    /// Each comparison to the comparisons topic and both parties' webhooks.
    async fn comparisons(
        &self,
        made: Vec<SettlementComparison>,
        record: &Record,
    ) -> Result<Emitted, ProcessError> {
        let topic = self.ctx.topics.settlement_comparisons.as_str();
        let mut outputs = Vec::new();
        for comparison in made {
            let subject = comparison.comparison_id.clone();
            let parties = [comparison.mo_id.as_str(), comparison.publisher_id.as_str()];
            let (ctx, deliveries) = (&self.ctx, &self.deliveries);
            notify(
                ctx,
                deliveries,
                SETTLEMENT_COMPARISON,
                &subject,
                parties,
                &comparison,
                record,
            )
            .await?;
            tracing::info!(comparison_id = %subject, outcome = ?comparison.outcome, mismatched = comparison.mismatched, "settlement compared");
            outputs.push(Emit::new(topic, subject, comparison));
        }
        Ok(Emitted::of(outputs))
    }

    /// A reconciliation matched against the ledger and the other party.
    async fn reconcile(
        &self,
        contract: Contract,
        record: &Record,
    ) -> Result<Emitted, ProcessError> {
        let ours = submission(&contract.terms.terms_json)?;
        let (mo, publisher) = (&contract.terms.mo_id, &contract.terms.publisher_id);
        let store = self.ctx.store.as_ref();
        let period = (ours.period_start.as_str(), ours.period_end.as_str());
        let pair = view::pair_view(store, mo, publisher, period).await?;
        let report = match pair.reconciliations.get(&contract.contract_id) {
            Some(matched) => matched.report.clone(),
            None => {
                let report = report(&contract, &ours, &pair);
                let matched = Matched {
                    submitted_by: ours.submitted_by.clone(),
                    period_start: ours.period_start.clone(),
                    period_end: ours.period_end.clone(),
                    created_at: contract.created_at,
                    records: ours.records.clone(),
                    report: report.clone(),
                };
                let id = contract.contract_id.clone();
                let key = pair_key(mo, publisher);
                view::update(store, &key, |row: &mut PairView| {
                    if row.reconciliations.contains_key(&id) {
                        return false;
                    }
                    row.reconciliations.insert(id.clone(), matched.clone());
                    true
                })
                .await?;
                report
            }
        };
        let parties = [report.mo_id.as_str(), report.publisher_id.as_str()];
        let (ctx, deliveries, subject) = (&self.ctx, &self.deliveries, &report.report_id);
        notify(
            ctx,
            deliveries,
            RECONCILIATION_REPORT,
            subject,
            parties,
            &report,
            record,
        )
        .await?;
        tracing::info!(report_id = %report.report_id, matched = report.matched, mismatched = report.mismatched, "reconciled");
        let topic = self.ctx.topics.reconciliation_reports.as_str();
        let key = report.report_id.clone();
        Ok(Emitted::of(vec![Emit::new(topic, key, report)]))
    }

    /// Adds a charge or reversal to the pair's ledger of its event day
    /// (idempotent by id).
    async fn entry(&self, entry: LedgerEntry) -> Result<Emitted, ProcessError> {
        if entry.kind == LedgerKind::Watermark {
            return Ok(Emitted::default());
        }
        let day = view::day_of(entry.event_time_ms);
        let key = ledger_key(&entry.mo_id, &entry.publisher_id, &day);
        let kept = ViewEntry {
            amount_minor: entry.amount_minor,
            currency: entry.currency.clone(),
            event_time_ms: entry.event_time_ms,
        };
        view::update(self.ctx.store.as_ref(), &key, |ledger: &mut DayLedger| {
            if ledger.get(&entry.entry_id) == Some(&kept) {
                return false;
            }
            ledger.insert(entry.entry_id.clone(), kept.clone());
            true
        })
        .await?;
        Ok(Emitted::default())
    }
}

/// The report of `contract` (submitting `ours`) against the pair's view.
fn report(contract: &Contract, ours: &Submission, pair: &PairView) -> ReconciliationReport {
    let (mo, publisher) = (&contract.terms.mo_id, &contract.terms.publisher_id);
    let ledger = pair.ledger_between(&ours.period_start, &ours.period_end);
    let theirs = pair
        .reconciliations
        .iter()
        .filter(|(id, m)| {
            **id != contract.contract_id
                && m.period_start == ours.period_start
                && m.period_end == ours.period_end
                && m.submitted_by != ours.submitted_by
        })
        .max_by(|(a_id, a), (b_id, b)| (a.created_at, a_id).cmp(&(b.created_at, b_id)));
    {
        let result = reconcile::reconcile(
            &ledger,
            &ours.records,
            theirs.map(|(_, m)| m.records.as_slice()),
        );
        ReconciliationReport {
            report_id: format!("rcn:{}", contract.contract_id),
            reconciliation_id: contract.contract_id.clone(),
            mo_id: mo.clone(),
            publisher_id: publisher.clone(),
            submitted_by: ours.submitted_by.clone(),
            period_start: ours.period_start.clone(),
            period_end: ours.period_end.clone(),
            counterparty_reconciliation_id: theirs.map(|(id, _)| id.clone()),
            matched: result.counts.matched as i64,
            mismatched: (result.counts.total() - result.counts.matched) as i64,
            lines: result.lines.iter().map(line).collect(),
        }
    }
}

fn line(l: &reconcile::Line) -> ReportLine {
    let split = |v: &Option<(i64, String)>| {
        (
            v.as_ref().map(|(a, _)| *a),
            v.as_ref().map(|(_, c)| c.clone()),
        )
    };
    let (ledger_amount_minor, ledger_currency) = split(&l.ledger);
    let (submitted_amount_minor, submitted_currency) = split(&l.submitted);
    let (counterparty_amount_minor, counterparty_currency) = split(&l.counterparty);
    ReportLine {
        contract_id: l.contract_id.clone(),
        outcome: l.outcome,
        ledger_amount_minor,
        ledger_currency,
        submitted_amount_minor,
        submitted_currency,
        counterparty_amount_minor,
        counterparty_currency,
    }
}

impl Stage for ReconcileMatch {
    /// Countersigned contracts; ledger entries; settlements.
    type Input = Message;

    async fn process(&self, input: Message, record: &Record) -> Result<Emitted, ProcessError> {
        match input {
            Message::Contract(contract) => self.run(contract, record).await,
            Message::LedgerEntry(entry) => self.entry(entry).await,
            Message::Settlement(s) => self.computed(s, record).await,
            other => Err(Rejection::new(
                "unexpected_schema",
                format!(
                    "reconcile-match reads contracts, ledger entries and settlements, not {:?}",
                    other.schema()
                ),
            )
            .into()),
        }
    }
}

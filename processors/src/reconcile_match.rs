//! `reconcile-match`: a reconciliation contract (one party's records for a
//! period) matched against Moneta's ledger and, when the other party has
//! submitted one for the same period, against theirs.
//!
//! The ledger view is settle-aggregate's state: every contract counted in
//! (or adjusted into) the parties' periods inside the reconciliation's
//! period, in every currency. Matching is `moneta_settlement::reconcile`
//! (outcome classes and their precedence are documented there). The report
//! goes to the reconciliation reports topic and, through webhooks, to both
//! parties' endpoints that take `reconciliation.report`.

use moneta_domain::Kind;
use moneta_records::{Contract, ContractStatus, ReconciliationReport, ReportLine};
use moneta_runtime::{Emit, Emitted, ProcessError, Record, Rejection, Stage};
use moneta_settlement::reconcile::{self, LedgerEntry};
use moneta_state::{ContractQuery, Deliveries};
use serde_json::{Value, json};

use crate::contracts::PathContext;
use crate::rules::format_rfc3339_ms;
use crate::settle_aggregate::{INDEX_PARTIES, KeyState, parties_key};
use crate::webhook_dispatch::{Notification, schedule};

/// The stage name.
pub const STAGE: &str = "reconcile-match";

/// The event type of a reconciliation report.
pub const RECONCILIATION_REPORT: &str = "reconciliation.report";

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

fn submission(terms_json: &str) -> Result<Submission, Rejection> {
    let terms: Value = serde_json::from_str(terms_json)
        .map_err(|e| Rejection::new("malformed_terms", e.to_string()))?;
    let text = |f: &str| {
        terms
            .get(f)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
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
        if contract.terms.contract_type != "reconciliation"
            || contract.status != ContractStatus::Finalized
        {
            return Ok(Emitted::default());
        }
        let ours = submission(&contract.terms.terms_json)?;
        let (mo, publisher) = (&contract.terms.mo_id, &contract.terms.publisher_id);
        let ledger = self.ledger(mo, publisher, &ours).await?;
        let theirs = self.counterparty(&contract, &ours).await?;
        let result = reconcile::reconcile(
            &ledger,
            &ours.records,
            theirs.as_ref().map(|(_, s)| s.records.as_slice()),
        );
        let report = ReconciliationReport {
            report_id: format!("rcn:{}", contract.contract_id),
            reconciliation_id: contract.contract_id.clone(),
            mo_id: mo.clone(),
            publisher_id: publisher.clone(),
            submitted_by: ours.submitted_by.clone(),
            period_start: ours.period_start.clone(),
            period_end: ours.period_end.clone(),
            counterparty_reconciliation_id: theirs.map(|(id, _)| id),
            matched: result.counts.matched as i64,
            mismatched: (result.counts.total() - result.counts.matched) as i64,
            lines: result.lines.iter().map(line).collect(),
        };
        let at_ms = record.time_ms()?;
        let body = json!({
            "type": RECONCILIATION_REPORT,
            "timestamp": format_rfc3339_ms(at_ms),
            "data": report,
        });
        let message = Notification {
            event_type: RECONCILIATION_REPORT,
            subject_id: &report.report_id,
            version: 1,
            payload: body.to_string(),
            at_ms,
            event_key: None,
        };
        schedule(
            &self.ctx,
            &self.deliveries,
            &[mo, publisher],
            &message,
            record,
        )
        .await?;
        tracing::info!(report_id = %report.report_id, matched = report.matched, mismatched = report.mismatched, "reconciled");
        let topic = self.ctx.topics.reconciliation_reports.as_str();
        let key = report.report_id.clone();
        Ok(Emitted::of(vec![Emit::new(topic, key, report)]))
    }

    /// Moneta's ledger for the parties and period: each contract's amount.
    async fn ledger(
        &self,
        mo: &str,
        publisher: &str,
        ours: &Submission,
    ) -> Result<Vec<LedgerEntry>, ProcessError> {
        let states = self
            .ctx
            .store
            .lookup(
                Kind::SettlementState,
                INDEX_PARTIES,
                &parties_key(mo, publisher),
            )
            .await?;
        let mut ledger = Vec::new();
        for stored in states {
            let state: KeyState = serde_json::from_slice(&stored.body).map_err(|e| {
                ProcessError::corrupt(format!("settlement state {}: {e}", stored.id))
            })?;
            for period in state.periods.values() {
                if period.start < ours.period_start || period.end > ours.period_end {
                    continue;
                }
                for (contract_id, amount) in period.contributions.iter().chain(&period.adjustments)
                {
                    ledger.push(LedgerEntry {
                        contract_id: contract_id.clone(),
                        amount_minor: *amount,
                        currency: state.currency.clone(),
                    });
                }
            }
        }
        Ok(ledger)
    }

    /// The other party's latest finalized reconciliation of the same period.
    async fn counterparty(
        &self,
        contract: &Contract,
        ours: &Submission,
    ) -> Result<Option<(String, Submission)>, ProcessError> {
        let query = ContractQuery {
            mo_id: Some(contract.terms.mo_id.clone()),
            publisher_id: Some(contract.terms.publisher_id.clone()),
            contract_type: Some("reconciliation".into()),
            limit: 1000,
            ..ContractQuery::default()
        };
        let found = self.ctx.store.search_contracts(&query).await?;
        let mut best: Option<(i64, String, Submission)> = None;
        for stored in found {
            let other =
                serde_json::from_slice::<moneta_domain::Contract>(&stored.body).map_err(|e| {
                    ProcessError::corrupt(format!("stored contract {}: {e}", stored.id))
                })?;
            if other.id == contract.contract_id
                || other.status != moneta_domain::ContractStatus::Finalized
            {
                continue;
            }
            let Ok(theirs) = submission(&other.payload.to_string()) else {
                continue;
            };
            let same_period =
                theirs.period_start == ours.period_start && theirs.period_end == ours.period_end;
            if same_period && theirs.submitted_by != ours.submitted_by {
                let newer = best
                    .as_ref()
                    .is_none_or(|(at, id, _)| (other.created_at, &other.id) > (*at, id));
                if newer {
                    best = Some((other.created_at, other.id.clone(), theirs));
                }
            }
        }
        Ok(best.map(|(_, id, s)| (id, s)))
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
    type Input = Contract;

    async fn process(&self, contract: Contract, record: &Record) -> Result<Emitted, ProcessError> {
        self.run(contract, record).await
    }
}

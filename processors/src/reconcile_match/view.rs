//! reconcile-match's own state: per MO–publisher pair, the ledger entries it
//! has read from the ledger topic and the reconciliations it has matched
//! (with the report each got). It is the one writer of these rows, and the
//! log rebuilds them: replaying the ledger and countersigned topics through
//! the stage writes the same rows.

use std::collections::BTreeMap;

use moneta_domain::Kind;
use moneta_records::ReconciliationReport;
use moneta_runtime::{ProcessError, Rejection};
use moneta_settlement::reconcile;
use moneta_state::cas::{self, Attempt};
use moneta_state::{Expect, StateStore};
use serde::{Deserialize, Serialize};

/// One ledger entry as reconcile-match keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ViewEntry {
    /// Amount in minor units (negative for a reversal).
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Its event time, ms since the epoch.
    pub event_time_ms: i64,
}

/// A reconciliation already matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Matched {
    /// `mo` or `publisher`.
    pub submitted_by: String,
    /// First day, `YYYY-MM-DD`.
    pub period_start: String,
    /// Last day, `YYYY-MM-DD`.
    pub period_end: String,
    /// When the contract was created, Unix seconds.
    pub created_at: i64,
    /// What it submitted.
    pub records: Vec<reconcile::Record>,
    /// The report it got, re-emitted if it is processed again.
    pub report: ReconciliationReport,
}

/// reconcile-match's view of one MO–publisher pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairView {
    /// Ledger entries by id (contract id).
    pub ledger: BTreeMap<String, ViewEntry>,
    /// Reconciliations matched, by contract id.
    pub reconciliations: BTreeMap<String, Matched>,
}

impl PairView {
    /// The ledger of the days `start..=end` (`YYYY-MM-DD`, by event time).
    pub fn ledger_between(&self, start: &str, end: &str) -> Vec<reconcile::LedgerEntry> {
        self.ledger
            .iter()
            .filter(|(_, e)| {
                let day = crate::rules::format_rfc3339_ms(e.event_time_ms);
                let day = day.get(..10).unwrap_or_default();
                start <= day && day <= end
            })
            .map(|(id, e)| reconcile::LedgerEntry {
                contract_id: id.clone(),
                amount_minor: e.amount_minor,
                currency: e.currency.clone(),
            })
            .collect()
    }
}

/// The row key of a pair.
pub fn pair_key(mo_id: &str, publisher_id: &str) -> String {
    format!("{mo_id}|{publisher_id}")
}

/// The pair's view, empty if it has none yet; a row that does not decode is
/// corrupt.
pub async fn load(store: &dyn StateStore, key: &str) -> Result<(PairView, Expect), ProcessError> {
    match store.get(Kind::ReconcileView, key).await? {
        None => Ok((PairView::default(), Expect::Absent)),
        Some(stored) => {
            let view = serde_json::from_slice(&stored.body)
                .map_err(|e| ProcessError::corrupt(format!("reconcile view {key}: {e}")))?;
            Ok((view, Expect::Revision(stored.revision)))
        }
    }
}

/// Changes the pair's view with `change` (compare-and-set, retried); a
/// change that returns `false` writes nothing.
pub async fn update(
    store: &dyn StateStore,
    key: &str,
    change: impl Fn(&mut PairView) -> bool,
) -> Result<(), ProcessError> {
    cas::retry(&format!("reconcile view {key}"), || async {
        let (mut view, expect) = load(store, key).await?;
        if !change(&mut view) {
            return Ok(Attempt::Done(()));
        }
        let body =
            serde_json::to_vec(&view).map_err(|e| Rejection::new("unencodable", e.to_string()))?;
        let written = store
            .put(Kind::ReconcileView, key, &body, &[], expect)
            .await;
        Ok::<_, ProcessError>(match cas::attempt(written)? {
            Attempt::Done(_) => Attempt::Done(()),
            Attempt::Lost => Attempt::Lost,
        })
    })
    .await
}

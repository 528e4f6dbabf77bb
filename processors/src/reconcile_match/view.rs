//! reconcile-match's own state, per MO–publisher pair: the ledger entries it
//! has read from the ledger topic, one row per event day, and the
//! reconciliations it has matched (with the report each got), one row per
//! pair (which, written by an earlier version, may also hold ledger
//! entries: they are still read). A ledger entry touches only its day's row and a reconciliation
//! reads only its period's days, so neither costs more as the pair's
//! history grows. It is the one writer of these rows, and the log rebuilds
//! them: replaying the ledger and countersigned topics through the stage
//! writes the same rows.

use std::collections::BTreeMap;

use moneta_domain::Kind;
use moneta_records::ReconciliationReport;
use moneta_runtime::{ProcessError, Rejection};
use moneta_settlement::period::format_date;
use moneta_settlement::reconcile;
use moneta_state::cas::{self, Attempt};
use moneta_state::{Expect, StateStore};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::rules::parse_date;

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

/// The ledger entries of one pair and day, by id (contract id).
pub type DayLedger = BTreeMap<String, ViewEntry>;

/// The reconciliations of one pair matched so far, by contract id.
pub type Reconciliations = BTreeMap<String, Matched>;

/// A pair's row: its reconciliations and, in rows written before ledger
/// entries moved to rows by day, its ledger entries (still read, never
/// added to). As a view, what a reconciliation is matched against: the
/// pair's ledger entries of its period and its reconciliations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairView {
    /// Ledger entries by id (contract id).
    #[serde(default)]
    pub ledger: BTreeMap<String, ViewEntry>,
    /// Reconciliations matched, by contract id.
    #[serde(default)]
    pub reconciliations: Reconciliations,
}

impl PairView {
    /// The ledger of the days `start..=end` (`YYYY-MM-DD`, by event time).
    pub fn ledger_between(&self, start: &str, end: &str) -> Vec<reconcile::LedgerEntry> {
        self.ledger
            .iter()
            .filter(|(_, e)| {
                let day = day_of(e.event_time_ms);
                start <= day.as_str() && day.as_str() <= end
            })
            .map(|(id, e)| reconcile::LedgerEntry {
                contract_id: id.clone(),
                amount_minor: e.amount_minor,
                currency: e.currency.clone(),
            })
            .collect()
    }
}

/// The row key of a pair's row ([`PairView`]: its reconciliations).
pub fn pair_key(mo_id: &str, publisher_id: &str) -> String {
    format!("{mo_id}|{publisher_id}")
}

/// The row key of a pair's ledger entries of `day` (`YYYY-MM-DD`).
pub fn ledger_key(mo_id: &str, publisher_id: &str, day: &str) -> String {
    format!("{mo_id}|{publisher_id}|{day}")
}

/// The event day (`YYYY-MM-DD`, UTC) of a time in ms since the epoch.
pub fn day_of(event_time_ms: i64) -> String {
    format_date(event_time_ms.div_euclid(86_400_000))
}

/// The days `start..=end` (`YYYY-MM-DD`); none if either is not a date.
fn days_between(start: &str, end: &str) -> Vec<String> {
    let (Some(first), Some(last)) = (parse_date(start), parse_date(end)) else {
        return Vec::new();
    };
    (first..=last).map(format_date).collect()
}

/// The pair's view for a reconciliation of `start..=end`.
pub async fn pair_view(
    store: &dyn StateStore,
    mo_id: &str,
    publisher_id: &str,
    (start, end): (&str, &str),
) -> Result<PairView, ProcessError> {
    let (mut view, _): (PairView, _) = load(store, &pair_key(mo_id, publisher_id)).await?;
    for day in days_between(start, end) {
        let (entries, _): (DayLedger, _) =
            load(store, &ledger_key(mo_id, publisher_id, &day)).await?;
        view.ledger.extend(entries);
    }
    Ok(view)
}

/// A row, empty if there is none yet; a row that does not decode is corrupt.
pub async fn load<T: DeserializeOwned + Default>(
    store: &dyn StateStore,
    key: &str,
) -> Result<(T, Expect), ProcessError> {
    match store.get(Kind::ReconcileView, key).await? {
        None => Ok((T::default(), Expect::Absent)),
        Some(stored) => {
            let row = serde_json::from_slice(&stored.body)
                .map_err(|e| ProcessError::corrupt(format!("reconcile view {key}: {e}")))?;
            Ok((row, Expect::Revision(stored.revision)))
        }
    }
}

/// Changes a row with `change` (compare-and-set, retried); a change that
/// returns `false` writes nothing.
pub async fn update<T: Serialize + DeserializeOwned + Default>(
    store: &dyn StateStore,
    key: &str,
    change: impl Fn(&mut T) -> bool,
) -> Result<(), ProcessError> {
    decide(store, key, |mut row: T| {
        let changed = change(&mut row);
        std::future::ready(Ok((changed.then_some(row), ())))
    })
    .await
}

/// Reads `key`'s row and lets `decide` (which may read more) return the
/// row to write, if any, and what it made; writes it (compare-and-set,
/// retried from the read) and returns what it made.
pub async fn decide<T, R, F, Fut>(
    store: &dyn StateStore,
    key: &str,
    decide: F,
) -> Result<R, ProcessError>
where
    T: Serialize + DeserializeOwned + Default,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<(Option<T>, R), ProcessError>>,
{
    cas::retry(&format!("reconcile view {key}"), || async {
        let (row, expect) = load::<T>(store, key).await?;
        let (row, made) = decide(row).await?;
        let Some(row) = row else {
            return Ok(Attempt::Done(made));
        };
        let body =
            serde_json::to_vec(&row).map_err(|e| Rejection::new("unencodable", e.to_string()))?;
        let written = store
            .put(Kind::ReconcileView, key, &body, &[], expect)
            .await;
        Ok::<_, ProcessError>(match cas::attempt(written)? {
            Attempt::Done(_) => Attempt::Done(made),
            Attempt::Lost => Attempt::Lost,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_its_days() {
        assert_eq!(
            days_between("2026-02-27", "2026-03-01"),
            ["2026-02-27", "2026-02-28", "2026-03-01"]
        );
        assert!(days_between("2026-03-02", "2026-03-01").is_empty());
        assert!(days_between("not a date", "2026-03-01").is_empty());
        assert_eq!(day_of(1_793_880_000_000), "2026-11-05");
    }
}

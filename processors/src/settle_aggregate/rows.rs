//! settle-aggregate's rows besides a key's state, all of kind
//! `settlement_state`:
//!
//! | id | body | found by |
//! |---|---|---|
//! | `<key>` | [`KeyState`](super::KeyState) | `partition` = its ledger partition |
//! | `<key>#entry:<entry id>` | [`Counted`] | `period` = `<key>@<period start>` (settlement contributions only) |
//! | `<key>#period:<start>` | an archived [`PeriodState`] | `closed_by` = `<key>@<topic/partition/offset>` |

use moneta_domain::Kind;
use moneta_runtime::{ProcessError, Rejection};
use moneta_state::{Expect, StateStore, Stored};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::state::{Counted, PeriodState};

/// Index of a period's counted contributions.
const INDEX_PERIOD: &str = "period";
/// Index of archived periods by the record that closed them.
const INDEX_CLOSED_BY: &str = "closed_by";

/// The row of one entry of `key` and its revision, if it was counted.
pub async fn counted(
    store: &dyn StateStore,
    key: &str,
    entry_id: &str,
) -> Result<Option<(Counted, u64)>, ProcessError> {
    let id = format!("{key}#entry:{entry_id}");
    match store.get(Kind::SettlementState, &id).await? {
        Some(row) => Ok(Some((decode(&row)?, row.revision))),
        None => Ok(None),
    }
}

/// Writes the row of a counted entry; `revision` is the row's, if a
/// crash left it written before.
pub async fn count(
    store: &dyn StateStore,
    key: &str,
    row: &Counted,
    revision: Option<u64>,
) -> Result<(), ProcessError> {
    let id = format!("{key}#entry:{}", row.entry_id);
    let body = encode(row)?;
    let expect = revision.map_or(Expect::Absent, Expect::Revision);
    store
        .put(
            Kind::SettlementState,
            &id,
            &body,
            &index_of(key, row),
            expect,
        )
        .await?;
    Ok(())
}

/// Writes the row of an entry a state of the earlier shape counted.
pub async fn recount(store: &dyn StateStore, key: &str, row: &Counted) -> Result<(), ProcessError> {
    let id = format!("{key}#entry:{}", row.entry_id);
    overwrite(store, &id, row, &index_of(key, row)).await
}

/// The contributions counted in `key`'s period starting on `start`, by entry id.
pub async fn contributions(
    store: &dyn StateStore,
    key: &str,
    start: &str,
) -> Result<Vec<Counted>, ProcessError> {
    let rows = store
        .lookup(
            Kind::SettlementState,
            INDEX_PERIOD,
            &format!("{key}@{start}"),
        )
        .await?;
    let mut counted = rows
        .iter()
        .map(decode)
        .collect::<Result<Vec<Counted>, _>>()?;
    counted.sort_by(|a, b| a.entry_id.cmp(&b.entry_id));
    Ok(counted)
}

/// Moves a closed period out of its key's state to a row of its own.
pub async fn archive(
    store: &dyn StateStore,
    key: &str,
    period: &PeriodState,
) -> Result<(), ProcessError> {
    let id = format!("{key}#period:{}", period.start);
    let index: Vec<(&'static str, String)> = period
        .closed
        .iter()
        .map(|closed| (INDEX_CLOSED_BY, format!("{key}@{}", closed.by)))
        .collect();
    overwrite(store, &id, period, &index).await
}

/// `key`'s archived period starting on `start`, if there is one.
pub async fn archived(
    store: &dyn StateStore,
    key: &str,
    start: &str,
) -> Result<Option<PeriodState>, ProcessError> {
    let id = format!("{key}#period:{start}");
    store
        .get(Kind::SettlementState, &id)
        .await?
        .map(|row| decode(&row))
        .transpose()
}

/// `key`'s archived periods closed by the record at `here`.
pub async fn closed_by(
    store: &dyn StateStore,
    key: &str,
    here: &str,
) -> Result<Vec<PeriodState>, ProcessError> {
    let rows = store
        .lookup(
            Kind::SettlementState,
            INDEX_CLOSED_BY,
            &format!("{key}@{here}"),
        )
        .await?;
    rows.iter().map(decode).collect()
}

/// Writes `body` at `id` whatever is there.
async fn overwrite<T: Serialize>(
    store: &dyn StateStore,
    id: &str,
    body: &T,
    index: &[(&'static str, String)],
) -> Result<(), ProcessError> {
    let bytes = encode(body)?;
    let expect = match store.get(Kind::SettlementState, id).await? {
        Some(row) if row.body == bytes => return Ok(()),
        Some(row) => Expect::Revision(row.revision),
        None => Expect::Absent,
    };
    store
        .put(Kind::SettlementState, id, &bytes, index, expect)
        .await?;
    Ok(())
}

/// A counted entry's index: contributions are found by their period.
fn index_of(key: &str, row: &Counted) -> Vec<(&'static str, String)> {
    if row.adjustment {
        Vec::new()
    } else {
        vec![(INDEX_PERIOD, format!("{key}@{}", row.period_start))]
    }
}

fn encode<T: Serialize>(body: &T) -> Result<Vec<u8>, ProcessError> {
    Ok(serde_json::to_vec(body).map_err(|e| Rejection::new("unencodable", e.to_string()))?)
}

fn decode<T: DeserializeOwned>(row: &Stored) -> Result<T, ProcessError> {
    serde_json::from_slice(&row.body)
        .map_err(|e| ProcessError::corrupt(format!("settlement row {}: {e}", row.id)))
}

//! settle-aggregate's state of one `mo|publisher|currency` key, and the
//! pure function that applies a ledger entry to it.
//!
//! A key's state is small and bounded: its watermark, the last ledger
//! offset it applied, and the summaries of its open and recently closed
//! periods. The entries themselves are rows of their own ([`Counted`]),
//! one per entry id, which is also how a replayed entry is recognised; a
//! closed period older than `keep_closed_ms` moves out of the key's state
//! to a row of its own (see [`super::rows`]).

use std::collections::BTreeMap;

use moneta_records::{LedgerEntry, LedgerKind};
use moneta_settlement::period::period_of;
use serde::{Deserialize, Serialize};

use super::SettlementConfig;

/// One period of one key: when it ends and whether it is settled.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodState {
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    pub end: String,
    /// End (exclusive), ms since the epoch.
    pub end_ms: i64,
    /// Set once the period is settled.
    pub closed: Option<Closed>,
    /// Contract id → amount, as states written before entries had rows of
    /// their own kept them; moved to rows when the key is next read.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub contributions: BTreeMap<String, i64>,
    /// Contract id → amount of adjustments, in the same earlier shape.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub adjustments: BTreeMap<String, i64>,
}

/// How a period was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// `topic/partition/offset` of the record that closed it.
    pub by: String,
    /// The watermark then.
    pub at_ms: i64,
    /// What its settlement took in and carried (decided when it closed;
    /// absent in states written before minimums were applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<Settled>,
}

/// What a period's settlement took in from earlier periods and carries on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settled {
    /// The balance of earlier below-minimum periods taken in.
    pub carried_in_minor: i64,
    /// The first day of the period that balance was carried from.
    pub carried_from: Option<String>,
    /// Whether the period's balance is below the minimum and carried forward.
    pub carried_forward: bool,
}

/// A balance below the minimum settlement, waiting for the next period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Carry {
    /// The balance, minor units.
    pub minor: i64,
    /// The first day of the period whose settlement carried it.
    pub from: String,
}

/// The state of one aggregation key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// `mo|publisher|currency`.
    pub key: String,
    /// The MO.
    pub mo_id: String,
    /// The publisher.
    pub publisher_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The ledger partition its entries arrive in.
    pub partition: i32,
    /// The latest event time seen.
    pub watermark_ms: i64,
    /// Offset of the last ledger record applied to this key; a record at
    /// or below it is being processed again.
    #[serde(default = "none_applied")]
    pub applied_offset: i64,
    /// Open and recently closed periods by first day.
    pub periods: BTreeMap<String, PeriodState>,
    /// A balance below the minimum, carried to the next settlement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carry: Option<Carry>,
}

fn none_applied() -> i64 {
    -1
}

impl Default for KeyState {
    fn default() -> Self {
        Self {
            key: String::new(),
            mo_id: String::new(),
            publisher_id: String::new(),
            currency: String::new(),
            partition: 0,
            watermark_ms: 0,
            applied_offset: none_applied(),
            periods: BTreeMap::new(),
            carry: None,
        }
    }
}

/// A ledger entry as counted for its key: the row that makes a replay of
/// it count nothing twice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The entry id (the contract id).
    pub entry_id: String,
    /// First day of its period.
    pub period_start: String,
    /// Its amount, minor units.
    pub amount_minor: i64,
    /// Whether it came after its period closed (an adjustment).
    pub adjustment: bool,
    /// Offset of the ledger record that counted it.
    pub offset: i64,
}

/// Where a record sits in the ledger topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// `topic/partition/offset`.
    pub here: String,
    /// Its offset.
    pub offset: i64,
}

/// An emission decided by applying a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Closing {
    /// The settlement of this period; `true` when it closed just now
    /// (`false`: emitted again by the record that closed it).
    Settlement(PeriodState, bool),
    /// An adjustment of this period: contract, amount, event time.
    Adjustment(PeriodState, String, i64, i64),
}

/// What applying one record decided.
#[derive(Debug, Default)]
pub struct Folded {
    /// Settlements and adjustments to emit.
    pub closings: Vec<Closing>,
    /// The entry's row, when it is counted now for the first time.
    pub counted: Option<Counted>,
    /// Closed periods old enough to leave the key's state.
    pub archived: Vec<PeriodState>,
}

/// Applies one ledger entry to one key's state. `seen` is the entry's
/// row, if one was written before. Pure: the same state, row and entry
/// always give the same result.
pub fn fold(
    state: &mut KeyState,
    entry: &LedgerEntry,
    seen: Option<&Counted>,
    at: &Position,
    config: &SettlementConfig,
) -> Folded {
    let mut folded = Folded::default();
    // A row written by a record this state has applied: a replay.
    let replayed = seen.filter(|row| row.offset <= state.applied_offset);
    if entry.kind != LedgerKind::Watermark {
        let period = period_of(entry.event_time_ms, config.period);
        let slot = state
            .periods
            .entry(period.start.clone())
            .or_insert_with(|| PeriodState {
                start: period.start.clone(),
                end: period.end.clone(),
                end_ms: period.end_ms,
                ..PeriodState::default()
            });
        let id = &entry.entry_id;
        match replayed {
            // Counted before: an adjustment is emitted again, the same.
            Some(row) if row.adjustment => folded.closings.push(Closing::Adjustment(
                slot.clone(),
                id.clone(),
                row.amount_minor,
                entry.event_time_ms,
            )),
            Some(_) => {}
            None => {
                let adjustment = slot.closed.is_some();
                if adjustment {
                    folded.closings.push(Closing::Adjustment(
                        slot.clone(),
                        id.clone(),
                        entry.amount_minor,
                        entry.event_time_ms,
                    ));
                }
                folded.counted = Some(Counted {
                    entry_id: id.clone(),
                    period_start: slot.start.clone(),
                    amount_minor: entry.amount_minor,
                    adjustment,
                    offset: at.offset,
                });
            }
        }
    }
    state.watermark_ms = state.watermark_ms.max(entry.event_time_ms);
    state.applied_offset = state.applied_offset.max(at.offset);
    let (watermark, grace) = (state.watermark_ms, config.grace_ms);
    for slot in state.periods.values_mut() {
        match &slot.closed {
            None if slot.end_ms.saturating_add(grace) <= watermark => {
                slot.closed = Some(Closed {
                    by: at.here.clone(),
                    at_ms: watermark,
                    settled: None,
                });
                folded
                    .closings
                    .push(Closing::Settlement(slot.clone(), true));
            }
            // Processed again: emit what this record emitted before.
            Some(closed) if closed.by == at.here => folded
                .closings
                .push(Closing::Settlement(slot.clone(), false)),
            _ => {}
        }
    }
    // Closed periods leave the state after `keep_closed_ms`, never on the
    // record that closed them: what their settlement carries is decided
    // after this fold, in the key's state.
    let keep = grace.saturating_add(config.keep_closed_ms);
    let old: Vec<String> = state
        .periods
        .values()
        .filter(|p| p.end_ms.saturating_add(keep) <= watermark)
        .filter(|p| p.closed.as_ref().is_some_and(|c| c.by != at.here))
        .map(|p| p.start.clone())
        .collect();
    for start in old {
        if let Some(period) = state.periods.remove(&start) {
            folded.archived.push(period);
        }
    }
    folded
}

/// Moves what a state of the earlier shape kept inside its periods (every
/// contribution and adjustment) out to rows; returns the rows.
pub fn migrate(state: &mut KeyState) -> Vec<Counted> {
    let mut rows = Vec::new();
    for period in state.periods.values_mut() {
        let counted = std::mem::take(&mut period.contributions)
            .into_iter()
            .map(|c| (c, false))
            .chain(
                std::mem::take(&mut period.adjustments)
                    .into_iter()
                    .map(|c| (c, true)),
            );
        for ((entry_id, amount_minor), adjustment) in counted {
            rows.push(Counted {
                entry_id,
                period_start: period.start.clone(),
                amount_minor,
                adjustment,
                offset: none_applied(),
            });
        }
    }
    rows
}

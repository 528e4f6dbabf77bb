//! settle-aggregate's state of one `mo|publisher|currency` key, and the
//! pure function that applies a ledger entry to it.

use std::collections::BTreeMap;

use moneta_records::{LedgerEntry, LedgerKind};
use moneta_settlement::period::period_of;
use serde::{Deserialize, Serialize};

use super::SettlementConfig;

/// One period of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeriodState {
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    pub end: String,
    /// End (exclusive), ms since the epoch.
    pub end_ms: i64,
    /// Contract id → amount, counted in the settlement.
    pub contributions: BTreeMap<String, i64>,
    /// Contract id → amount, arrived after the close: one adjustment each.
    pub adjustments: BTreeMap<String, i64>,
    /// Set once the period is settled.
    pub closed: Option<Closed>,
}

/// How a period was closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closed {
    /// `topic/partition/offset` of the record that closed it.
    pub by: String,
    /// The watermark then.
    pub at_ms: i64,
}

/// The state of one aggregation key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Periods by first day.
    pub periods: BTreeMap<String, PeriodState>,
}

/// An emission decided by applying a record.
pub enum Closing {
    /// The settlement of the period starting on this day.
    Settlement(String),
    /// An adjustment: period start, contract, amount, event time.
    Adjustment(String, String, i64, i64),
}

/// Applies one ledger entry to one key's state; returns what it emits.
/// Pure: the same state and entry always give the same result.
pub fn fold(
    state: &mut KeyState,
    entry: &LedgerEntry,
    here: &str,
    config: &SettlementConfig,
) -> Vec<Closing> {
    let mut emits = Vec::new();
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
        let id = entry.entry_id.clone();
        if slot.closed.is_none() {
            slot.contributions.insert(id, entry.amount_minor);
        } else if !slot.contributions.contains_key(&id) {
            slot.adjustments.insert(id.clone(), entry.amount_minor);
            let amount = slot.adjustments.get(&id).copied().unwrap_or_default();
            emits.push(Closing::Adjustment(
                slot.start.clone(),
                id,
                amount,
                entry.event_time_ms,
            ));
        }
    }
    state.watermark_ms = state.watermark_ms.max(entry.event_time_ms);
    let (watermark, grace) = (state.watermark_ms, config.grace_ms);
    for slot in state.periods.values_mut() {
        match &slot.closed {
            None if slot.end_ms.saturating_add(grace) <= watermark => {
                slot.closed = Some(Closed {
                    by: here.to_owned(),
                    at_ms: watermark,
                });
                emits.push(Closing::Settlement(slot.start.clone()));
            }
            // Processed again: emit what this record emitted before.
            Some(closed) if closed.by == here => {
                emits.push(Closing::Settlement(slot.start.clone()))
            }
            _ => {}
        }
    }
    emits
}

//! `settle-aggregate`: settlement periods from the ledger.
//!
//! Per `mo|publisher|currency` key and period (daily by event time by
//! default), total = finalized charges − upheld disputes. Each counted
//! entry is a row of its own, by contract id, so a replay or a retry never
//! counts one twice, and a key's state stays small: its watermark and its
//! open and recently closed periods ([`rows`] lists the rows).
//!
//! - **Closing.** A period closes when the key's event-time watermark (the
//!   latest event time of its ledger entries, or a `WATERMARK` entry on its
//!   partition) passes the period's end plus the grace period. Closing emits
//!   the period's settlement: split by the parties' settlement agreement
//!   ([`moneta_settlement::split`]), countersigned by Moneta, to the
//!   settlements topic, and as a `settlement.statement` webhook to both
//!   parties' endpoints that take it (adjustments too).
//! - **Late events.** An entry for a closed period becomes an adjustment
//!   record for that period (its own id, the delta split the same way);
//!   never a silent drop. A period closed longer than `keep_closed_ms`
//!   leaves the key's state for a row of its own, read back only for such
//!   a late entry.
//! - **Determinism.** A key's entries arrive in one partition, in order, so
//!   when a period closes depends only on the log. The record that closed a
//!   period is remembered: if it is processed again (a crash before the
//!   commit, a replay), the same settlement is emitted again, with the same
//!   id; readers de-duplicate by id. A key's state knows the last offset
//!   it applied, so a record at or below it is known to be processed again
//!   and the periods it closed are read back even after they left the state;
//!   an entry's row written before a crash that lost the key's state counts
//!   once, when its record comes again.

use std::sync::Arc;

use moneta_domain::Kind;
use moneta_records::{LedgerEntry, LedgerKind, Settlement};
use moneta_runtime::{Emit, Emitted, ProcessError, Record, Rejection, Stage};
use moneta_settlement::period::{PeriodLength, period_of};
use moneta_signing::KeyRing;
use moneta_state::cas::{self, Attempt};
use moneta_state::{Deliveries, Expect};
use serde::{Deserialize, Serialize};

use crate::contracts::PathContext;
use crate::webhook_dispatch::notify;

mod rows;
mod state;
mod statement;

use crate::ledger::aggregation_key;
pub use state::{
    Carry, Closed, Closing, Counted, Folded, KeyState, PeriodState, Position, Settled, fold,
    migrate,
};
pub use statement::signing_input;

/// The stage name.
pub const STAGE: &str = "settle-aggregate";

/// The event type of a settlement statement webhook.
pub const SETTLEMENT_STATEMENT: &str = "settlement.statement";

/// Index of key states by the ledger partition they live in.
const INDEX_PARTITION: &str = "partition";

/// `[settlement]`: how periods are cut and closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementConfig {
    /// `daily`, `weekly` (ISO weeks) or `monthly`, by event time (UTC).
    pub period: PeriodLength,
    /// How long after a period's end it stays open for late events, ms.
    pub grace_ms: i64,
    /// How long a closed period stays in its key's state after it closed,
    /// ms; then it moves to a row of its own (late events for it still
    /// become adjustments).
    pub keep_closed_ms: i64,
}

impl Default for SettlementConfig {
    fn default() -> Self {
        Self {
            period: PeriodLength::Daily,
            grace_ms: 3_600_000,
            keep_closed_ms: 86_400_000,
        }
    }
}

/// The settle-aggregate processor.
#[derive(Clone)]
pub struct SettleAggregate {
    ctx: PathContext,
    keys: Arc<KeyRing>,
    config: SettlementConfig,
    deliveries: Deliveries,
}

impl SettleAggregate {
    /// A settle-aggregate processor signing with `keys`.
    pub fn new(ctx: PathContext, keys: Arc<KeyRing>, config: SettlementConfig) -> Self {
        Self {
            deliveries: Deliveries::new(ctx.store.clone()),
            ctx,
            keys,
            config,
        }
    }

    async fn run(&self, entry: LedgerEntry, record: &Record) -> Result<Emitted, ProcessError> {
        let at = Position {
            here: format!("{}/{}/{}", record.topic, record.partition, record.offset),
            offset: record.offset,
        };
        let keys: Vec<String> = match entry.kind {
            LedgerKind::Watermark => self
                .ctx
                .store
                .lookup(
                    Kind::SettlementState,
                    INDEX_PARTITION,
                    &record.partition.to_string(),
                )
                .await?
                .into_iter()
                .map(|s| s.id)
                .collect(),
            _ => vec![aggregation_key(
                &entry.mo_id,
                &entry.publisher_id,
                &entry.currency,
            )],
        };
        let mut outputs = Vec::new();
        for key in keys {
            outputs.extend(self.apply(&key, &entry, record, &at).await?);
        }
        Ok(Emitted::of(outputs))
    }

    /// Applies `entry` to one key's state (compare-and-set), then builds what it emits.
    async fn apply(
        &self,
        key: &str,
        entry: &LedgerEntry,
        record: &Record,
        at: &Position,
    ) -> Result<Vec<Emit>, ProcessError> {
        let partition = record.partition;
        let store = self.ctx.store.as_ref();
        let folded = cas::retry(&format!("settlement key {key}"), || async {
            let stored = store.get(Kind::SettlementState, key).await?;
            let (mut state, expect) = match &stored {
                Some(s) => (
                    serde_json::from_slice::<KeyState>(&s.body).map_err(|e| {
                        ProcessError::corrupt(format!("settlement state {key}: {e}"))
                    })?,
                    Expect::Revision(s.revision),
                ),
                None => (
                    KeyState {
                        key: key.to_owned(),
                        mo_id: entry.mo_id.clone(),
                        publisher_id: entry.publisher_id.clone(),
                        currency: entry.currency.clone(),
                        partition,
                        ..KeyState::default()
                    },
                    Expect::Absent,
                ),
            };
            let before = state.clone();
            self.load(&mut state, entry, at).await?;
            let seen = match entry.kind {
                LedgerKind::Watermark => None,
                _ => rows::counted(store, key, &entry.entry_id).await?,
            };
            let folded = fold(
                &mut state,
                entry,
                seen.as_ref().map(|(row, _)| row),
                at,
                &self.config,
            );
            if let Some(row) = &folded.counted {
                rows::count(store, key, row, seen.map(|(_, revision)| revision)).await?;
            }
            let mut closings = folded.closings;
            for closing in &mut closings {
                if let Closing::Settlement(period, true) = closing {
                    let settled = self.settle(&mut state, period).await?;
                    if let Some(closed) = state
                        .periods
                        .get_mut(&period.start)
                        .and_then(|p| p.closed.as_mut())
                    {
                        closed.settled = Some(settled.clone());
                    }
                    if let Some(closed) = period.closed.as_mut() {
                        closed.settled = Some(settled);
                    }
                }
            }
            for period in &folded.archived {
                rows::archive(store, key, period).await?;
            }
            if state != before {
                let body = serde_json::to_vec(&state)
                    .map_err(|e| Rejection::new("unencodable", e.to_string()))?;
                let index = [(INDEX_PARTITION, state.partition.to_string())];
                let written = store
                    .put(Kind::SettlementState, key, &body, &index, expect)
                    .await;
                if let Attempt::Lost = cas::attempt(written)? {
                    return Ok(Attempt::Lost);
                }
            }
            Ok::<_, ProcessError>(Attempt::Done((state, closings)))
        })
        .await?;
        let (state, closings) = folded;
        let mut outputs = Vec::new();
        for closing in closings {
            let settlement = self.emit(&state, closing).await?;
            self.deliver(&settlement, record).await?;
            let (topic, id) = (
                self.ctx.topics.settlements.as_str(),
                settlement.settlement_id.clone(),
            );
            outputs.push(Emit::new(topic, id, settlement));
        }
        Ok(outputs)
    }

    /// Schedules the statement (the countersigned settlement or adjustment)
    /// for both parties' endpoints that take `settlement.statement`;
    /// idempotent, so emitting it again schedules nothing new.
    async fn deliver(&self, settlement: &Settlement, record: &Record) -> Result<(), ProcessError> {
        let parties = [settlement.mo_id.as_str(), settlement.publisher_id.as_str()];
        let (event, subject) = (SETTLEMENT_STATEMENT, &settlement.settlement_id);
        notify(
            &self.ctx,
            &self.deliveries,
            event,
            subject,
            parties,
            settlement,
            record,
        )
        .await
    }

    /// Decides what the settlement of `period`, closing now, takes in and
    /// carries: the key's carried balance is added to the period's total,
    /// and a total below the agreement's minimum (not 0) is carried on.
    async fn settle(
        &self,
        state: &mut KeyState,
        period: &PeriodState,
    ) -> Result<Settled, ProcessError> {
        let counted =
            rows::contributions(self.ctx.store.as_ref(), &state.key, &period.start).await?;
        let own: i64 = counted.iter().map(|c| c.amount_minor).sum();
        let carry = state.carry.take();
        let carried_in = carry.as_ref().map_or(0, |c| c.minor);
        let total = own.saturating_add(carried_in);
        let minimum = self
            .agreement(state, period)
            .await?
            .map_or(0, |a| a.min_settlement_minor);
        let carried_forward = total != 0 && total.unsigned_abs() < minimum.unsigned_abs();
        if carried_forward {
            state.carry = Some(Carry {
                minor: total,
                from: period.start.clone(),
            });
        }
        Ok(Settled {
            carried_in_minor: carried_in,
            carried_from: carry.map(|c| c.from),
            carried_forward,
        })
    }

    /// Brings into `state` what applying `entry` at `at` needs from outside
    /// it: rows of the earlier shape's contributions, the archived periods
    /// this record closed (when it is processed again), and the archived
    /// period a late entry belongs to.
    async fn load(
        &self,
        state: &mut KeyState,
        entry: &LedgerEntry,
        at: &Position,
    ) -> Result<(), ProcessError> {
        let store = self.ctx.store.as_ref();
        for row in migrate(state) {
            rows::recount(store, &state.key, &row).await?;
        }
        if at.offset <= state.applied_offset {
            for period in rows::closed_by(store, &state.key, &at.here).await? {
                state.periods.entry(period.start.clone()).or_insert(period);
            }
        }
        if entry.kind != LedgerKind::Watermark {
            let period = period_of(entry.event_time_ms, self.config.period);
            let left =
                !state.periods.contains_key(&period.start) && period.end_ms <= state.watermark_ms;
            if left && let Some(archived) = rows::archived(store, &state.key, &period.start).await?
            {
                state.periods.insert(period.start, archived);
            }
        }
        Ok(())
    }
}

impl Stage for SettleAggregate {
    type Input = LedgerEntry;

    async fn process(&self, entry: LedgerEntry, record: &Record) -> Result<Emitted, ProcessError> {
        self.run(entry, record).await
    }
}

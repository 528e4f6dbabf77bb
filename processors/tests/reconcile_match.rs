//! reconcile-match on its own view: ledger entries it read from the ledger
//! topic (by event date, every currency, watermarks ignored, idempotent),
//! the other party's reconciliation matched before, and a reconciliation
//! processed again re-emitting the report it first got.

mod support;

use moneta_processors::reconcile_match::{ReconcileMatch, ledger_key, pair_key};
use moneta_records::{
    self as records, ContractStatus, LedgerEntry, LedgerKind, LineOutcome, Message,
    ReconciliationReport,
};
use moneta_runtime::{Emitted, ProcessError, Stage};
use serde_json::json;
use support::*;

/// 2026-11-05T12:00:00Z, in ms.
const NOV_5: i64 = 1_793_880_000_000;
const DAY: i64 = 86_400_000;

fn entry(kind: LedgerKind, id: &str, amount: i64, currency: &str, at_ms: i64) -> Message {
    Message::LedgerEntry(LedgerEntry {
        kind,
        entry_id: id.into(),
        mo_id: MO.into(),
        publisher_id: PUBLISHER.into(),
        currency: currency.into(),
        amount_minor: amount,
        event_time_ms: at_ms,
        charge_contract_id: None,
    })
}

/// A finalized reconciliation by `by` (`mo` or `publisher`) for November.
fn reconciliation(id: &str, by: &str, records: serde_json::Value, created_at: i64) -> Message {
    let attributes = json!({"period_start": "2026-11-01", "period_end": "2026-11-30",
                            "submitted_by": by, "records": records});
    Message::Contract(records::Contract {
        contract_id: id.into(),
        version: 3,
        status: ContractStatus::Finalized,
        terms: terms(id, "reconciliation", "reconciliation", attributes),
        signatures: Vec::new(),
        event_id: "moneta/countersign".into(),
        partner_id: "moneta".into(),
        events: Vec::new(),
        created_at,
        finalized_at: Some(created_at),
    })
}

async fn feed(
    stage: &ReconcileMatch,
    input: Message,
    offset: i64,
) -> Result<Emitted, ProcessError> {
    let at = record("moneta.ledger.entries", offset, Some(TS));
    stage.process(input, &at).await
}

fn the_report(result: &Result<Emitted, ProcessError>) -> ReconciliationReport {
    match only(result).map(|e| &e.value) {
        Some(Message::ReconciliationReport(r)) => r.clone(),
        other => panic!("no report: {other:?} ({:?})", summary(result)),
    }
}

#[tokio::test]
async fn matches_against_its_own_view_of_the_ledger() {
    let world = World::new().await;
    let stage = ReconcileMatch::new(world.ctx.clone());
    for (offset, input) in [
        entry(LedgerKind::Charge, "c-1", 999, "EUR", NOV_5),
        entry(LedgerKind::Charge, "c-2", 500, "USD", NOV_5 + DAY),
        // A reversal: a dispute of c-1 upheld.
        entry(LedgerKind::Reversal, "d-1", -999, "EUR", NOV_5 + 2 * DAY),
        // Outside November: not Moneta's side of a November reconciliation.
        entry(LedgerKind::Charge, "c-oct", 100, "EUR", NOV_5 - 10 * DAY),
        entry(LedgerKind::Watermark, "", 0, "", NOV_5 + 40 * DAY),
        // The same entry again (a replay) counts once.
        entry(LedgerKind::Charge, "c-1", 999, "EUR", NOV_5),
    ]
    .into_iter()
    .enumerate()
    {
        let emitted = feed(&stage, input, offset as i64).await;
        assert_eq!(summary(&emitted), Ok(vec![]), "ledger entries emit nothing");
    }
    let publisher = reconciliation(
        "r-pub",
        "publisher",
        json!([{"contract_id": "c-1", "amount_minor": 999, "currency": "EUR"},
               {"contract_id": "c-2", "amount_minor": 500, "currency": "USD"},
               {"contract_id": "d-1", "amount_minor": -999, "currency": "EUR"}]),
        100,
    );
    let first = the_report(&feed(&stage, publisher.clone(), 10).await);
    assert_eq!((first.matched, first.mismatched), (3, 0), "{first:?}");
    assert_eq!(first.counterparty_reconciliation_id, None);

    let mo = reconciliation(
        "r-mo",
        "mo",
        json!([{"contract_id": "c-1", "amount_minor": 999, "currency": "EUR"},
               {"contract_id": "c-2", "amount_minor": 450, "currency": "USD"}]),
        200,
    );
    let second = the_report(&feed(&stage, mo, 11).await);
    assert_eq!(
        second.counterparty_reconciliation_id.as_deref(),
        Some("r-pub")
    );
    let lines: Vec<(&str, LineOutcome)> = second
        .lines
        .iter()
        .map(|l| (l.contract_id.as_str(), l.outcome))
        .collect();
    assert_eq!(
        lines,
        [
            ("c-1", LineOutcome::Matched),
            ("c-2", LineOutcome::AmountMismatch),
            ("d-1", LineOutcome::MissingOnTheirSide),
        ]
    );

    // The publisher's reconciliation again (a replay): the report it first
    // got, although the MO's has been matched since.
    let again = the_report(&feed(&stage, publisher, 12).await);
    assert_eq!(again, first);
    assert!(
        world
            .ctx
            .store
            .get(moneta_domain::Kind::ReconcileView, &pair_key(MO, PUBLISHER))
            .await
            .expect("read")
            .is_some(),
        "the view is reconcile-match's own row"
    );
}

#[tokio::test]
async fn a_corrupt_view_is_dead_lettered_and_an_outage_retried() {
    let world = World::new().await;
    let stage = ReconcileMatch::new(world.ctx.clone());
    world.store.set_down(true);
    let down = feed(&stage, entry(LedgerKind::Charge, "c-1", 1, "EUR", NOV_5), 1).await;
    assert_transient(&down);
    world.store.set_down(false);
    world
        .ctx
        .store
        .put(
            moneta_domain::Kind::ReconcileView,
            &ledger_key(MO, PUBLISHER, "2026-11-05"),
            b"{not json",
            &[],
            moneta_state::Expect::Absent,
        )
        .await
        .expect("corrupt the row");
    let corrupt = feed(&stage, entry(LedgerKind::Charge, "c-1", 1, "EUR", NOV_5), 2).await;
    assert_eq!(dead_letter(&corrupt).as_deref(), Some("corrupt_state"));
}

#[tokio::test]
async fn a_pair_row_of_the_earlier_shape_still_counts_its_ledger_entries() {
    let world = World::new().await;
    let stage = ReconcileMatch::new(world.ctx.clone());
    // Written before ledger entries moved to rows by day: the pair's row
    // held them all.
    let legacy = json!({
        "ledger": {"c-old": {"amount_minor": 700, "currency": "EUR", "event_time_ms": NOV_5}},
        "reconciliations": {}
    });
    world
        .ctx
        .store
        .put(
            moneta_domain::Kind::ReconcileView,
            &pair_key(MO, PUBLISHER),
            legacy.to_string().as_bytes(),
            &[],
            moneta_state::Expect::Absent,
        )
        .await
        .expect("an earlier row");
    let new = entry(LedgerKind::Charge, "c-new", 300, "EUR", NOV_5 + DAY);
    assert_eq!(summary(&feed(&stage, new, 1).await), Ok(vec![]));
    let publisher = reconciliation(
        "r-legacy",
        "publisher",
        json!([{"contract_id": "c-old", "amount_minor": 700, "currency": "EUR"},
               {"contract_id": "c-new", "amount_minor": 300, "currency": "EUR"}]),
        100,
    );
    let report = the_report(&feed(&stage, publisher.clone(), 2).await);
    assert_eq!((report.matched, report.mismatched), (2, 0), "{report:?}");
    // Matching it kept the earlier entries in the row.
    let again = the_report(&feed(&stage, publisher, 3).await);
    assert_eq!(again, report);
    let row = world
        .ctx
        .store
        .get(moneta_domain::Kind::ReconcileView, &pair_key(MO, PUBLISHER))
        .await
        .expect("read")
        .expect("the pair's row");
    let row: serde_json::Value = serde_json::from_slice(&row.body).expect("json");
    assert_eq!(row["ledger"]["c-old"]["amount_minor"], 700);
    assert!(row["reconciliations"]["r-legacy"].is_object());
}

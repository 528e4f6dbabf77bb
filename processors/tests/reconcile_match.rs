//! reconcile-match on its own view: ledger entries it read from the ledger
//! topic (by event date, every currency, watermarks ignored, idempotent),
//! the other party's reconciliation matched before, and a reconciliation
//! processed again re-emitting the report it first got.

mod support;

use moneta_processors::reconcile_match::{ReconcileMatch, ledger_key, pair_key};
use moneta_records::{
    self as records, ComparisonLine, ComparisonOutcome, ContractStatus, LedgerEntry, LedgerKind,
    LineOutcome, Message, ReconciliationReport, SettlementComparison,
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
        disputes: Vec::new(),
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

/// Moneta's settlement of `day` counting `contracts` (the ledger's amounts sum to `total`).
fn computed(day: &str, total: i64, contracts: &[&str]) -> Message {
    Message::Settlement(records::Settlement {
        settlement_id: format!("stl:{MO}:{PUBLISHER}:EUR:{day}"),
        kind: records::SettlementKind::Settlement,
        adjusts: None,
        mo_id: MO.into(),
        publisher_id: PUBLISHER.into(),
        currency: "EUR".into(),
        period_start: day.into(),
        period_end: day.into(),
        agreement_id: Some(AGREEMENT.into()),
        total_minor: total,
        publisher_minor: total,
        mo_minor: 0,
        moneta_fee_minor: 0,
        unallocated_minor: 0,
        contracts: contracts.iter().map(|c| (*c).to_owned()).collect(),
        closed_at_ms: 0,
        signature: records::MonetaSignature {
            key_id: MONETA_KEY.into(),
            signature: String::new(),
        },
        carried_in_minor: 0,
        carried_from: None,
        carried_forward_minor: 0,
    })
}

/// A settlement of `day` submitted by the parties, finalized, listing `lines`.
fn submitted(id: &str, day: &str, total: i64, lines: serde_json::Value) -> Message {
    let attributes = json!({"agreement_id": AGREEMENT, "period_start": day, "period_end": day,
        "currency": "EUR", "total_minor": total, "publisher_minor": total, "mo_minor": 0,
        "moneta_fee_minor": 0, "contracts": lines});
    Message::Contract(records::Contract {
        contract_id: id.into(),
        version: 3,
        status: ContractStatus::Finalized,
        terms: terms(id, "settlement", "settlement", attributes),
        signatures: Vec::new(),
        event_id: "moneta/countersign".into(),
        partner_id: "moneta".into(),
        events: Vec::new(),
        created_at: 100,
        finalized_at: Some(100),
        disputes: Vec::new(),
    })
}

fn comparisons(result: &Result<Emitted, ProcessError>) -> Vec<SettlementComparison> {
    summary(result)
        .expect("processed")
        .into_iter()
        .map(|e| match e.value {
            Message::SettlementComparison(c) => c,
            other => panic!("not a comparison: {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn a_submitted_settlement_is_agreed_or_names_the_contract_that_differs() {
    let world = World::new().await;
    let stage = ReconcileMatch::new(world.ctx.clone());
    for (offset, (id, amount)) in [("c-1", 999), ("c-2", 500), ("c-3", 100)]
        .into_iter()
        .enumerate()
    {
        let kept = feed(
            &stage,
            entry(LedgerKind::Charge, id, amount, "EUR", NOV_5),
            offset as i64,
        )
        .await;
        assert_eq!(summary(&kept), Ok(vec![]));
    }
    let nov_5 = "2026-11-05";
    assert!(
        comparisons(&feed(&stage, computed(nov_5, 1599, &["c-1", "c-2", "c-3"]), 3).await)
            .is_empty()
    );

    let all = json!([{"contract_id": "c-1", "amount_minor": 999},
                     {"contract_id": "c-2", "amount_minor": 500},
                     {"contract_id": "c-3", "amount_minor": 100}]);
    let agreed = comparisons(&feed(&stage, submitted("s-agree", nov_5, 1599, all), 4).await);
    assert_eq!(agreed.len(), 1);
    assert_eq!(
        (
            agreed[0].outcome,
            agreed[0].matched,
            agreed[0].mismatched,
            agreed[0].settlement_id.as_str()
        ),
        (
            ComparisonOutcome::Agreed,
            3,
            0,
            "stl:mo-1:pub-1:EUR:2026-11-05"
        )
    );

    // One contract short: a discrepancy naming it.
    let short = json!([{"contract_id": "c-1", "amount_minor": 999},
                       {"contract_id": "c-2", "amount_minor": 500}]);
    let differs =
        comparisons(&feed(&stage, submitted("s-short", nov_5, 1499, short.clone()), 5).await);
    let d = &differs[0];
    assert_eq!(
        (d.outcome, d.computed_total_minor, d.submitted_total_minor),
        (ComparisonOutcome::Discrepancy, 1599, 1499)
    );
    assert_eq!(
        d.lines,
        [ComparisonLine {
            contract_id: "c-3".into(),
            outcome: LineOutcome::MissingOnTheirSide,
            computed_amount_minor: Some(100),
            submitted_amount_minor: None,
        }]
    );
    // Processed again: the same comparison.
    assert_eq!(
        comparisons(&feed(&stage, submitted("s-short", nov_5, 1499, short), 6).await),
        differs
    );

    // Submitted before Moneta's settlement of Nov 6: compared when it comes.
    let nov_6 = "2026-11-06";
    let early = json!([{"contract_id": "c-6", "amount_minor": 60}]);
    assert!(comparisons(&feed(&stage, submitted("s-early", nov_6, 60, early), 7).await).is_empty());
    let kept = feed(
        &stage,
        entry(LedgerKind::Charge, "c-6", 61, "EUR", NOV_5 + DAY),
        8,
    )
    .await;
    assert_eq!(summary(&kept), Ok(vec![]));
    let arrived = comparisons(&feed(&stage, computed(nov_6, 61, &["c-6"]), 9).await);
    assert_eq!(arrived.len(), 1, "{arrived:?}");
    assert_eq!(arrived[0].submitted_contract_id, "s-early");
    assert_eq!(
        (
            arrived[0].lines[0].outcome,
            arrived[0].lines[0].computed_amount_minor
        ),
        (LineOutcome::AmountMismatch, Some(61))
    );
    // Moneta's settlement processed again (a crash before the commit): the same.
    assert_eq!(
        comparisons(&feed(&stage, computed(nov_6, 61, &["c-6"]), 9).await),
        arrived
    );
}

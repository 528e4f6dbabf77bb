//! settle-aggregate's folding of ledger entries, and the ledger's mapping
//! of contracts: late events, upheld-dispute reversals, currency
//! separation, replays, and (property) totals that equal the inputs.

use std::collections::{BTreeMap, HashSet};

use moneta_processors::ledger::{aggregation_key, entry};
use moneta_processors::settle_aggregate::{Closing, KeyState, SettlementConfig, fold};
use moneta_records::{Contract, ContractStatus, ContractTerms, LedgerEntry, LedgerKind};
use proptest::prelude::*;

const DAY: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z.
const NOV_1: i64 = 1_793_491_200_000;

fn charge(id: &str, amount: i64, at_ms: i64) -> LedgerEntry {
    LedgerEntry {
        kind: LedgerKind::Charge,
        entry_id: id.into(),
        mo_id: "mo".into(),
        publisher_id: "pub".into(),
        currency: "EUR".into(),
        amount_minor: amount,
        event_time_ms: at_ms,
        charge_contract_id: None,
    }
}

fn state() -> KeyState {
    KeyState {
        key: aggregation_key("mo", "pub", "EUR"),
        mo_id: "mo".into(),
        publisher_id: "pub".into(),
        currency: "EUR".into(),
        ..KeyState::default()
    }
}

/// Total of an emission, as settle-aggregate would report it.
fn total(state: &KeyState, emit: &Closing) -> i64 {
    match emit {
        Closing::Settlement(start) => state.periods[start].contributions.values().sum(),
        Closing::Adjustment(_, _, amount, _) => *amount,
    }
}

#[test]
fn a_period_closes_on_the_watermark_and_a_late_event_becomes_an_adjustment() {
    let config = SettlementConfig::default(); // daily, 1 h grace
    let mut s = state();
    assert!(fold(&mut s, &charge("c1", 1000, NOV_1 + 1), "t/0/0", &config).is_empty());
    assert!(
        fold(
            &mut s,
            &charge("c2", 500, NOV_1 + DAY / 2),
            "t/0/1",
            &config
        )
        .is_empty()
    );
    // The next day, within the grace hour: still open.
    assert!(
        fold(
            &mut s,
            &charge("c3", 7, NOV_1 + DAY + 1000),
            "t/0/2",
            &config
        )
        .is_empty()
    );
    // Past the grace hour: Nov 1 closes with c1 + c2.
    let emits = fold(
        &mut s,
        &charge("c4", 3, NOV_1 + DAY + 3_600_000),
        "t/0/3",
        &config,
    );
    assert!(matches!(&emits[..], [Closing::Settlement(d)] if d == "2026-11-01"));
    assert_eq!(total(&s, &emits[0]), 1500);
    // Processing the closing record again re-emits the same settlement.
    let mut again = s.clone();
    let replay = fold(
        &mut again,
        &charge("c4", 3, NOV_1 + DAY + 3_600_000),
        "t/0/3",
        &config,
    );
    assert!(matches!(&replay[..], [Closing::Settlement(d)] if d == "2026-11-01"));
    assert_eq!(again, s, "a replay changes no state");
    // A late Nov 1 charge: an adjustment, never a silent drop; once only.
    let late = fold(&mut s, &charge("c5", 40, NOV_1 + 5), "t/0/4", &config);
    assert!(
        matches!(&late[..], [Closing::Adjustment(d, c, 40, _)] if d == "2026-11-01" && c == "c5")
    );
    let before = s.clone();
    let late_again = fold(&mut s, &charge("c5", 40, NOV_1 + 5), "t/0/9", &config);
    assert!(
        matches!(&late_again[..], [Closing::Adjustment(_, c, 40, _)] if c == "c5"),
        "same adjustment, same id"
    );
    assert_eq!(s, before);
    // A replayed contribution of the closed period adds nothing.
    assert!(fold(&mut s, &charge("c1", 1000, NOV_1 + 1), "t/0/10", &config).is_empty());
}

fn contract(contract_type: &str, terms: serde_json::Value) -> Contract {
    Contract {
        contract_id: format!("c-{contract_type}"),
        version: 3,
        status: ContractStatus::Finalized,
        terms: ContractTerms {
            contract_id: format!("c-{contract_type}"),
            contract_type: contract_type.into(),
            template_name: contract_type.into(),
            template_version: 1,
            mo_id: "mo".into(),
            publisher_id: "pub".into(),
            mpass_id: None,
            description: String::new(),
            terms_json: terms.to_string(),
        },
        signatures: vec![],
        event_id: "moneta/countersign".into(),
        partner_id: "moneta".into(),
        events: vec![],
        created_at: 0,
        finalized_at: Some(1),
    }
}

#[test]
fn an_upheld_dispute_reverses_its_charge_and_others_move_nothing() {
    let charge = contract(
        "subscription_charge",
        serde_json::json!({"amount_minor": 999, "currency": "EUR", "charged_at": "2026-11-01T10:00:00Z"}),
    );
    let dispute = |resolution: &str| {
        contract(
            "dispute",
            serde_json::json!({"charge_contract_id": "c-subscription_charge", "amount_minor": 999,
                "currency": "EUR", "opened_at": "2026-11-01T12:00:00Z", "resolution": resolution}),
        )
    };
    let c = entry(&charge).expect("ok").expect("a charge");
    assert_eq!((c.kind, c.amount_minor), (LedgerKind::Charge, 999));
    let r = entry(&dispute("upheld")).expect("ok").expect("a reversal");
    assert_eq!((r.kind, r.amount_minor), (LedgerKind::Reversal, -999));
    assert_eq!(
        r.charge_contract_id.as_deref(),
        Some("c-subscription_charge")
    );
    assert!(entry(&dispute("rejected")).expect("ok").is_none());
    assert!(entry(&dispute("open")).expect("ok").is_none());

    let config = SettlementConfig::default();
    let mut s = state();
    fold(&mut s, &c, "t/0/0", &config);
    fold(&mut s, &r, "t/0/1", &config);
    let emits = fold(&mut s, &charge_at(NOV_1 + 2 * DAY), "t/0/2", &config);
    assert_eq!(
        total(&s, &emits[0]),
        0,
        "the upheld dispute cancels the charge"
    );
}

fn charge_at(at_ms: i64) -> LedgerEntry {
    charge("later", 1, at_ms)
}

#[test]
fn currencies_settle_separately() {
    let eur = charge("c-eur", 100, NOV_1);
    let usd = LedgerEntry {
        currency: "USD".into(),
        entry_id: "c-usd".into(),
        ..charge("c-usd", 70, NOV_1)
    };
    assert_ne!(
        aggregation_key(&eur.mo_id, &eur.publisher_id, &eur.currency),
        aggregation_key(&usd.mo_id, &usd.publisher_id, &usd.currency)
    );
    let config = SettlementConfig::default();
    let (mut a, mut b) = (
        state(),
        KeyState {
            currency: "USD".into(),
            ..state()
        },
    );
    fold(&mut a, &eur, "t/0/0", &config);
    fold(&mut b, &usd, "t/1/0", &config);
    let ea = fold(&mut a, &charge_at(NOV_1 + 2 * DAY), "t/0/1", &config);
    let eb = fold(
        &mut b,
        &LedgerEntry {
            currency: "USD".into(),
            ..charge_at(NOV_1 + 2 * DAY)
        },
        "t/1/1",
        &config,
    );
    assert_eq!((total(&a, &ea[0]), total(&b, &eb[0])), (100, 70));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever the order, lateness and replays, once every period has
    /// closed, settlements plus adjustments equal the inputs, each counted once.
    #[test]
    fn settled_totals_equal_the_inputs(
        entries in proptest::collection::vec((0i64..20 * DAY, -5_000i64..50_000), 1..60),
        replays in proptest::collection::vec(0usize..60, 0..20),
    ) {
        let config = SettlementConfig::default();
        let mut s = state();
        let mut emitted: BTreeMap<String, i64> = BTreeMap::new();
        let mut log: Vec<LedgerEntry> = entries
            .iter()
            .enumerate()
            .map(|(i, (at, amount))| charge(&format!("c{i}"), *amount, NOV_1 + at))
            .collect();
        for r in replays {
            if let Some(e) = log.get(r % log.len()).cloned() {
                log.push(e);
            }
        }
        log.push(LedgerEntry { kind: LedgerKind::Watermark, ..charge_at(NOV_1 + 40 * DAY) });
        let mut seen = HashSet::new();
        for (offset, e) in log.iter().enumerate() {
            for emit in fold(&mut s, e, &format!("t/0/{offset}"), &config) {
                let id = match &emit {
                    Closing::Settlement(d) => format!("stl:{d}"),
                    Closing::Adjustment(d, c, _, _) => format!("stl:{d}:adj:{c}"),
                };
                let amount = total(&s, &emit);
                // The same id always carries the same amount.
                if let Some(previous) = emitted.insert(id.clone(), amount) {
                    prop_assert_eq!(previous, amount, "{} changed", id);
                }
                seen.insert(id);
            }
        }
        let inputs: i64 = entries.iter().map(|(_, a)| a).sum();
        let outputs: i64 = emitted.values().sum();
        prop_assert_eq!(outputs, inputs);
        prop_assert!(s.periods.values().all(|p| p.closed.is_some()));
    }
}

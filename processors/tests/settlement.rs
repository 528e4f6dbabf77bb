//! settle-aggregate on a real embedded store: periods closing on the
//! watermark, late events as adjustments, upheld-dispute reversals,
//! currency separation, replays, a new pair's first charge, a key's state
//! that keeps only recent periods, a state of the earlier shape, and
//! (property) totals that equal the inputs.

mod support;

use std::collections::BTreeMap;

use moneta_domain::Kind;
use moneta_domain::{SettlementAgreement, WebhookEndpoint};
use moneta_processors::ledger::{aggregation_key, entry};
use moneta_processors::settle_aggregate::{
    KeyState, SettleAggregate, SettlementConfig, signing_input,
};
use moneta_records::{
    Contract, ContractStatus, ContractTerms, LedgerEntry, LedgerKind, Message, Settlement,
    SettlementKind,
};
use moneta_runtime::{Record, Stage};
use moneta_settlement::period::PeriodLength;
use moneta_state::Deliveries;
use moneta_state::Expect;
use proptest::prelude::*;
use support::{AGREEMENT, MO, PUBLISHER, World, moneta_keys};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// 2026-11-01T00:00:00Z.
const NOV_1: i64 = 1_793_491_200_000;
const LEDGER: &str = "moneta.ledger.entries";

fn charge(id: &str, amount: i64, at_ms: i64) -> LedgerEntry {
    LedgerEntry {
        kind: LedgerKind::Charge,
        entry_id: id.into(),
        mo_id: MO.into(),
        publisher_id: PUBLISHER.into(),
        currency: "EUR".into(),
        amount_minor: amount,
        event_time_ms: at_ms,
        charge_contract_id: None,
    }
}

fn watermark(at_ms: i64) -> LedgerEntry {
    LedgerEntry::watermark(at_ms)
}

/// A settle-aggregate stage over a fresh store, and the offset it is at.
struct Ledger {
    world: World,
    stage: SettleAggregate,
    next: i64,
}

impl Ledger {
    async fn new(config: SettlementConfig) -> Self {
        let world = World::new().await;
        let stage = SettleAggregate::new(world.ctx.clone(), moneta_keys(), config);
        Self {
            world,
            stage,
            next: 0,
        }
    }

    /// Appends `entry` to the ledger and processes it.
    async fn append(&mut self, entry: LedgerEntry) -> Vec<Settlement> {
        self.next += 1;
        self.at(self.next - 1, entry).await
    }

    /// Processes `entry` as the record at `offset` (again, if it is below the next).
    async fn at(&self, offset: i64, entry: LedgerEntry) -> Vec<Settlement> {
        let record = Record {
            topic: LEDGER.into(),
            partition: 0,
            offset,
            key: None,
            payload: None,
            headers: vec![],
            timestamp_ms: Some(support::TS),
            stream_time: Default::default(),
        };
        let emitted = self
            .stage
            .process(entry, &record)
            .await
            .expect("settle-aggregate processes the entry");
        emitted
            .outputs
            .into_iter()
            .map(|emit| match emit.value {
                Message::Settlement(s) => s,
                other => panic!("not a settlement: {other:?}"),
            })
            .collect()
    }

    /// The stored state of the MO–publisher key in `currency`.
    async fn state(&self, currency: &str) -> KeyState {
        let key = aggregation_key(MO, PUBLISHER, currency);
        let row = self
            .world
            .ctx
            .store
            .get(Kind::SettlementState, &key)
            .await
            .expect("store")
            .expect("the key has a state");
        serde_json::from_slice(&row.body).expect("state decodes")
    }
}

/// `(id, total, contracts)` of each settlement.
fn brief(settlements: &[Settlement]) -> Vec<(String, i64, Vec<String>)> {
    settlements
        .iter()
        .map(|s| (s.settlement_id.clone(), s.total_minor, s.contracts.clone()))
        .collect()
}

fn id(start: &str) -> String {
    format!("stl:{MO}:{PUBLISHER}:EUR:{start}")
}

#[tokio::test]
async fn a_period_closes_on_the_watermark_and_a_late_event_becomes_an_adjustment() {
    let mut ledger = Ledger::new(SettlementConfig::default()).await; // daily, 1 h grace
    assert!(
        ledger
            .append(charge("c1", 1000, NOV_1 + 1))
            .await
            .is_empty()
    );
    assert!(
        ledger
            .append(charge("c2", 500, NOV_1 + DAY / 2))
            .await
            .is_empty()
    );
    // The next day, within the grace hour: still open.
    assert!(
        ledger
            .append(charge("c3", 7, NOV_1 + DAY + 1000))
            .await
            .is_empty()
    );
    // Past the grace hour: Nov 1 closes with c1 + c2, split by the agreement.
    let closed = ledger.append(charge("c4", 3, NOV_1 + DAY + HOUR)).await;
    assert_eq!(
        brief(&closed),
        [(id("2026-11-01"), 1500, vec!["c1".into(), "c2".into()])]
    );
    let s = &closed[0];
    assert_eq!(s.kind, SettlementKind::Settlement);
    assert_eq!(s.agreement_id.as_deref(), Some(AGREEMENT));
    assert_eq!(
        (s.publisher_minor, s.mo_minor, s.moneta_fee_minor),
        (1050, 375, 75)
    );
    // Processing the closing record again re-emits the same settlement.
    let state = ledger.state("EUR").await;
    let again = ledger.at(3, charge("c4", 3, NOV_1 + DAY + HOUR)).await;
    assert_eq!(brief(&again), brief(&closed));
    assert_eq!(
        ledger.state("EUR").await,
        state,
        "a replay changes no state"
    );
    // A late Nov 1 charge: an adjustment, never a silent drop; once only.
    let late = ledger.append(charge("c5", 40, NOV_1 + 5)).await;
    let adj = format!("{}:adj:c5", id("2026-11-01"));
    assert_eq!(brief(&late), [(adj.clone(), 40, vec!["c5".into()])]);
    assert_eq!(late[0].adjusts.as_deref(), Some(id("2026-11-01").as_str()));
    let late_again = ledger.append(charge("c5", 40, NOV_1 + 5)).await;
    assert_eq!(brief(&late_again), brief(&late), "same adjustment, same id");
    // A replayed contribution of the closed period adds nothing.
    assert!(
        ledger
            .append(charge("c1", 1000, NOV_1 + 1))
            .await
            .is_empty()
    );
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
        disputes: Vec::new(),
    }
}

#[tokio::test]
async fn an_upheld_dispute_reverses_its_charge_and_others_move_nothing() {
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

    let mut ledger = Ledger::new(SettlementConfig::default()).await;
    let (mut c, mut r) = (c, r);
    (c.mo_id, c.publisher_id, r.mo_id, r.publisher_id) =
        (MO.into(), PUBLISHER.into(), MO.into(), PUBLISHER.into());
    ledger.append(c).await;
    ledger.append(r).await;
    let closed = ledger.append(watermark(NOV_1 + 2 * DAY)).await;
    assert_eq!(
        closed.iter().map(|s| s.total_minor).collect::<Vec<_>>(),
        [0],
        "the upheld dispute cancels the charge"
    );
}

#[tokio::test]
async fn currencies_settle_separately() {
    let eur = charge("c-eur", 100, NOV_1);
    let usd = LedgerEntry {
        currency: "USD".into(),
        ..charge("c-usd", 70, NOV_1)
    };
    assert_ne!(
        aggregation_key(&eur.mo_id, &eur.publisher_id, &eur.currency),
        aggregation_key(&usd.mo_id, &usd.publisher_id, &usd.currency)
    );
    let mut ledger = Ledger::new(SettlementConfig::default()).await;
    ledger.append(eur).await;
    ledger.append(usd).await;
    let mut closed = ledger.append(watermark(NOV_1 + 2 * DAY)).await;
    closed.sort_by(|a, b| a.currency.cmp(&b.currency));
    let totals: Vec<(&str, i64, Option<&str>)> = closed
        .iter()
        .map(|s| {
            (
                s.currency.as_str(),
                s.total_minor,
                s.agreement_id.as_deref(),
            )
        })
        .collect();
    // No agreement in USD: the whole total is unallocated.
    assert_eq!(totals, [("EUR", 100, Some(AGREEMENT)), ("USD", 70, None)]);
    assert_eq!(closed[1].unallocated_minor, 70);
}

#[tokio::test]
async fn a_new_pairs_first_charge_settles_in_its_own_day() {
    let mut ledger = Ledger::new(SettlementConfig::default()).await;
    // One pair is days ahead on the partition, and a watermark passed.
    ledger.append(charge("a1", 10, NOV_1 + 4 * DAY)).await;
    ledger.append(watermark(NOV_1 + 5 * DAY)).await;
    // Another pair's first charge, dated before both.
    let first = LedgerEntry {
        mo_id: "mo-2".into(),
        ..charge("b1", 250, NOV_1 + HOUR)
    };
    assert!(
        ledger.append(first).await.is_empty(),
        "not an adjustment: the pair's period is open"
    );
    let closed = ledger.append(watermark(NOV_1 + 6 * DAY)).await;
    let theirs: Vec<_> = closed.iter().filter(|s| s.mo_id == "mo-2").collect();
    assert_eq!(theirs.len(), 1, "{closed:?}");
    assert_eq!(
        (
            theirs[0].kind,
            theirs[0].period_start.as_str(),
            theirs[0].total_minor
        ),
        (SettlementKind::Settlement, "2026-11-01", 250)
    );
}

#[tokio::test]
async fn a_key_keeps_only_its_recent_periods_and_late_events_still_adjust() {
    let config = SettlementConfig {
        keep_closed_ms: DAY,
        ..SettlementConfig::default()
    };
    let mut ledger = Ledger::new(config).await;
    let mut settled = BTreeMap::new();
    for day in 0..30 {
        for n in 0..3 {
            let at = NOV_1 + day * DAY + n * HOUR;
            for s in ledger
                .append(charge(&format!("c{day}-{n}"), 100 + n, at))
                .await
            {
                settled.insert(s.settlement_id.clone(), s.total_minor);
            }
        }
    }
    assert_eq!(settled.len(), 29, "every day but the last settled");
    assert!(settled.values().all(|t| *t == 303));
    let state = ledger.state("EUR").await;
    assert!(
        state.periods.len() <= 3,
        "30 days in, the key keeps {} periods",
        state.periods.len()
    );
    // Nov 5 left the key's state long ago: a late entry still adjusts it.
    let late = ledger.append(charge("late", 9, NOV_1 + 4 * DAY + 1)).await;
    let adj = format!("{}:adj:late", id("2026-11-05"));
    assert_eq!(brief(&late), [(adj, 9, vec!["late".into()])]);
    assert_eq!(
        ledger.append(charge("late", 9, NOV_1 + 4 * DAY + 1)).await,
        late
    );
    // An entry counted in Nov 5's settlement, replayed: nothing twice.
    assert!(
        ledger
            .append(charge("c4-1", 101, NOV_1 + 4 * DAY + HOUR))
            .await
            .is_empty()
    );
    assert!(ledger.state("EUR").await.periods.len() <= 3);
}

#[tokio::test]
async fn a_record_processed_again_re_emits_what_it_closed_after_the_period_left_the_state() {
    let config = SettlementConfig {
        keep_closed_ms: 0,
        ..SettlementConfig::default()
    };
    let mut ledger = Ledger::new(config).await;
    ledger.append(charge("c1", 70, NOV_1)).await;
    // Closes Nov 1 ...
    let closing = ledger.append(charge("c2", 5, NOV_1 + DAY + HOUR)).await;
    assert_eq!(brief(&closing), [(id("2026-11-01"), 70, vec!["c1".into()])]);
    // ... which the next record moves out of the key's state (closing Nov 2).
    let next = ledger.append(charge("c3", 5, NOV_1 + 3 * DAY)).await;
    assert_eq!(brief(&next), [(id("2026-11-02"), 5, vec!["c2".into()])]);
    assert!(!ledger.state("EUR").await.periods.contains_key("2026-11-01"));
    // A crash before the transaction committed both: both come again.
    assert_eq!(
        ledger.at(1, charge("c2", 5, NOV_1 + DAY + HOUR)).await,
        closing
    );
    assert_eq!(ledger.at(2, charge("c3", 5, NOV_1 + 3 * DAY)).await, next);
}

#[tokio::test]
async fn a_state_of_the_earlier_shape_keeps_its_counted_entries() {
    let mut ledger = Ledger::new(SettlementConfig::default()).await;
    let key = aggregation_key(MO, PUBLISHER, "EUR");
    // As the stage wrote it before entries had rows of their own.
    let earlier = serde_json::json!({
        "key": key, "mo_id": MO, "publisher_id": PUBLISHER, "currency": "EUR",
        "partition": 0, "watermark_ms": NOV_1 + HOUR,
        "periods": {"2026-11-01": {
            "start": "2026-11-01", "end": "2026-11-01", "end_ms": NOV_1 + DAY,
            "contributions": {"old-1": 300, "old-2": 200}, "adjustments": {}, "closed": null
        }}
    });
    ledger
        .world
        .ctx
        .store
        .put(
            Kind::SettlementState,
            &key,
            earlier.to_string().as_bytes(),
            &[("partition", "0".into())],
            Expect::Absent,
        )
        .await
        .expect("seed the earlier state");
    ledger.next = 10;
    // One of them replayed counts nothing; a new one counts.
    ledger.append(charge("old-1", 300, NOV_1 + 1)).await;
    ledger.append(charge("new-1", 5, NOV_1 + 2)).await;
    let closed = ledger.append(watermark(NOV_1 + 2 * DAY)).await;
    assert_eq!(
        brief(&closed),
        [(
            id("2026-11-01"),
            505,
            vec!["new-1".into(), "old-1".into(), "old-2".into()]
        )]
    );
    let state = ledger.state("EUR").await;
    assert!(state.periods.values().all(|p| p.contributions.is_empty()));
}

#[tokio::test]
async fn a_period_below_the_minimum_is_carried_to_the_next_settlement() {
    let mut ledger = Ledger::new(SettlementConfig::default()).await;
    let registry = &ledger.world.ctx.registry;
    let mut agreement = registry
        .get::<SettlementAgreement>(AGREEMENT)
        .await
        .expect("registry")
        .expect("agreement");
    agreement.entity.min_settlement_minor = 1000;
    registry
        .update(&agreement.entity, agreement.revision)
        .await
        .expect("set the minimum");
    let mut settled = Vec::new();
    for (day, amount) in [(0, 300), (1, 500), (2, 400), (3, 50)] {
        let entry = charge(&format!("c{day}"), amount, NOV_1 + day * DAY);
        settled.extend(ledger.append(entry).await);
    }
    let closing = ledger.append(watermark(NOV_1 + 5 * DAY)).await;
    settled.extend(closing.clone());
    /// Period, total, carried in, from, carried forward, parts.
    type Row = (String, i64, i64, Option<String>, i64, [i64; 3]);
    let rows: Vec<Row> = settled
        .iter()
        .map(|s| {
            (
                s.period_start.clone(),
                s.total_minor,
                s.carried_in_minor,
                s.carried_from.clone(),
                s.carried_forward_minor,
                [s.publisher_minor, s.mo_minor, s.moneta_fee_minor],
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("2026-11-01".into(), 300, 0, None, 300, [0, 0, 0]),
            (
                "2026-11-02".into(),
                800,
                300,
                Some(id("2026-11-01")),
                800,
                [0, 0, 0]
            ),
            (
                "2026-11-03".into(),
                1200,
                800,
                Some(id("2026-11-02")),
                0,
                [840, 300, 60]
            ),
            ("2026-11-04".into(), 50, 0, None, 50, [0, 0, 0]),
        ]
    );
    // The closing record processed again: the same records, carries and all.
    assert_eq!(ledger.at(4, watermark(NOV_1 + 5 * DAY)).await, closing);
    // Finance's check: the chain adds up; 50 is still carried.
    let entries: Vec<LedgerEntry> = (0..4)
        .zip([300, 500, 400, 50])
        .map(|(day, amount)| charge(&format!("c{day}"), amount, NOV_1 + day * DAY))
        .collect();
    let scope = moneta_settlement::Scope {
        from: "2026-11-01".into(),
        to: "2026-11-30".into(),
        ..Default::default()
    };
    let v = moneta_settlement::verify(&entries, &settled, PeriodLength::Daily, &scope);
    assert_eq!((v.differences.len(), v.carried_minor), (0, 50), "{v:?}");
    // A settlement with nothing carried signs the bytes it signed before.
    let plain = signing_input(&settled[2]).expect("canonical");
    assert!(String::from_utf8_lossy(&plain).contains("carried_in_minor"));
    let uncarried = Settlement {
        carried_forward_minor: 0,
        ..settled[0].clone()
    };
    let none = signing_input(&uncarried).expect("canonical");
    assert!(!String::from_utf8_lossy(&none).contains("carried_in"));
}

#[tokio::test]
async fn a_settlement_statement_reaches_both_parties_once() {
    let mut ledger = Ledger::new(SettlementConfig::default()).await;
    for (id, org) in [("wh-mo", MO), ("wh-pub", PUBLISHER)] {
        let endpoint = WebhookEndpoint {
            id: id.into(),
            organization_id: org.into(),
            url: format!("https://{id}.example/hook"),
            event_types: vec!["settlement.statement".into()],
            enabled: true,
            secret: None,
            created_at: 0,
            max_attempts: None,
            timeout_ms: None,
            previous_secret: None,
            previous_secret_until: None,
        };
        ledger
            .world
            .ctx
            .registry
            .create(&endpoint)
            .await
            .expect("endpoint");
    }
    ledger.append(charge("c1", 1000, NOV_1)).await;
    let closed = ledger.append(watermark(NOV_1 + 2 * DAY)).await;
    assert_eq!(closed.len(), 1);
    // Emitted again (a crash before the commit): nothing new scheduled.
    assert_eq!(ledger.at(1, watermark(NOV_1 + 2 * DAY)).await, closed);
    let deliveries = Deliveries::new(ledger.world.ctx.store.clone());
    let pending = deliveries.pending().await.expect("deliveries");
    let mut sent: Vec<(String, String, String)> = pending
        .iter()
        .map(|d| {
            let body: serde_json::Value =
                serde_json::from_str(&d.delivery.payload).expect("json body");
            (
                d.delivery.endpoint_id.clone(),
                d.delivery.event_type.clone(),
                body["data"]["settlement_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    sent.sort();
    let statement = id("2026-11-01");
    assert_eq!(
        sent,
        [
            (
                "wh-mo".into(),
                "settlement.statement".into(),
                statement.clone()
            ),
            ("wh-pub".into(), "settlement.statement".into(), statement),
        ]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever the order, lateness and replays, and however soon closed
    /// periods leave the key's state, once every period has closed,
    /// settlements plus adjustments equal the inputs, each counted once.
    #[test]
    fn settled_totals_equal_the_inputs(
        entries in proptest::collection::vec((0i64..20 * DAY, -5_000i64..50_000), 1..60),
        replays in proptest::collection::vec(0usize..60, 0..20),
        keep_closed_days in 0i64..3,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let config = SettlementConfig { keep_closed_ms: keep_closed_days * DAY, ..SettlementConfig::default() };
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
        log.push(watermark(NOV_1 + 40 * DAY));
        let emitted = runtime.block_on(async {
            let mut ledger = Ledger::new(config).await;
            let mut emitted: BTreeMap<String, i64> = BTreeMap::new();
            for e in log {
                for s in ledger.append(e).await {
                    // The same id always carries the same amount.
                    if let Some(previous) = emitted.insert(s.settlement_id.clone(), s.total_minor) {
                        assert_eq!(previous, s.total_minor, "{} changed", s.settlement_id);
                    }
                }
            }
            let state = ledger.state("EUR").await;
            assert!(state.periods.values().all(|p| p.closed.is_some()));
            emitted
        });
        let inputs: i64 = entries.iter().map(|(_, a)| a).sum();
        let outputs: i64 = emitted.values().sum();
        prop_assert_eq!(outputs, inputs);
    }
}

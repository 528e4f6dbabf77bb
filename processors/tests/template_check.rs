//! `template-check` on the embedded store, table-driven: every refusal code
//! of its own (`unknown_template`, `template_mismatch`, `schema_violation`,
//! `unauthorized_signer`, `already_signed`, `wrong_signer_order`,
//! `terms_mismatch`, `contract_closed`), the business rules it runs when a
//! contract is created (subscription charge, dispute, settlement and
//! reconciliation rows: `rules.rs` covers the rules themselves, these show
//! they are wired), its dead letters (`invalid_signer`, `malformed_terms`,
//! `missing_timestamp`, `corrupt_template`), and applied events (recorded
//! topic, version and status, the row). Every row is then replayed: the same
//! event again must re-emit the same result and change nothing.
//!
//! Further tests: two signatures make version 1 `PENDING` then version 2
//! `ACTIVE`; a replay re-emits the version its event produced even after the
//! contract moved on (co-signed, countersigned), and a replayed refusal stays
//! refused; the countersigned input makes the row version 3 `FINALIZED`,
//! once, and disputes are then checked against that finalized charge
//! (`dispute_amount_exceeds_charge`, `currency_mismatch`, `invalid_period`,
//! `dispute_window_expired`, and its last second accepted); its malformed
//! inputs (`not_countersigned`, `malformed_contract`, `malformed_terms`,
//! `unexpected_schema`); a corrupt contract row or event record is
//! `corrupt_state`; a store outage is transient and the same record then
//! succeeds, also when it struck between the contract write and the event
//! record. Two ignored tests show bugs.

mod support;

use moneta_domain::{ContractTemplate, EventState, MPassStatus};
use moneta_processors::contracts::COUNTERSIGN_EVENT;
use moneta_processors::contracts::{from_record, to_domain_terms};
use moneta_processors::template_check::STAGE;
use moneta_records::{self as records, ContractStatus, Message, Party};
use moneta_runtime::{Record, Stage};
use moneta_state::{ContractKeys, ContractWrite};
use serde_json::{Value, json};
use support::*;

/// What a row must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// On the recorded topic at this version and status; the row too.
    Recorded(i64, ContractStatus),
    /// On the rejected topic with this code; the row unchanged.
    Refused(&'static str),
    /// Dead-lettered with this code; nothing changed.
    DeadLetter(&'static str),
}

use Expect::{DeadLetter, Recorded, Refused};

/// One row: the registry, the events before, the event, the outcome.
struct Case {
    name: &'static str,
    /// Changes to the registry before it is written.
    seed: fn(&mut Seed),
    /// Events applied first, each of which must be recorded.
    priors: fn() -> Vec<Draft>,
    /// The event under test.
    draft: fn() -> Draft,
    /// The record's timestamp.
    ts: Option<i64>,
    expect: Expect,
}

fn case(name: &'static str, draft: fn() -> Draft, expect: Expect) -> Case {
    Case {
        name,
        seed: |_| {},
        priors: Vec::new,
        draft,
        ts: Some(TS),
        expect,
    }
}

impl Case {
    fn seed(mut self, seed: fn(&mut Seed)) -> Self {
        self.seed = seed;
        self
    }

    fn after(mut self, priors: fn() -> Vec<Draft>) -> Self {
        self.priors = priors;
        self
    }

    fn no_timestamp(mut self) -> Self {
        self.ts = None;
        self
    }
}

/// The publisher opens the charge [`CONTRACT`].
fn pub_e1() -> Draft {
    Draft::charge(Party::Publisher, "e-1")
}

/// The MO co-signs it.
fn mo_e2() -> Draft {
    Draft::charge(Party::Mo, "e-2")
}

fn dispute(party: Party, event_id: &str) -> Draft {
    Draft::new(
        party,
        event_id,
        terms("c-dispute", "dispute", "dispute", dispute_attrs("c-charge")),
    )
}

fn settlement(party: Party, event_id: &str) -> Draft {
    Draft::new(
        party,
        event_id,
        terms("c-settle", "settlement", "settlement", settlement_attrs()),
    )
}

fn reconciliation(party: Party, event_id: &str) -> Draft {
    Draft::new(
        party,
        event_id,
        terms(
            "c-recon",
            "reconciliation",
            "reconciliation",
            reconciliation_attrs(),
        ),
    )
}

fn notice(party: Party, event_id: &str) -> Draft {
    Draft::new(
        party,
        event_id,
        terms(
            "c-notice",
            "publisher-notice",
            "notice",
            json!({"text": "new prices from January"}),
        ),
    )
}

/// The settlement with other amounts (`[total, publisher, mo, fee]`).
fn settlement_of(parts: [i64; 4]) -> Draft {
    settlement(Party::Mo, "e-1")
        .attr("total_minor", json!(parts[0]))
        .attr("publisher_minor", json!(parts[1]))
        .attr("mo_minor", json!(parts[2]))
        .attr("moneta_fee_minor", json!(parts[3]))
}

fn cases() -> Vec<Case> {
    vec![
        // Applied.
        case(
            "the publisher opens a charge",
            pub_e1,
            Recorded(1, ContractStatus::Pending),
        ),
        case(
            "the MO co-signs it",
            mo_e2,
            Recorded(2, ContractStatus::Active),
        )
        .after(|| vec![pub_e1()]),
        case(
            "a charge on the MO's Gold mPass, at the tier cap",
            || {
                pub_e1()
                    .mpass(MPASS)
                    .attr("mpass_number", json!("0001"))
                    .attr("amount_minor", json!(200_000))
            },
            Recorded(1, ContractStatus::Pending),
        ),
        case(
            "settlement: the MO signs first (no order)",
            || settlement(Party::Mo, "e-1"),
            Recorded(1, ContractStatus::Pending),
        ),
        case(
            "settlement: then the publisher",
            || settlement(Party::Publisher, "e-2"),
            Recorded(2, ContractStatus::Active),
        )
        .after(|| vec![settlement(Party::Mo, "e-1")]),
        case(
            "reconciliation: one signature of any_of completes it (MO)",
            || reconciliation(Party::Mo, "e-1"),
            Recorded(1, ContractStatus::Active),
        ),
        case(
            "reconciliation: one signature of any_of completes it (publisher)",
            || reconciliation(Party::Publisher, "e-1"),
            Recorded(1, ContractStatus::Active),
        ),
        case(
            "a publisher-only template without rules",
            || notice(Party::Publisher, "e-1"),
            Recorded(1, ContractStatus::Active),
        ),
        // Template.
        case(
            "unknown_template: no version 2",
            || {
                let mut d = pub_e1();
                d.terms.template_version = 2;
                d
            },
            Refused("unknown_template"),
        ),
        case(
            "unknown_template: no such name",
            || {
                let mut d = pub_e1();
                d.terms.template_name = "no-such-template".into();
                d
            },
            Refused("unknown_template"),
        ),
        case(
            "template_mismatch: a dispute on the charge template",
            || {
                let mut d = pub_e1();
                d.terms.contract_type = "dispute".into();
                d
            },
            Refused("template_mismatch"),
        ),
        case(
            "schema_violation: currency missing",
            || {
                let mut d = pub_e1();
                d.terms.terms_json = d.terms.terms_json.replace("\"currency\":\"EUR\",", "");
                d
            },
            Refused("schema_violation"),
        ),
        case(
            "schema_violation: negative amount",
            || pub_e1().attr("amount_minor", json!(-5)),
            Refused("schema_violation"),
        ),
        case(
            "schema_violation: an attribute the template does not have",
            || pub_e1().attr("discount", json!(10)),
            Refused("schema_violation"),
        ),
        // Signature rules.
        case(
            "unauthorized_signer: the MO signs a publisher-only template",
            || notice(Party::Mo, "e-1"),
            Refused("unauthorized_signer"),
        ),
        case(
            "wrong_signer_order: the MO signs a charge first",
            || Draft::charge(Party::Mo, "e-1"),
            Refused("wrong_signer_order"),
        ),
        case(
            "wrong_signer_order: the publisher opens a dispute",
            || dispute(Party::Publisher, "e-1"),
            Refused("wrong_signer_order"),
        ),
        case(
            "already_signed: the publisher signs the charge again",
            || Draft::charge(Party::Publisher, "e-3"),
            Refused("already_signed"),
        )
        .after(|| vec![pub_e1()]),
        case(
            "already_signed: the MO signs the settlement again",
            || settlement(Party::Mo, "e-3"),
            Refused("already_signed"),
        )
        .after(|| vec![settlement(Party::Mo, "e-1")]),
        case(
            "terms_mismatch: the MO co-signs another amount",
            || mo_e2().attr("amount_minor", json!(998)),
            Refused("terms_mismatch"),
        )
        .after(|| vec![pub_e1()]),
        case(
            "terms_mismatch: the MO co-signs another description",
            || {
                let mut d = mo_e2();
                d.terms.description = "another description".into();
                d
            },
            Refused("terms_mismatch"),
        )
        .after(|| vec![pub_e1()]),
        case(
            "contract_closed: a third signature on an ACTIVE charge",
            || Draft::charge(Party::Publisher, "e-3"),
            Refused("contract_closed"),
        )
        .after(|| vec![pub_e1(), mo_e2()]),
        case(
            "contract_closed: the other party on a completed reconciliation",
            || reconciliation(Party::Publisher, "e-2"),
            Refused("contract_closed"),
        )
        .after(|| vec![reconciliation(Party::Mo, "e-1")]),
        // Rules: subscription charge.
        case(
            "amount_out_of_range: a charge of 0",
            || pub_e1().attr("amount_minor", json!(0)),
            Refused("amount_out_of_range"),
        ),
        case(
            "tier_limit_exceeded: over the Gold cap",
            || pub_e1().mpass(MPASS).attr("amount_minor", json!(200_001)),
            Refused("tier_limit_exceeded"),
        ),
        case(
            "unknown_currency: a charge in EUX",
            || pub_e1().attr("currency", json!("EUX")),
            Refused("unknown_currency"),
        ),
        case(
            "invalid_period: a charge period ending before it starts",
            || pub_e1().attr("period_end", json!("2026-10-31")),
            Refused("invalid_period"),
        ),
        case(
            "mpass_not_found: an mPass that is not the MO's",
            || pub_e1().mpass("mp-unknown"),
            Refused("mpass_not_found"),
        ),
        case(
            "mpass_mismatch: another mPass number",
            || pub_e1().mpass(MPASS).attr("mpass_number", json!("0002")),
            Refused("mpass_mismatch"),
        ),
        case(
            "mpass_inactive: the mPass is locked",
            || pub_e1().mpass(MPASS),
            Refused("mpass_inactive"),
        )
        .seed(|s| s.mpass().status = MPassStatus::SuspendedUserLock),
        // Rules: dispute.
        case(
            "evidence_required: a dispute without details",
            || dispute(Party::Mo, "e-1").attr("details", json!("   ")),
            Refused("evidence_required"),
        ),
        case(
            "charge_not_found: a dispute about no charge",
            || dispute(Party::Mo, "e-1"),
            Refused("charge_not_found"),
        ),
        case(
            "charge_not_finalized: a dispute about an ACTIVE charge",
            || dispute(Party::Mo, "e-3"),
            Refused("charge_not_finalized"),
        )
        .after(|| vec![pub_e1().contract("c-charge"), mo_e2().contract("c-charge")]),
        // Rules: settlement.
        case(
            "below_minimum_settlement: a total of 99",
            || settlement_of([99, 69, 25, 5]),
            Refused("below_minimum_settlement"),
        ),
        case(
            "split_mismatch: parts that do not add up",
            || settlement_of([1000, 700, 250, 49]),
            Refused("split_mismatch"),
        ),
        case(
            "unauthorized_party: no such agreement",
            || settlement(Party::Mo, "e-1").attr("agreement_id", json!("agr-unknown")),
            Refused("unauthorized_party"),
        ),
        case(
            "currency_mismatch: a settlement in USD under an EUR agreement",
            || settlement(Party::Mo, "e-1").attr("currency", json!("USD")),
            Refused("currency_mismatch"),
        ),
        // Rules: reconciliation.
        case(
            "invalid_period: a reconciliation period that is not a date",
            || reconciliation(Party::Mo, "e-1").attr("period_start", json!("2026-11-31")),
            Refused("invalid_period"),
        ),
        case(
            "unknown_currency: a reconciliation record in EUX",
            || {
                reconciliation(Party::Mo, "e-1").attr(
                    "records",
                    json!([{"contract_id": "c-9", "amount_minor": 1, "currency": "EUX"}]),
                )
            },
            Refused("unknown_currency"),
        ),
        // Dead letters.
        case(
            "invalid_signer: an event signed as MONETA",
            || Draft::charge(Party::Moneta, "e-1"),
            DeadLetter("invalid_signer"),
        ),
        case(
            "malformed_terms: terms_json is an array",
            || {
                let mut d = pub_e1();
                d.terms.terms_json = "[]".into();
                d
            },
            DeadLetter("malformed_terms"),
        ),
        case(
            "missing_timestamp: a record without one",
            pub_e1,
            DeadLetter("missing_timestamp"),
        )
        .no_timestamp(),
        case(
            "missing_timestamp: a co-signature without one",
            mo_e2,
            DeadLetter("missing_timestamp"),
        )
        .after(|| vec![pub_e1()])
        .no_timestamp(),
        case(
            "corrupt_template: the stored template no longer parses",
            || {
                let mut d = pub_e1();
                d.terms.template_name = "broken".into();
                d
            },
            DeadLetter("corrupt_template"),
        )
        .seed(|s| {
            s.templates.push(ContractTemplate::new(
                "broken",
                1,
                "",
                0,
                true,
                "name: [unclosed",
            ));
        }),
    ]
}

/// The raw record of an event on the validated topic.
fn validated(world: &World, offset: i64, ts: Option<i64>) -> Record {
    record(&world.topics().validated, offset, ts)
}

async fn run(case: &Case) -> Result<(), String> {
    let mut seed = Seed::standard();
    (case.seed)(&mut seed);
    let world = World::seeded(seed).await;
    let stage = world.template_check();
    let recorded = world.topics().recorded.clone();
    for (i, prior) in (case.priors)().into_iter().enumerate() {
        let offset = i64::try_from(i).expect("few priors");
        let at = validated(&world, offset, Some(TS - 60_000 + offset * 1000));
        let result = stage
            .process(Message::ContractEvent(prior.sign()), &at)
            .await;
        ensure(contract_on(&result, &recorded).is_some(), || {
            format!("prior event {i} was not recorded: {:?}", summary(&result))
        })?;
    }
    let draft = (case.draft)();
    let event = draft.sign();
    let partner = draft.partner();
    let contract_id = event.contract.contract_id.clone();
    let input = validated(&world, 100, case.ts);
    let row_before = world.row(&contract_id).await;
    let record_before = world.event_record(&partner, &event.event_id).await;

    let result = stage
        .process(Message::ContractEvent(event.clone()), &input)
        .await;
    let row_after = world.row(&contract_id).await;
    let record_after = world.event_record(&partner, &event.event_id).await;
    match case.expect {
        Recorded(version, status) => {
            let Some(contract) = contract_on(&result, &recorded) else {
                return Err(format!(
                    "want version {version}, got {:?}",
                    summary(&result)
                ));
            };
            ensure_eq(
                (contract.version, contract.status),
                (version, status),
                "version and status",
            )?;
            let emitted = summary(&result)?;
            let keys: Vec<(&str, &str)> = emitted
                .iter()
                .map(|e| (e.topic.as_str(), e.key.as_str()))
                .collect();
            ensure_eq(
                keys,
                vec![
                    (recorded.as_str(), contract_id.as_str()),
                    (
                        world.topics().contract_changelog.as_str(),
                        contract_id.as_str(),
                    ),
                ],
                "topics and keys",
            )?;
            ensure_eq(
                contract_on(&result, &world.topics().contract_changelog),
                Some(contract),
                "the changelog row is the new version",
            )?;
            ensure_eq(
                (contract.event_id.as_str(), contract.partner_id.as_str()),
                (
                    format!("{partner}/{}", event.event_id).as_str(),
                    partner.as_str(),
                ),
                "produced by",
            )?;
            let signature = contract
                .signatures
                .iter()
                .find(|s| s.party == event.signature.party);
            ensure_eq(signature, Some(&event.signature), "the event's signature")?;
            let decoded = from_record(contract).map_err(|e| format!("emitted record: {e}"))?;
            ensure_eq(
                world.contract(&contract_id).await,
                Some(decoded),
                "the row is what was emitted",
            )?;
            let step = record_after
                .as_ref()
                .and_then(|r| r.step(EventState::Recorded).cloned());
            ensure_eq(
                step.map(|s| (s.stage, s.at_ms)),
                Some((STAGE.to_owned(), TS)),
                "recorded step",
            )?;
        }
        Refused(code) => {
            let Some(refused) = refusal(&result, world.topics()) else {
                return Err(format!("want refusal {code}, got {:?}", summary(&result)));
            };
            ensure_eq(
                (refused.code.as_str(), refused.stage.as_str()),
                (code, STAGE),
                "code and stage",
            )?;
            ensure_eq(
                refused.partner_id.as_deref(),
                Some(partner.as_str()),
                "partner_id",
            )?;
            ensure_eq(
                refused.event_id.as_deref(),
                Some(event.event_id.as_str()),
                "event_id",
            )?;
            ensure_eq(
                (
                    refused.source_topic.as_str(),
                    refused.source_offset,
                    &refused.original,
                ),
                (input.topic.as_str(), input.offset, &input.payload),
                "source",
            )?;
            ensure_eq(&row_after, &row_before, "the row (unchanged)")?;
            let step = record_after
                .as_ref()
                .and_then(|r| r.step(EventState::Rejected).cloned());
            ensure_eq(
                step.map(|s| (s.stage, s.code)),
                Some((STAGE.to_owned(), Some(code.to_owned()))),
                "rejected step",
            )?;
        }
        DeadLetter(code) => {
            ensure_eq(dead_letter(&result), Some(code.to_owned()), "dead letter")?;
            ensure_eq(&row_after, &row_before, "the row (unchanged)")?;
            ensure_eq(
                &record_after,
                &record_before,
                "the event record (unchanged)",
            )?;
        }
    }

    let again = stage
        .process(Message::ContractEvent(event.clone()), &input)
        .await;
    ensure_eq(summary(&again), summary(&result), "replay")?;
    ensure_eq(
        world.row(&contract_id).await,
        row_after,
        "the row after the replay",
    )?;
    ensure_eq(
        world.event_record(&partner, &event.event_id).await,
        record_after,
        "the event record after the replay",
    )
}

/// Two at a time: most of a case's time is its store's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_of_template_check() {
    let mut rows = tokio::task::JoinSet::new();
    for case in cases() {
        rows.spawn(async move { run(&case).await.map_err(|e| format!("{}: {e}", case.name)) });
    }
    report(rows.join_all().await);
}

/// The contract template-check emitted for `event` at `offset` (`ts` ms).
async fn apply(world: &World, event: &Draft, offset: i64, ts: i64) -> records::Contract {
    let result = world
        .template_check()
        .process(
            Message::ContractEvent(event.sign()),
            &validated(world, offset, Some(ts)),
        )
        .await;
    contract_on(&result, &world.topics().recorded)
        .cloned()
        .unwrap_or_else(|| panic!("not recorded: {:?}", summary(&result)))
}

/// Countersign's output for a recorded `ACTIVE` contract.
async fn countersigned(world: &World, active: &records::Contract) -> records::Contract {
    let at = record(&world.topics().recorded, 9, Some(TS));
    let result = world.countersign().handle(active.clone(), &at).await;
    contract_on(&result, &world.topics().countersigned)
        .cloned()
        .unwrap_or_else(|| panic!("not countersigned: {:?}", summary(&result)))
}

fn attributes(contract: &records::Contract) -> Value {
    serde_json::from_str(&contract.terms.terms_json).expect("terms_json")
}

#[tokio::test]
async fn two_signatures_make_a_pending_then_an_active_contract() {
    let world = World::new().await;
    let (pub_event, mo_event) = (pub_e1(), mo_e2());

    let v1 = apply(&world, &pub_event, 1, TS).await;
    assert_eq!((v1.version, v1.status), (1, ContractStatus::Pending));
    assert_eq!(
        (v1.event_id.as_str(), v1.partner_id.as_str()),
        ("pub-1/e-1", PUBLISHER)
    );
    assert_eq!(v1.signatures, vec![pub_event.sign().signature]);
    assert_eq!(
        v1.events,
        vec![records::ContractLogEntry {
            event_id: "pub-1/e-1".into(),
            version: 1,
            kind: "created".into(),
            at: TS / 1000,
        }]
    );
    assert_eq!((v1.created_at, v1.finalized_at), (TS / 1000, None));
    let signed = to_domain_terms(&pub_event.terms).expect("terms");
    assert_eq!(
        to_domain_terms(&v1.terms).expect("terms"),
        signed,
        "the terms signed"
    );
    assert_eq!(attributes(&v1), charge_attrs());

    let v2 = apply(&world, &mo_event, 2, TS + 60_000).await;
    assert_eq!((v2.version, v2.status), (2, ContractStatus::Active));
    assert_eq!(
        (v2.event_id.as_str(), v2.partner_id.as_str()),
        ("mo-1/e-2", MO)
    );
    assert_eq!(
        v2.signatures,
        vec![mo_event.sign().signature, pub_event.sign().signature],
        "MO, then publisher"
    );
    assert_eq!(
        v2.events
            .iter()
            .map(|e| (e.event_id.as_str(), e.version, e.kind.as_str(), e.at))
            .collect::<Vec<_>>(),
        vec![
            ("pub-1/e-1", 1, "created", TS / 1000),
            ("mo-1/e-2", 2, "signed", TS / 1000 + 60)
        ]
    );
    assert_eq!((v2.created_at, v2.finalized_at), (TS / 1000, None));
    assert_eq!(to_domain_terms(&v2.terms).expect("terms"), signed);

    let row = world.row(CONTRACT).await.expect("row");
    assert_eq!(row.revision, 2, "the row's revision is its version");
    assert_eq!(
        world.contract(CONTRACT).await,
        Some(from_record(&v2).expect("v2"))
    );
}

#[tokio::test]
async fn a_replay_re_emits_the_version_its_event_produced() {
    let world = World::new().await;
    let stage = world.template_check();
    let replay = |draft: Draft, offset: i64, ts: i64| {
        let stage = stage.clone();
        let at = validated(&world, offset, Some(ts));
        async move {
            stage
                .process(Message::ContractEvent(draft.sign()), &at)
                .await
        }
    };
    let v1 = apply(&world, &pub_e1(), 1, TS).await;
    let v2 = apply(&world, &mo_e2(), 2, TS + 60_000).await;

    // The same records again, and redelivered later at other offsets.
    for (offset, ts) in [(1, TS), (51, TS + 3_600_000)] {
        let again = replay(pub_e1(), offset, ts).await;
        assert_eq!(
            contract_on(&again, &world.topics().recorded),
            Some(&v1),
            "e-1 at {offset}"
        );
    }
    let again = replay(mo_e2(), 2, TS + 60_000).await;
    assert_eq!(contract_on(&again, &world.topics().recorded), Some(&v2));

    // After the countersignature (the row is version 3, FINALIZED), each
    // event still re-emits its own version: 1 PENDING, 2 ACTIVE.
    let v3 = countersigned(&world, &v2).await;
    let at = record(&world.topics().countersigned, 1, Some(TS + 120_000));
    let applied = stage.process(Message::Contract(v3.clone()), &at).await;
    let changelog = &world.topics().contract_changelog;
    assert_eq!(contract_on(&applied, changelog), Some(&v3));
    assert_eq!(world.row(CONTRACT).await.map(|r| r.revision), Some(3));
    let again = replay(pub_e1(), 1, TS).await;
    assert_eq!(
        contract_on(&again, &world.topics().recorded),
        Some(&v1),
        "e-1 after FINALIZED"
    );
    assert_eq!(
        contract_on(&again, changelog),
        Some(&v3),
        "the changelog gets the row as it is now, never an older version"
    );
    let again = replay(mo_e2(), 2, TS + 60_000).await;
    assert_eq!(
        contract_on(&again, &world.topics().recorded),
        Some(&v2),
        "e-2 after FINALIZED"
    );
    assert_eq!(
        world.contract(CONTRACT).await,
        Some(from_record(&v3).expect("v3")),
        "replays change nothing"
    );
}

#[tokio::test]
async fn a_replayed_refusal_stays_refused_after_the_contract_moved_on() {
    let world = World::new().await;
    let stage = world.template_check();
    // The MO signs before the publisher: refused.
    let early = Draft::charge(Party::Mo, "e-0");
    let at = validated(&world, 1, Some(TS));
    let first = stage
        .process(Message::ContractEvent(early.sign()), &at)
        .await;
    assert_eq!(
        refusal(&first, world.topics()).map(|r| r.code.as_str()),
        Some("wrong_signer_order")
    );
    // Then the publisher opens the contract: the MO's event would now be
    // in order, but its replay is the refusal it got, not version 2.
    apply(&world, &pub_e1(), 2, TS + 1000).await;
    let again = stage
        .process(Message::ContractEvent(early.sign()), &at)
        .await;
    assert_eq!(summary(&again), summary(&first));
    assert_eq!(world.row(CONTRACT).await.map(|r| r.revision), Some(1));
}

#[tokio::test]
async fn the_countersigned_contract_is_applied_to_the_row_once() {
    let world = World::new().await;
    let stage = world.template_check();
    apply(&world, &pub_e1(), 1, TS).await;
    let v2 = apply(&world, &mo_e2(), 2, TS + 60_000).await;
    let v3 = countersigned(&world, &v2).await;
    assert_eq!((v3.version, v3.status), (3, ContractStatus::Finalized));
    assert_eq!(
        v3.events.last().map(|e| e.event_id.as_str()),
        Some(COUNTERSIGN_EVENT)
    );

    let at = record(&world.topics().countersigned, 1, Some(TS + 120_000));
    let applied = stage.process(Message::Contract(v3.clone()), &at).await;
    assert_eq!(
        contract_on(&applied, &world.topics().contract_changelog),
        Some(&v3),
        "the countersigned row, to the contract changelog"
    );
    assert_eq!(summary(&applied).map(|e| e.len()), Ok(1));
    let row = world.row(CONTRACT).await.expect("row");
    assert_eq!(row.revision, 3);
    let contract = world.contract(CONTRACT).await.expect("row");
    assert_eq!(contract, from_record(&v3).expect("v3"));
    assert_eq!(contract.status, moneta_domain::ContractStatus::Finalized);
    assert!(contract.is_signed_by("moneta"));
    let completing = world.event_record(MO, "e-2").await.expect("e-2");
    let step = completing
        .step(EventState::Countersigned)
        .expect("countersigned step");
    assert_eq!(
        (step.stage.as_str(), step.at_ms),
        ("countersign", TS + 120_000)
    );
    let opening = world.event_record(PUBLISHER, "e-1").await.expect("e-1");
    assert!(
        opening.step(EventState::Countersigned).is_none(),
        "only the completing event"
    );

    // Twice: nothing changes, at another offset and time too.
    for (offset, ts) in [(1, TS + 120_000), (2, TS + 999_000)] {
        let at = record(&world.topics().countersigned, offset, Some(ts));
        let again = stage.process(Message::Contract(v3.clone()), &at).await;
        assert_eq!(summary(&again), summary(&applied));
        assert_eq!(world.row(CONTRACT).await, Some(row.clone()));
        assert_eq!(
            world.event_record(MO, "e-2").await,
            Some(completing.clone())
        );
    }

    // The row takes no more signatures.
    let late = Draft::charge(Party::Publisher, "e-3");
    let refused = stage
        .process(
            Message::ContractEvent(late.sign()),
            &validated(&world, 3, Some(TS)),
        )
        .await;
    assert_eq!(
        refusal(&refused, world.topics()).map(|r| r.code.as_str()),
        Some("contract_closed")
    );
}

#[tokio::test]
async fn disputes_are_checked_against_a_charge_finalized_on_the_path() {
    let world = World::new().await;
    let stage = world.template_check();
    apply(&world, &pub_e1().contract("c-charge"), 1, TS).await;
    let active = apply(&world, &mo_e2().contract("c-charge"), 2, TS).await;
    let finalized = countersigned(&world, &active).await;
    let at = record(&world.topics().countersigned, 1, Some(TS));
    let applied = stage
        .process(Message::Contract(finalized.clone()), &at)
        .await;
    assert_eq!(
        contract_on(&applied, &world.topics().contract_changelog),
        Some(&finalized)
    );

    // The charge: 999 EUR, charged 2026-11-01T00:00:00Z; 120-day window.
    let rows: [(&str, &str, Value, Option<&str>); 6] = [
        (
            "more than was charged",
            "amount_minor",
            json!(1000),
            Some("dispute_amount_exceeds_charge"),
        ),
        (
            "in another currency",
            "currency",
            json!("USD"),
            Some("currency_mismatch"),
        ),
        (
            "opened before the charge",
            "opened_at",
            json!("2026-10-31T23:59:59Z"),
            Some("invalid_period"),
        ),
        (
            "a second after the window",
            "opened_at",
            json!("2027-03-01T00:00:01Z"),
            Some("dispute_window_expired"),
        ),
        (
            "on the window's last second",
            "opened_at",
            json!("2027-03-01T00:00:00Z"),
            None,
        ),
        ("for part of the charge", "amount_minor", json!(500), None),
    ];
    for (i, (name, field, value, code)) in rows.into_iter().enumerate() {
        let n = i64::try_from(i).expect("few rows");
        let draft = dispute(Party::Mo, &format!("e-d{n}"))
            .contract(&format!("c-dispute-{n}"))
            .attr(field, value);
        let result = stage
            .process(
                Message::ContractEvent(draft.sign()),
                &validated(&world, 10 + n, Some(TS)),
            )
            .await;
        match code {
            Some(code) => assert_eq!(
                refusal(&result, world.topics()).map(|r| r.code.as_str()),
                Some(code),
                "{name}"
            ),
            None => {
                let opened = contract_on(&result, &world.topics().recorded).expect(name);
                assert_eq!(
                    (opened.version, opened.status),
                    (1, ContractStatus::Pending),
                    "{name}"
                );
            }
        }
    }
}

#[tokio::test]
async fn malformed_countersigned_inputs_are_dead_lettered() {
    let world = World::new().await;
    let stage = world.template_check();
    apply(&world, &pub_e1(), 1, TS).await;
    let v2 = apply(&world, &mo_e2(), 2, TS + 60_000).await;
    let v3 = countersigned(&world, &v2).await;
    let row = world.row(CONTRACT).await;

    let negative = records::Contract {
        version: -3,
        ..v3.clone()
    };
    let mut not_an_object = v3.clone();
    not_an_object.terms.terms_json = "[1]".into();
    let rejected = records::RejectedEvent {
        event_id: None,
        contract_id: None,
        partner_id: None,
        stage: "validate".into(),
        code: "bad_signature".into(),
        message: String::new(),
        source_topic: String::new(),
        source_partition: 0,
        source_offset: 0,
        original: None,
    };
    let rows: [(&str, Message, &str); 4] = [
        (
            "a recorded contract, not countersigned",
            Message::Contract(v2.clone()),
            "not_countersigned",
        ),
        (
            "a negative version",
            Message::Contract(negative),
            "malformed_contract",
        ),
        (
            "terms_json not an object",
            Message::Contract(not_an_object),
            "malformed_terms",
        ),
        (
            "a rejected event",
            Message::RejectedEvent(rejected),
            "unexpected_schema",
        ),
    ];
    for (name, input, code) in rows {
        let at = record(&world.topics().countersigned, 5, Some(TS));
        let result = stage.process(input, &at).await;
        assert_eq!(dead_letter(&result).as_deref(), Some(code), "{name}");
        assert_eq!(
            world.row(CONTRACT).await,
            row,
            "{name}: the row is unchanged"
        );
    }
}

#[tokio::test]
async fn a_countersigned_record_without_timestamp_changes_nothing() {
    let world = World::new().await;
    apply(&world, &pub_e1(), 1, TS).await;
    let v2 = apply(&world, &mo_e2(), 2, TS + 60_000).await;
    let v3 = countersigned(&world, &v2).await;
    let row = world.row(CONTRACT).await;
    let at = record(&world.topics().countersigned, 1, None);
    let result = world
        .template_check()
        .process(Message::Contract(v3), &at)
        .await;
    assert_eq!(dead_letter(&result).as_deref(), Some("missing_timestamp"));
    assert_eq!(
        world.row(CONTRACT).await.map(|r| r.revision),
        row.map(|r| r.revision),
        "a dead-lettered record changes nothing"
    );
}

/// `moneta` is reserved: no party may use it, so no partner's event key can
/// be `moneta/countersign`, the key of Moneta's countersignature.
#[tokio::test]
async fn a_partner_named_moneta_cannot_pass_for_the_countersignature() {
    let mut seed = Seed::standard();
    seed.mo().id = "moneta".into();
    seed.key(MO_KEY).organization_id = "moneta".into();
    let world = World::seeded(seed).await;
    let mut draft = Draft::charge(Party::Mo, "countersign");
    draft.terms.mo_id = "moneta".into();
    let result = world
        .template_check()
        .process(
            Message::ContractEvent(draft.sign()),
            &validated(&world, 1, Some(TS)),
        )
        .await;
    assert_eq!(dead_letter(&result).as_deref(), Some("reserved_id"));
    assert!(world.contract(CONTRACT).await.is_none(), "nothing applied");
}

/// A contract row whose body is not JSON.
async fn corrupt_row(world: &World, contract_id: &str) {
    let write = ContractWrite {
        contract_id: contract_id.into(),
        event_id: "seed/corrupt".into(),
        expected_version: 0,
        body: b"{\"id\": \"half a contr".to_vec(),
        keys: ContractKeys {
            mo_id: MO.into(),
            publisher_id: PUBLISHER.into(),
            mpass_id: None,
            contract_type: "subscription_charge".into(),
            created_at: 0,
        },
    };
    world
        .ctx
        .store
        .apply_contract(write)
        .await
        .expect("write the corrupt row");
}

#[tokio::test]
async fn corrupt_state_is_dead_lettered_as_corrupt_state() {
    let world = World::new().await;
    let stage = world.template_check();
    corrupt_row(&world, CONTRACT).await;
    corrupt_row(&world, "c-charge").await;
    world
        .ctx
        .store
        .restore(
            moneta_domain::Kind::EventRecord,
            "pub-1/e-9",
            1,
            b"not json",
            &[],
        )
        .await
        .expect("write the corrupt event record");
    let mut on_other = pub_e1().contract("c-other");
    on_other.event_id = "e-9".into();
    let rows = [
        ("an event for the corrupt contract", pub_e1()),
        ("a co-signature for it", mo_e2()),
        (
            "a dispute about a corrupt charge",
            dispute(Party::Mo, "e-1"),
        ),
        ("an event whose event record is corrupt", on_other),
    ];
    for (name, draft) in rows {
        let result = stage
            .process(
                Message::ContractEvent(draft.sign()),
                &validated(&world, 1, Some(TS)),
            )
            .await;
        assert_eq!(
            dead_letter(&result).as_deref(),
            Some("corrupt_state"),
            "{name}"
        );
    }
    assert_eq!(world.row("c-other").await, None);

    // The countersigned input for a corrupt row, too.
    let healthy = World::new().await;
    apply(&healthy, &pub_e1(), 1, TS).await;
    let v2 = apply(&healthy, &mo_e2(), 2, TS).await;
    let v3 = countersigned(&healthy, &v2).await;
    let at = record(&world.topics().countersigned, 1, Some(TS));
    let result = stage.process(Message::Contract(v3), &at).await;
    assert_eq!(dead_letter(&result).as_deref(), Some("corrupt_state"));
}

#[tokio::test]
async fn a_store_outage_is_transient_and_the_same_record_then_succeeds() {
    let clean = World::new().await;
    let want = apply(&clean, &pub_e1(), 1, TS).await;

    let world = World::new().await;
    let stage = world.template_check();
    let at = validated(&world, 1, Some(TS));
    world.store.set_down(true);
    let failed = stage
        .process(Message::ContractEvent(pub_e1().sign()), &at)
        .await;
    assert_transient(&failed);
    world.store.set_down(false);
    let done = stage
        .process(Message::ContractEvent(pub_e1().sign()), &at)
        .await;
    assert_eq!(contract_on(&done, &world.topics().recorded), Some(&want));

    // Down again with the template cached: the contract read fails.
    let at = validated(&world, 2, Some(TS + 60_000));
    world.store.set_down(true);
    let failed = stage
        .process(Message::ContractEvent(mo_e2().sign()), &at)
        .await;
    assert_transient(&failed);
    world.store.set_down(false);
    let done = stage
        .process(Message::ContractEvent(mo_e2().sign()), &at)
        .await;
    let v2 = contract_on(&done, &world.topics().recorded).expect("recorded");
    assert_eq!((v2.version, v2.status), (2, ContractStatus::Active));
}

#[tokio::test]
async fn an_outage_between_the_contract_write_and_the_event_record_is_retried_cleanly() {
    let clean = World::new().await;
    let want = apply(&clean, &pub_e1(), 1, TS).await;

    let world = World::new().await;
    let stage = world.template_check();
    let at = validated(&world, 1, Some(TS));
    world.store.set_puts_down(true);
    let failed = stage
        .process(Message::ContractEvent(pub_e1().sign()), &at)
        .await;
    assert_transient(&failed);
    assert_eq!(
        world.row(CONTRACT).await.map(|r| r.revision),
        Some(1),
        "the contract was written"
    );
    assert_eq!(
        world.event_record(PUBLISHER, "e-1").await,
        None,
        "the event record was not"
    );
    world.store.set_puts_down(false);
    let done = stage
        .process(Message::ContractEvent(pub_e1().sign()), &at)
        .await;
    assert_eq!(contract_on(&done, &world.topics().recorded), Some(&want));
    assert_eq!(
        world.row(CONTRACT).await.map(|r| r.revision),
        Some(1),
        "applied once"
    );
    let step = world
        .event_record(PUBLISHER, "e-1")
        .await
        .and_then(|r| r.step(EventState::Recorded).cloned());
    assert_eq!(step.map(|s| s.at_ms), Some(TS));
}

/// A dispute (template version 2) by the MO of the charge "c-charge".
fn dispute_v2(event_id: &str, id: &str, amount: i64) -> Draft {
    let mut attrs = dispute_attrs("c-charge");
    attrs["amount_minor"] = json!(amount);
    if let Some(object) = attrs.as_object_mut() {
        object.remove("resolution");
    }
    let mut t = terms(id, "dispute", "dispute", attrs);
    t.template_version = 2;
    Draft::new(Party::Mo, event_id, t)
}

/// `party`'s signature on resolution `id` of dispute `dispute_id`.
fn resolution(
    party: Party,
    event_id: &str,
    id: &str,
    dispute_id: &str,
    outcome: &str,
    amount: i64,
) -> Draft {
    let attrs = json!({"dispute_contract_id": dispute_id, "charge_contract_id": "c-charge",
                       "outcome": outcome, "amount_minor": amount, "currency": "EUR",
                       "resolved_at": "2026-12-10T00:00:00Z"});
    Draft::new(
        party,
        event_id,
        terms(id, "dispute-resolution", "dispute_resolution", attrs),
    )
}

#[tokio::test]
async fn a_charges_disputes_open_resolve_and_never_reverse_more_than_the_charge() {
    let world = World::new().await;
    let stage = world.template_check();
    let mut offset = 0;
    let mut process = |draft: Draft| {
        offset += 1;
        let at = validated(&world, offset, Some(TS));
        let stage = stage.clone();
        async move {
            stage
                .process(Message::ContractEvent(draft.sign()), &at)
                .await
        }
    };
    // The charge: 999 EUR, finalized.
    apply(&world, &pub_e1().contract("c-charge"), 900, TS).await;
    let active = apply(&world, &mo_e2().contract("c-charge"), 901, TS).await;
    let finalized = countersigned(&world, &active).await;
    let at = record(&world.topics().countersigned, 1, Some(TS));
    stage
        .process(Message::Contract(finalized), &at)
        .await
        .expect("countersigned");
    let charge = || async { world.contract("c-charge").await.expect("charge") };
    // Finalizes a complete dispute or resolution: countersigned, applied.
    let countersign = |active: records::Contract| {
        let world = &world;
        let stage = stage.clone();
        async move {
            let done = countersigned(world, &active).await;
            let at = record(&world.topics().countersigned, 2, Some(TS));
            stage
                .process(Message::Contract(done), &at)
                .await
                .expect("countersigned");
        }
    };

    // Two disputes open: the charge is disputed, and its row goes to the changelog.
    let opened = process(dispute_v2("e-d1", "d-1", 600)).await;
    let d1 = contract_on(&opened, &world.topics().recorded)
        .expect("d-1 recorded")
        .clone();
    assert_eq!(d1.status, ContractStatus::Active, "the MO alone opens it");
    let logged = contract_on(&opened, &world.topics().contract_changelog);
    assert!(
        logged.is_none(),
        "two rows to the changelog: {:?}",
        summary(&opened)
    );
    let emitted = summary(&opened).expect("emitted");
    let rows: Vec<&str> = emitted
        .iter()
        .filter(|e| e.topic == world.topics().contract_changelog)
        .map(|e| e.key.as_str())
        .collect();
    assert_eq!(rows, ["d-1", "c-charge"]);
    countersign(d1).await;
    let d2 = process(dispute_v2("e-d2", "d-2", 500)).await;
    countersign(
        contract_on(&d2, &world.topics().recorded)
            .expect("d-2")
            .clone(),
    )
    .await;
    let c = charge().await;
    assert_eq!(c.status, moneta_domain::ContractStatus::Disputed);
    assert_eq!(c.disputes.len(), 2);

    // Both resolutions proposed (each within the charge on its own) ...
    let proposed = process(resolution(
        Party::Publisher,
        "e-r1p",
        "r-1",
        "d-1",
        "upheld",
        600,
    ))
    .await;
    assert!(
        contract_on(&proposed, &world.topics().recorded).is_some(),
        "{:?}",
        summary(&proposed)
    );
    let proposed = process(resolution(
        Party::Publisher,
        "e-r2p",
        "r-2",
        "d-2",
        "upheld",
        500,
    ))
    .await;
    assert!(
        contract_on(&proposed, &world.topics().recorded).is_some(),
        "{:?}",
        summary(&proposed)
    );
    // ... the first agreed reverses 600; the charge stays disputed (d-2 open).
    let agreed = process(resolution(Party::Mo, "e-r1m", "r-1", "d-1", "upheld", 600)).await;
    let r1 = contract_on(&agreed, &world.topics().recorded)
        .expect("r-1 complete")
        .clone();
    assert_eq!(r1.status, ContractStatus::Active);
    let c = charge().await;
    assert_eq!(
        (c.reversed_minor(), c.status),
        (600, moneta_domain::ContractStatus::Disputed)
    );
    // ... the second would reverse 1,100 of 999: refused, nothing changes.
    let too_much = process(resolution(Party::Mo, "e-r2m", "r-2", "d-2", "upheld", 500)).await;
    assert_eq!(
        refusal(&too_much, world.topics()).map(|r| r.code.as_str()),
        Some("reversal_exceeds_charge")
    );
    assert_eq!(charge().await.reversed_minor(), 600);
    // Resolved for what is left: the charge is whole again, every cent accounted.
    let proposed = process(resolution(
        Party::Publisher,
        "e-r3p",
        "r-3",
        "d-2",
        "partially_upheld",
        399,
    ))
    .await;
    assert!(contract_on(&proposed, &world.topics().recorded).is_some());
    let last = process(resolution(
        Party::Mo,
        "e-r3m",
        "r-3",
        "d-2",
        "partially_upheld",
        399,
    ))
    .await;
    assert!(
        contract_on(&last, &world.topics().recorded).is_some(),
        "{:?}",
        summary(&last)
    );
    let c = charge().await;
    assert_eq!(
        (c.reversed_minor(), c.status),
        (999, moneta_domain::ContractStatus::Finalized)
    );
    let states: Vec<(&str, &str, i64)> = c
        .disputes
        .iter()
        .map(|d| (d.dispute_id.as_str(), d.state.as_str(), d.upheld_minor))
        .collect();
    assert_eq!(
        states,
        [("d-1", "upheld", 600), ("d-2", "partially_upheld", 399)]
    );
    // Nothing is left to dispute; a resolved dispute takes no other resolution.
    let more = process(dispute_v2("e-d3", "d-3", 1)).await;
    assert_eq!(
        refusal(&more, world.topics()).map(|r| r.code.as_str()),
        Some("dispute_amount_exceeds_charge")
    );
    let again = process(resolution(
        Party::Publisher,
        "e-r4p",
        "r-4",
        "d-1",
        "rejected",
        0,
    ))
    .await;
    assert_eq!(
        refusal(&again, world.topics()).map(|r| r.code.as_str()),
        Some("dispute_not_open")
    );
    // The ledger reverses exactly what was upheld, at the resolution's time.
    let finalized = records::Contract {
        status: ContractStatus::Finalized,
        ..r1
    };
    let entry = moneta_processors::ledger::entry(&finalized)
        .expect("entry")
        .expect("a reversal");
    assert_eq!(
        (
            entry.kind,
            entry.amount_minor,
            entry.charge_contract_id.as_deref()
        ),
        (records::LedgerKind::Reversal, -600, Some("c-charge"))
    );
}

/// The contracts `result` emitted to `topic`, as `(id, version, status)`.
fn contracts_on(
    result: &Result<moneta_runtime::Emitted, moneta_runtime::ProcessError>,
    topic: &str,
) -> Vec<(String, i64, ContractStatus)> {
    summary(result)
        .expect("emitted")
        .into_iter()
        .filter(|e| e.topic == topic)
        .filter_map(|e| match e.value {
            Message::Contract(c) => Some((c.contract_id, c.version, c.status)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn unsigned_contracts_expire_by_stream_time_and_late_signatures_are_refused() {
    use moneta_processors::rules::RulesConfig;
    use moneta_runtime::StreamTime;
    let world = World::new().await;
    let stage = world.template_check();
    let rules = RulesConfig::default();
    let topics = world.topics().clone();
    let deadline_s = TS / 1000 + rules.signature_expiry_s;
    // Created at TS; c-open awaits the MO, c-done gets it at once.
    apply(
        &world,
        &Draft::charge(Party::Publisher, "e-open").contract("c-open"),
        1,
        TS,
    )
    .await;
    apply(
        &world,
        &Draft::charge(Party::Publisher, "e-done").contract("c-done"),
        2,
        TS,
    )
    .await;
    apply(
        &world,
        &Draft::charge(Party::Mo, "e-done-mo").contract("c-done"),
        3,
        TS,
    )
    .await;

    // A signature that reached Moneta a second past the deadline is late,
    // even before any sweep.
    let late = stage
        .process(
            Message::ContractEvent(Draft::charge(Party::Mo, "e-late").contract("c-open").sign()),
            &validated(&world, 4, Some((deadline_s + 1) * 1000)),
        )
        .await;
    assert_eq!(
        refusal(&late, &topics).map(|r| r.code.as_str()),
        Some("contract_expired")
    );

    // Stream time crosses a sweep boundary past deadline + grace: c-open
    // expires (version 2) before the event that moved stream time applies.
    let swept_at_ms = (deadline_s + rules.expiry_grace_s + 60) * 1000;
    let mut mover = validated(&world, 5, Some(swept_at_ms));
    mover.stream_time = StreamTime {
        prior_ms: Some(TS),
        now_ms: Some(swept_at_ms),
    };
    let new_charge = || {
        Message::ContractEvent(
            Draft::charge(Party::Publisher, "e-new")
                .contract("c-new")
                .sign(),
        )
    };
    let swept = stage.process(new_charge(), &mover).await;
    assert_eq!(
        contracts_on(&swept, &topics.recorded),
        [
            ("c-open".to_owned(), 2, ContractStatus::Expired),
            ("c-new".to_owned(), 1, ContractStatus::Pending)
        ],
        "only the unsigned contract expires, first"
    );
    assert!(contracts_on(&swept, &topics.contract_changelog).contains(&(
        "c-open".to_owned(),
        2,
        ContractStatus::Expired
    )));
    let row = world.contract("c-open").await.expect("row");
    assert_eq!(row.status, moneta_domain::ContractStatus::Expired);
    assert_eq!(
        world.contract("c-done").await.expect("row").status,
        moneta_domain::ContractStatus::Active
    );

    // The same record again (its batch redone): the same expiry, emitted again.
    let redone = stage.process(new_charge(), &mover).await;
    assert_eq!(
        contracts_on(&redone, &topics.recorded),
        contracts_on(&swept, &topics.recorded)
    );

    // An on-time signature that arrives after the expiry is refused too.
    let after = stage
        .process(
            Message::ContractEvent(Draft::charge(Party::Mo, "e-slow").contract("c-open").sign()),
            &validated(&world, 6, Some(TS + 1000)),
        )
        .await;
    assert_eq!(
        refusal(&after, &topics).map(|r| r.code.as_str()),
        Some("contract_expired")
    );

    // The next boundary has nothing more to expire.
    let mut next = validated(&world, 7, Some(swept_at_ms + 60_000));
    next.stream_time = StreamTime {
        prior_ms: Some(swept_at_ms),
        now_ms: Some(swept_at_ms + 60_000),
    };
    let quiet = stage
        .process(
            Message::ContractEvent(
                Draft::charge(Party::Publisher, "e-later")
                    .contract("c-later")
                    .sign(),
            ),
            &next,
        )
        .await;
    assert_eq!(
        contracts_on(&quiet, &topics.recorded),
        [("c-later".to_owned(), 1, ContractStatus::Pending)]
    );
}

//! `countersign` on the embedded store, table-driven: an `ACTIVE` recorded
//! contract becomes version + 1 `FINALIZED` on the countersigned topic,
//! with a `moneta` signature that verifies with Moneta's public key over the
//! canonical terms (none when the template says Moneta does not
//! countersign); any other status emits nothing; malformed records are
//! dead-lettered with their code (`malformed_contract`, `malformed_terms`).
//! Every row is processed twice and by a second instance, with other record
//! metadata (determinism: no clock), and must never read or write a
//! contract row; an empty store works.
//!
//! Further tests: the time of everything Moneta adds is the contract's last
//! log entry's; a store outage is transient.

mod support;

use moneta_processors::contracts::COUNTERSIGN_EVENT;
use moneta_processors::contracts::to_domain_terms;
use moneta_records::{self as records, ContractLogEntry, ContractStatus, Party, PartySignature};
use moneta_runtime::{Record, Stage};
use serde_json::json;
use support::*;

/// When the publisher signed, Unix seconds.
const T1: i64 = TS / 1000;
/// When the MO signed, Unix seconds.
const T2: i64 = T1 + 60;

/// What a row must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// On the countersigned topic, `FINALIZED` at this version, with or
    /// without Moneta's signature.
    Countersigned { version: i64, moneta: bool },
    /// Nothing emitted.
    Nothing,
    /// Dead-lettered with this code.
    DeadLetter(&'static str),
}

use Expect::{Countersigned, DeadLetter, Nothing};

struct Case {
    name: &'static str,
    /// The recorded contract.
    input: fn() -> records::Contract,
    /// Whether the store's registry is empty (no templates at all).
    empty_store: bool,
    /// Changes to the registry before it is written.
    seed: fn(&mut Seed),
    /// The record's timestamp.
    ts: Option<i64>,
    expect: Expect,
}

fn case(name: &'static str, input: fn() -> records::Contract, expect: Expect) -> Case {
    Case {
        name,
        input,
        empty_store: false,
        seed: |_| {},
        ts: Some(TS + 3_600_000),
        expect,
    }
}

impl Case {
    fn empty_store(mut self) -> Self {
        self.empty_store = true;
        self
    }

    fn seed(mut self, seed: fn(&mut Seed)) -> Self {
        self.seed = seed;
        self
    }

    fn no_timestamp(mut self) -> Self {
        self.ts = None;
        self
    }
}

/// `party`'s real signature over `terms`, made at `at`.
fn signed(party: Party, terms: &records::ContractTerms, at: i64) -> PartySignature {
    let mut signature = Draft::new(party, "e", terms.clone()).sign().signature;
    signature.signed_at = at;
    signature
}

fn entry(event_id: &str, version: i64, kind: &str, at: i64) -> ContractLogEntry {
    ContractLogEntry {
        event_id: event_id.into(),
        version,
        kind: kind.into(),
        at,
    }
}

/// The charge [`CONTRACT`] as template-check records it once both signed:
/// version 2, `ACTIVE`.
fn active_charge() -> records::Contract {
    let terms = terms(
        CONTRACT,
        "subscription-charge",
        "subscription_charge",
        charge_attrs(),
    );
    records::Contract {
        contract_id: CONTRACT.into(),
        version: 2,
        status: ContractStatus::Active,
        signatures: vec![
            signed(Party::Mo, &terms, T2),
            signed(Party::Publisher, &terms, T1),
        ],
        terms,
        event_id: "mo-1/e-2".into(),
        partner_id: MO.into(),
        events: vec![
            entry("pub-1/e-1", 1, "created", T1),
            entry("mo-1/e-2", 2, "signed", T2),
        ],
        created_at: T1,
        finalized_at: None,
        disputes: Vec::new(),
    }
}

/// The charge at version 1, `PENDING`.
fn pending_charge() -> records::Contract {
    let mut c = active_charge();
    c.version = 1;
    c.status = ContractStatus::Pending;
    c.signatures.retain(|s| s.party == Party::Publisher);
    c.events.truncate(1);
    c.event_id = "pub-1/e-1".into();
    c.partner_id = PUBLISHER.into();
    c
}

/// A contract of `template` signed by `party` alone: version 1, `ACTIVE`.
fn single_signature(template: &str, contract_type: &str, party: Party) -> records::Contract {
    let attrs = match template {
        "reconciliation" => reconciliation_attrs(),
        _ => json!({"text": "new prices from January"}),
    };
    let terms = terms("c-single", template, contract_type, attrs);
    let partner = match party {
        Party::Mo => MO,
        _ => PUBLISHER,
    };
    records::Contract {
        contract_id: "c-single".into(),
        version: 1,
        status: ContractStatus::Active,
        signatures: vec![signed(party, &terms, T1)],
        terms,
        event_id: format!("{partner}/e-1"),
        partner_id: partner.into(),
        events: vec![entry(&format!("{partner}/e-1"), 1, "created", T1)],
        created_at: T1,
        finalized_at: None,
        disputes: Vec::new(),
    }
}

fn with_status(status: ContractStatus) -> records::Contract {
    records::Contract {
        status,
        ..active_charge()
    }
}

fn cases() -> Vec<Case> {
    vec![
        case(
            "an ACTIVE charge (version 2)",
            active_charge,
            Countersigned {
                version: 3,
                moneta: true,
            },
        ),
        case(
            "an ACTIVE reconciliation signed by the MO alone (version 1)",
            || single_signature("reconciliation", "reconciliation", Party::Mo),
            Countersigned {
                version: 2,
                moneta: true,
            },
        ),
        case(
            "a template with moneta_countersigns = false",
            || single_signature("publisher-notice", "notice", Party::Publisher),
            Countersigned {
                version: 2,
                moneta: false,
            },
        ),
        case(
            "a template version that does not exist: Moneta countersigns",
            || {
                let mut c = active_charge();
                c.terms.template_version = 7;
                c
            },
            Countersigned {
                version: 3,
                moneta: true,
            },
        ),
        case(
            "an empty store: no contract rows, no templates",
            active_charge,
            Countersigned {
                version: 3,
                moneta: true,
            },
        )
        .empty_store(),
        case(
            "a record without timestamp: countersign reads no clock",
            active_charge,
            Countersigned {
                version: 3,
                moneta: true,
            },
        )
        .no_timestamp(),
        case("a PENDING charge", pending_charge, Nothing),
        case(
            "a FINALIZED charge",
            || with_status(ContractStatus::Finalized),
            Nothing,
        ),
        case(
            "a DISPUTED charge",
            || with_status(ContractStatus::Disputed),
            Nothing,
        ),
        case(
            "a REJECTED charge",
            || with_status(ContractStatus::Rejected),
            Nothing,
        ),
        case(
            "a malformed PENDING record is not looked at",
            || {
                let mut c = pending_charge();
                c.version = -1;
                c.terms.terms_json = "[]".into();
                c
            },
            Nothing,
        ),
        case(
            "malformed_contract: a negative version",
            || records::Contract {
                version: -1,
                ..active_charge()
            },
            DeadLetter("malformed_contract"),
        ),
        case(
            "malformed_contract: a negative log entry version",
            || {
                let mut c = active_charge();
                c.events[1].version = -2;
                c
            },
            DeadLetter("malformed_contract"),
        ),
        case(
            "malformed_contract: an empty event log",
            || {
                let mut c = active_charge();
                c.events.clear();
                c
            },
            DeadLetter("malformed_contract"),
        ),
        case(
            "malformed_terms: terms_json is not an object",
            || {
                let mut c = active_charge();
                c.terms.terms_json = "[1]".into();
                c
            },
            DeadLetter("malformed_terms"),
        ),
        case(
            "malformed_terms: terms_json is not JSON",
            || {
                let mut c = active_charge();
                c.terms.terms_json = "{\"amount_minor\"".into();
                c
            },
            DeadLetter("malformed_terms"),
        ),
        case(
            "corrupt_template: the stored template no longer parses",
            || {
                let mut c = active_charge();
                c.terms.template_name = "broken".into();
                c
            },
            DeadLetter("corrupt_template"),
        )
        .seed(|s| {
            s.templates.push(moneta_domain::ContractTemplate::new(
                "broken",
                1,
                "",
                0,
                true,
                "name: [unclosed",
            ));
        }),
        case(
            "malformed_terms: a negative template version",
            || {
                let mut c = active_charge();
                c.terms.template_version = -1;
                c
            },
            DeadLetter("malformed_terms"),
        ),
    ]
}

fn recorded_at(world: &World, offset: i64, ts: Option<i64>) -> Record {
    record(&world.topics().recorded, offset, ts)
}

/// Checks `out`, countersigned from `input`.
fn check_countersigned(
    input: &records::Contract,
    out: &records::Contract,
    version: i64,
    moneta: bool,
) -> Result<(), String> {
    let at = input.events.last().map(|e| e.at).ok_or("empty log")?;
    ensure_eq(
        (out.version, out.status, out.finalized_at),
        (version, ContractStatus::Finalized, Some(at)),
        "version, status, finalized_at",
    )?;
    ensure_eq(
        (out.event_id.as_str(), out.partner_id.as_str()),
        (COUNTERSIGN_EVENT, "moneta"),
        "produced by",
    )?;
    ensure_eq(&out.terms, &input.terms, "terms")?;
    ensure_eq(
        (&out.contract_id, out.created_at),
        (&input.contract_id, input.created_at),
        "id and creation",
    )?;
    let mut events = input.events.clone();
    events.push(entry(COUNTERSIGN_EVENT, version, "countersigned", at));
    ensure_eq(&out.events, &events, "event log")?;
    let partners: Vec<_> = out
        .signatures
        .iter()
        .filter(|s| s.party != Party::Moneta)
        .cloned()
        .collect();
    ensure_eq(&partners, &input.signatures, "partner signatures kept")?;
    let mine = out.signatures.iter().find(|s| s.party == Party::Moneta);
    if !moneta {
        return ensure_eq(mine, None, "no moneta signature");
    }
    let Some(mine) = mine else {
        return Err("no moneta signature".into());
    };
    ensure_eq(out.signatures.last(), Some(mine), "moneta signs last")?;
    ensure_eq(
        (mine.key_id.as_str(), mine.signed_at),
        (MONETA_KEY, at),
        "moneta key and time",
    )?;
    let public = moneta_keys()
        .verifying_key(MONETA_KEY)
        .ok_or("no Moneta public key")?;
    let public = public_b64_of(&public);
    let canonical = to_domain_terms(&out.terms)
        .map_err(|e| e.to_string())?
        .signing_input()
        .map_err(|e| e.to_string())?;
    moneta_signing::verify_ed25519(&public, &canonical, &mine.signature)
        .map_err(|e| format!("moneta signature does not verify: {e}"))?;
    // Over the canonical terms, not over their JSON as sent.
    ensure(
        moneta_signing::verify_ed25519(&public, out.terms.terms_json.as_bytes(), &mine.signature)
            .is_err(),
        || "the signature covers the raw terms_json".into(),
    )
}

fn public_b64_of(key: &moneta_signing::VerifyingKey) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

async fn run(case: &Case) -> Result<(), String> {
    let world = if case.empty_store {
        World::empty()
    } else {
        let mut seed = Seed::standard();
        (case.seed)(&mut seed);
        World::seeded(seed).await
    };
    let input = (case.input)();
    let at = recorded_at(&world, 4, case.ts);
    let result = world.countersign().handle(input.clone(), &at).await;
    match case.expect {
        Countersigned { version, moneta } => {
            let topic = &world.topics().countersigned;
            let Some(out) = contract_on(&result, topic) else {
                return Err(format!("want countersigned, got {:?}", summary(&result)));
            };
            ensure_eq(
                only(&result).map(|e| e.key.as_str()),
                Some(input.contract_id.as_str()),
                "key",
            )?;
            check_countersigned(&input, out, version, moneta)?;
        }
        Nothing => ensure_eq(summary(&result), Ok(vec![]), "emitted")?,
        DeadLetter(code) => ensure_eq(dead_letter(&result), Some(code.to_owned()), "dead letter")?,
    }

    // Deterministic: again, by another instance, at another offset and time.
    let again = world.countersign().handle(input.clone(), &at).await;
    ensure_eq(summary(&again), summary(&result), "the same record again")?;
    let later = recorded_at(&world, 40, Some(TS + 86_400_000));
    let other = world.countersign().handle(input.clone(), &later).await;
    ensure_eq(summary(&other), summary(&result), "redelivered later")?;

    // Owns no state: contract rows are template-check's.
    ensure_eq(
        world.store.contract_calls(),
        (0, 0),
        "contract row reads and writes",
    )?;
    ensure_eq(world.row(&input.contract_id).await, None, "contract row")
}

/// Two at a time: most of a case's time is its store's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_of_countersign() {
    let mut rows = tokio::task::JoinSet::new();
    for case in cases() {
        rows.spawn(async move { run(&case).await.map_err(|e| format!("{}: {e}", case.name)) });
    }
    report(rows.join_all().await);
}

#[tokio::test]
async fn moneta_signs_at_the_time_the_contract_became_complete() {
    let world = World::new().await;
    let mut input = active_charge();
    // The MO signed much later than the charge was created.
    input.events[1].at = T1 + 86_400;
    let result = world
        .countersign()
        .handle(
            input.clone(),
            &recorded_at(&world, 1, Some(TS + 999_999_000)),
        )
        .await;
    let out = contract_on(&result, &world.topics().countersigned).expect("countersigned");
    let moneta = out
        .signatures
        .iter()
        .find(|s| s.party == Party::Moneta)
        .expect("moneta signature");
    assert_eq!(moneta.signed_at, T1 + 86_400);
    assert_eq!(out.finalized_at, Some(T1 + 86_400));
    assert_eq!(out.events.last().map(|e| e.at), Some(T1 + 86_400));
    assert_eq!(out.created_at, T1);
}

#[tokio::test]
async fn a_store_outage_is_transient_and_the_same_record_then_succeeds() {
    let world = World::new().await;
    let stage = world.countersign();
    let at = recorded_at(&world, 1, Some(TS));
    world.store.set_down(true);
    let failed = stage.handle(active_charge(), &at).await;
    assert_transient(&failed);
    world.store.set_down(false);
    let done = stage.handle(active_charge(), &at).await;
    let out = contract_on(&done, &world.topics().countersigned).expect("countersigned");
    check_countersigned(&active_charge(), out, 3, true).expect("countersigned as usual");
}

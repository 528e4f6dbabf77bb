//! `validate` on the embedded store, table-driven: every refusal code it
//! emits to the rejected topic (`invalid_id`, `malformed_terms`,
//! `invalid_signer`, `submitter_mismatch`, `unknown_key`, `key_not_owned`,
//! `revoked_key`, `bad_signature`, `unknown_party`, `party_inactive` for a
//! party and for its organization, `duplicate_event_id`), its dead letters
//! (`missing_submitter`, `missing_timestamp`), and the happy path from both
//! sources (HTTP ingest, partner ingress) to the validated topic with the
//! event unchanged. Every row is then replayed: the same event again must
//! re-emit the same result and write nothing.
//!
//! Further tests: an HTTP replay re-emits the first result even after the
//! registry changed, while a new event meets the current registry (the same
//! for a Kafka replay is an ignored test: a bug); a key or event record that
//! does not decode is `corrupt_state`; a store outage is transient and the
//! same record then succeeds.

mod support;

use moneta_domain::{EventState, KeyState, Kind, LifecycleStatus};
use moneta_processors::validate::STAGE;
use moneta_records::{ContractEvent, Message, Party, Source};
use moneta_runtime::{Emit, Stage};
use serde_json::json;
use support::*;

/// What a row must come to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// On the validated topic, unchanged.
    Validated,
    /// On the rejected topic with this code.
    Refused(&'static str),
    /// Dead-lettered (`ProcessError::Rejected`) with this code.
    DeadLetter(&'static str),
}

use Expect::{DeadLetter, Refused, Validated};

/// One row: how the registry and the event are broken, and the outcome.
struct Case {
    name: &'static str,
    /// Changes to the registry before it is written.
    seed: fn(&mut Seed),
    /// An event with the same id (and signer) processed first, if any.
    prior: Option<fn() -> Draft>,
    /// The event, before signing.
    draft: fn() -> Draft,
    /// Changes to the event after signing.
    tamper: fn(&mut ContractEvent),
    /// The record's timestamp.
    ts: Option<i64>,
    expect: Expect,
}

fn case(name: &'static str, draft: fn() -> Draft, expect: Expect) -> Case {
    Case {
        name,
        seed: |_| {},
        prior: None,
        draft,
        tamper: |_| {},
        ts: Some(TS),
        expect,
    }
}

impl Case {
    fn seed(mut self, seed: fn(&mut Seed)) -> Self {
        self.seed = seed;
        self
    }

    fn prior(mut self, prior: fn() -> Draft) -> Self {
        self.prior = Some(prior);
        self
    }

    fn tamper(mut self, tamper: fn(&mut ContractEvent)) -> Self {
        self.tamper = tamper;
        self
    }

    fn no_timestamp(mut self) -> Self {
        self.ts = None;
        self
    }
}

/// The publisher's signature on the charge, from Kafka.
fn by_publisher() -> Draft {
    Draft::charge(Party::Publisher, "e-1")
}

/// The MO's signature on the charge, from Kafka.
fn by_mo() -> Draft {
    Draft::charge(Party::Mo, "e-2")
}

/// 128 characters of every class an id may use.
fn longest_id() -> String {
    "Az09-_.:".repeat(16)
}

fn cases() -> Vec<Case> {
    vec![
        // Happy paths.
        case(
            "publisher's event from partner ingress",
            by_publisher,
            Validated,
        ),
        case("MO's event from partner ingress", by_mo, Validated),
        case(
            "publisher's event from HTTP ingest",
            || by_publisher().http(),
            Validated,
        ),
        case("MO's event from HTTP ingest", || by_mo().http(), Validated),
        case(
            "ids of exactly 128 allowed characters",
            || {
                let mut d = by_publisher().contract(&longest_id());
                d.event_id = longest_id();
                d
            },
            Validated,
        ),
        case(
            "the other party's event with the same event id",
            || Draft::charge(Party::Mo, "e-1"),
            Validated,
        )
        .prior(by_publisher),
        // invalid_id
        case(
            "invalid_id: empty event id",
            || {
                let mut d = by_publisher();
                d.event_id = String::new();
                d
            },
            Refused("invalid_id"),
        ),
        case(
            "invalid_id: event id with a slash (HTTP)",
            || {
                let mut d = by_publisher().http();
                d.event_id = "e/1".into();
                d
            },
            Refused("invalid_id"),
        ),
        case(
            "invalid_id: event id of 129 characters",
            || {
                let mut d = by_publisher();
                d.event_id = format!("{}x", longest_id());
                d
            },
            Refused("invalid_id"),
        ),
        case(
            "invalid_id: non-ASCII event id",
            || {
                let mut d = by_publisher();
                d.event_id = "évènement".into();
                d
            },
            Refused("invalid_id"),
        ),
        case(
            "invalid_id: empty contract id",
            || by_publisher().contract(""),
            Refused("invalid_id"),
        ),
        case(
            "invalid_id: contract id with a space (HTTP)",
            || by_publisher().http().contract("c 1"),
            Refused("invalid_id"),
        ),
        // malformed_terms
        case(
            "malformed_terms: terms_json is not JSON",
            || {
                let mut d = by_publisher();
                d.terms.terms_json = "{\"amount_minor\": ".into();
                d
            },
            Refused("malformed_terms"),
        ),
        case(
            "malformed_terms: terms_json is an array (HTTP)",
            || {
                let mut d = by_publisher().http();
                d.terms.terms_json = "[1, 2]".into();
                d
            },
            Refused("malformed_terms"),
        ),
        case(
            "malformed_terms: negative template version",
            || {
                let mut d = by_publisher();
                d.terms.template_version = -1;
                d
            },
            Refused("malformed_terms"),
        ),
        // invalid_signer
        case(
            "invalid_signer: a partner event signed as MONETA",
            || Draft::charge(Party::Moneta, "e-1"),
            Refused("invalid_signer"),
        ),
        case(
            "invalid_signer: signed as MONETA, over HTTP",
            || {
                let mut d = Draft::charge(Party::Moneta, "e-1").http();
                d.submitted_by = Some(PUBLISHER.into());
                d
            },
            Refused("invalid_signer"),
        ),
        // submitter_mismatch
        case(
            "submitter_mismatch: the MO submits the publisher's signature",
            || {
                let mut d = by_publisher().http();
                d.submitted_by = Some(MO.into());
                d
            },
            Refused("submitter_mismatch"),
        ),
        // keys
        case(
            "unknown_key: the key id is not registered",
            || {
                let mut d = by_publisher();
                d.key_id = "key-nobody".into();
                d
            },
            Refused("unknown_key"),
        ),
        case(
            "key_not_owned: the publisher signs with the MO's key",
            || {
                let mut d = by_publisher();
                d.key_id = MO_KEY.into();
                d.signer = mo_signer();
                d
            },
            Refused("key_not_owned"),
        ),
        case(
            "revoked_key: the publisher's key is revoked",
            by_publisher,
            Refused("revoked_key"),
        )
        .seed(|s| s.key(PUB_KEY).state = KeyState::Revoked),
        case(
            "revoked_key: over HTTP",
            || by_publisher().http(),
            Refused("revoked_key"),
        )
        .seed(|s| s.key(PUB_KEY).state = KeyState::Revoked),
        // bad_signature
        case(
            "bad_signature: description changed after signing",
            by_publisher,
            Refused("bad_signature"),
        )
        .tamper(|e| e.contract.description.push('!')),
        case(
            "bad_signature: amount raised after signing (HTTP)",
            || by_publisher().http(),
            Refused("bad_signature"),
        )
        .tamper(|e| {
            e.contract.terms_json = e.contract.terms_json.replace("999", "99900");
        }),
        case(
            "bad_signature: another private key under the publisher's key id",
            || {
                let mut d = by_publisher();
                d.signer = stranger_signer();
                d
            },
            Refused("bad_signature"),
        ),
        case(
            "bad_signature: signature is not base64",
            by_publisher,
            Refused("bad_signature"),
        )
        .tamper(|e| e.signature.signature = "not base64!".into()),
        case(
            "bad_signature: signed over the raw terms_json, not the canonical terms",
            by_publisher,
            Refused("bad_signature"),
        )
        .tamper(|e| {
            e.signature.signature =
                moneta_signing::sign_ed25519(&pub_signer(), e.contract.terms_json.as_bytes());
        }),
        // parties
        case(
            "unknown_party: the MO is not registered",
            by_publisher,
            Refused("unknown_party"),
        )
        .seed(|s| s.mos.clear()),
        case(
            "unknown_party: the publisher is not registered (MO signs)",
            by_mo,
            Refused("unknown_party"),
        )
        .seed(|s| s.publishers.clear()),
        case(
            "party_inactive: the MO is suspended (publisher signs)",
            by_publisher,
            Refused("party_inactive"),
        )
        .seed(|s| s.mo().status = LifecycleStatus::Suspended),
        case(
            "party_inactive: the publisher is pending (MO signs, HTTP)",
            || by_mo().http(),
            Refused("party_inactive"),
        )
        .seed(|s| s.publisher().status = LifecycleStatus::Pending),
        case(
            "party_inactive: the MO's organization is suspended",
            by_publisher,
            Refused("party_inactive"),
        )
        .seed(|s| s.organization(MO_ORG).status = LifecycleStatus::Suspended),
        case(
            "party_inactive: the publisher's organization is destroyed",
            by_mo,
            Refused("party_inactive"),
        )
        .seed(|s| s.organization(PUB_ORG).status = LifecycleStatus::Destroyed),
        // duplicate_event_id
        case(
            "duplicate_event_id: HTTP, same id, other amount",
            || by_publisher().http(),
            Refused("duplicate_event_id"),
        )
        .prior(|| by_publisher().http().attr("amount_minor", json!(1000))),
        case(
            "duplicate_event_id: Kafka, same id, other amount",
            by_publisher,
            Refused("duplicate_event_id"),
        )
        .prior(|| by_publisher().attr("amount_minor", json!(1000))),
        case(
            "duplicate_event_id: Kafka after HTTP, same id, other description",
            by_publisher,
            Refused("duplicate_event_id"),
        )
        .prior(|| {
            let mut d = by_publisher().http();
            d.terms.description = "another contract".into();
            d
        }),
        case(
            "duplicate_event_id: HTTP, the first use was refused",
            || by_publisher().http(),
            Refused("duplicate_event_id"),
        )
        .prior(|| {
            let mut d = by_publisher().http().attr("amount_minor", json!(1000));
            d.key_id = "key-nobody".into();
            d
        }),
        // dead letters
        case(
            "missing_submitter: an HTTP event names no submitter",
            || {
                let mut d = by_publisher().http();
                d.submitted_by = None;
                d
            },
            DeadLetter("missing_submitter"),
        ),
        case(
            "missing_timestamp: a valid Kafka event",
            by_publisher,
            DeadLetter("missing_timestamp"),
        )
        .no_timestamp(),
        case(
            "missing_timestamp: a valid HTTP event",
            || by_publisher().http(),
            DeadLetter("missing_timestamp"),
        )
        .no_timestamp(),
        case(
            "missing_timestamp: a refused HTTP event (its refusal is recorded)",
            || {
                let mut d = by_publisher().http();
                d.key_id = "key-nobody".into();
                d
            },
            DeadLetter("missing_timestamp"),
        )
        .no_timestamp(),
        case(
            "a refused Kafka event needs no timestamp (nothing is recorded)",
            || {
                let mut d = by_publisher();
                d.key_id = "key-nobody".into();
                d
            },
            Refused("unknown_key"),
        )
        .no_timestamp(),
    ]
}

fn topic_of<'a>(world: &'a World, event: &ContractEvent) -> &'a str {
    match event.source {
        Source::Http => &world.topics().ingest,
        Source::Kafka => &world.topics().partner_ingress,
    }
}

/// Whose event record the event is filed under.
fn filed_under(event: &ContractEvent) -> String {
    match (&event.source, &event.submitted_by) {
        (Source::Http, Some(submitter)) => submitter.clone(),
        _ => event.claimed_partner().to_owned(),
    }
}

async fn run(case: &Case) -> Result<(), String> {
    let mut seed = Seed::standard();
    (case.seed)(&mut seed);
    let world = World::seeded(seed).await;
    let validate = world.validate();
    if let Some(prior) = case.prior {
        let prior = prior().sign();
        let at = record(topic_of(&world, &prior), 0, Some(TS - 1000));
        let first = validate.handle(prior, &at).await;
        ensure(first.is_ok(), || {
            format!("the prior event failed: {:?}", summary(&first))
        })?;
    }
    let mut event = (case.draft)().sign();
    (case.tamper)(&mut event);
    let input = record(topic_of(&world, &event), 7, case.ts);
    let partner = filed_under(&event);
    let before = world.event_record(&partner, &event.event_id).await;

    let result = validate.handle(event.clone(), &input).await;
    let after = world.event_record(&partner, &event.event_id).await;
    let topics = world.topics();
    match case.expect {
        Validated => {
            let want = Emit::new(
                topics.validated.as_str(),
                event.contract.contract_id.as_str(),
                Message::ContractEvent(event.clone()),
            );
            ensure_eq(summary(&result), Ok(vec![want]), "emitted")?;
            let step = after
                .as_ref()
                .and_then(|r| r.step(EventState::Validated).cloned());
            ensure_eq(
                step.map(|s| (s.stage, s.at_ms, s.code)),
                Some((STAGE.to_owned(), TS, None)),
                "validated step",
            )?;
            ensure_eq(
                after.as_ref().map(|r| r.fingerprint.clone()),
                Some(event.fingerprint()),
                "recorded fingerprint",
            )?;
        }
        Refused(code) => {
            let Some(refused) = refusal(&result, topics) else {
                return Err(format!("want refusal {code}, got {:?}", summary(&result)));
            };
            ensure_eq(refused.code.as_str(), code, "code")?;
            ensure_eq(refused.stage.as_str(), STAGE, "stage")?;
            ensure_eq(
                only(&result).map(|e| e.key.as_str()),
                Some(event.contract.contract_id.as_str()),
                "key",
            )?;
            ensure_eq(
                refused.event_id.as_deref(),
                Some(event.event_id.as_str()),
                "event_id",
            )?;
            ensure_eq(
                refused.contract_id.as_deref(),
                Some(event.contract.contract_id.as_str()),
                "contract_id",
            )?;
            // The partner is named once authenticated: the HTTP submitter,
            // or a Kafka signer whose signature verified.
            let http = event.source == Source::Http;
            let named = if http {
                event.submitted_by.clone()
            } else if code == "duplicate_event_id" {
                Some(event.claimed_partner().to_owned())
            } else {
                None
            };
            ensure_eq(refused.partner_id.clone(), named, "partner_id")?;
            ensure_eq(
                (
                    refused.source_topic.as_str(),
                    refused.source_partition,
                    refused.source_offset,
                ),
                (input.topic.as_str(), input.partition, input.offset),
                "source",
            )?;
            ensure_eq(&refused.original, &input.payload, "original")?;
            if http && code != "duplicate_event_id" {
                let step = after
                    .as_ref()
                    .and_then(|r| r.step(EventState::Rejected).cloned());
                ensure_eq(
                    step.map(|s| (s.stage, s.code)),
                    Some((STAGE.to_owned(), Some(code.to_owned()))),
                    "rejected step",
                )?;
            } else {
                ensure_eq(&after, &before, "event record (nothing written)")?;
            }
        }
        DeadLetter(code) => {
            ensure_eq(dead_letter(&result), Some(code.to_owned()), "dead letter")?;
            ensure_eq(&after, &before, "event record (nothing written)")?;
        }
    }

    // The same event again: the same result, nothing written.
    let again = validate.handle(event.clone(), &input).await;
    ensure_eq(summary(&again), summary(&result), "replay")?;
    let after_replay = world.event_record(&partner, &event.event_id).await;
    ensure_eq(after_replay, after, "event record after the replay")
}

/// Two at a time: most of a case's time is its store's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_outcome_of_validate() {
    let mut rows = tokio::task::JoinSet::new();
    for case in cases() {
        rows.spawn(async move { run(&case).await.map_err(|e| format!("{}: {e}", case.name)) });
    }
    report(rows.join_all().await);
}

#[tokio::test]
async fn an_http_replay_re_emits_the_first_result_whatever_the_registry_now_says() {
    let world = World::new().await;
    let validate = world.validate();
    let topics = world.topics().clone();

    // Validated, then the key is revoked: the replay is still validated,
    // while a new event under that key is refused.
    let event = by_publisher().http().sign();
    let at = record(&topics.ingest, 1, Some(TS));
    let first = validate.handle(event.clone(), &at).await;
    assert_eq!(
        summary(&first),
        Ok(vec![Emit::new(
            topics.validated.as_str(),
            CONTRACT,
            event.clone()
        )])
    );
    world.revoke_key(PUB_KEY).await;
    let replay = validate.handle(event.clone(), &at).await;
    assert_eq!(summary(&replay), summary(&first));
    let mut fresh = by_publisher().http();
    fresh.event_id = "e-fresh".into();
    let refused = validate
        .handle(fresh.sign(), &record(&topics.ingest, 2, Some(TS)))
        .await;
    assert_eq!(
        refusal(&refused, &topics).map(|r| r.code.as_str()),
        Some("revoked_key")
    );

    // Refused (the MO's key is unknown to this event), then the registry
    // would accept it: the replay is the same refusal.
    let mut orphan = by_mo().http();
    orphan.key_id = "key-mo-2".into();
    let at = record(&topics.ingest, 3, Some(TS));
    let first = validate.handle(orphan.sign(), &at).await;
    assert_eq!(
        refusal(&first, &topics).map(|r| r.code.as_str()),
        Some("unknown_key")
    );
    let key = moneta_domain::PartnerKey::new(
        "key-mo-2",
        MO,
        moneta_domain::KeyAlgorithm::Ed25519,
        public_b64(&mo_signer()),
        0,
    )
    .expect("key");
    world.ctx.registry.create(&key).await.expect("register key");
    let replay = validate.handle(orphan.sign(), &at).await;
    assert_eq!(summary(&replay), summary(&first));
}

#[tokio::test]
async fn a_kafka_replay_re_emits_the_first_result_after_the_key_is_revoked() {
    let world = World::new().await;
    let validate = world.validate();
    let topics = world.topics().clone();
    let event = by_publisher().sign();
    let at = record(&topics.partner_ingress, 1, Some(TS));
    let first = validate.handle(event.clone(), &at).await;
    assert_eq!(
        summary(&first),
        Ok(vec![Emit::new(
            topics.validated.as_str(),
            CONTRACT,
            event.clone()
        )])
    );
    world.revoke_key(PUB_KEY).await;
    let replay = validate.handle(event, &at).await;
    assert_eq!(
        summary(&replay),
        summary(&first),
        "the replay re-emits the first result"
    );
}

#[tokio::test]
async fn a_store_outage_is_transient_and_the_same_record_then_succeeds() {
    let world = World::new().await;
    let validate = world.validate();
    let topics = world.topics().clone();
    for event in [by_publisher().sign(), by_mo().http().sign()] {
        let at = record(topic_of(&world, &event), 1, Some(TS));
        world.store.set_down(true);
        let failed = validate.handle(event.clone(), &at).await;
        assert_transient(&failed);
        world.store.set_down(false);
        let done = validate.handle(event.clone(), &at).await;
        assert_eq!(
            summary(&done),
            Ok(vec![Emit::new(
                topics.validated.as_str(),
                CONTRACT,
                event.clone()
            )])
        );
    }
}

#[tokio::test]
async fn corrupt_state_is_dead_lettered_as_corrupt_state() {
    let world = World::new().await;
    let validate = world.validate();
    let topics = world.topics().clone();
    let store = &world.ctx.store;
    store
        .restore(Kind::PartnerKey, MO_KEY, 2, b"{\"id\": 1", &[])
        .await
        .expect("corrupt the MO's key");
    store
        .restore(Kind::EventRecord, "pub-1/e-1", 1, b"not json", &[])
        .await
        .expect("corrupt an event record");
    let rows = [
        (
            "a key that does not decode",
            by_mo(),
            &topics.partner_ingress,
        ),
        (
            "an event record that does not decode (HTTP)",
            by_publisher().http(),
            &topics.ingest,
        ),
        (
            "an event record that does not decode (Kafka)",
            by_publisher(),
            &topics.partner_ingress,
        ),
    ];
    for (name, draft, topic) in rows {
        let result = validate
            .handle(draft.sign(), &record(topic, 1, Some(TS)))
            .await;
        assert_eq!(
            dead_letter(&result).as_deref(),
            Some("corrupt_state"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn the_same_event_in_another_record_is_validated_once() {
    let world = World::new().await;
    let validate = world.validate();
    let topics = world.topics().clone();
    // A partner's retry after an ambiguous timeout: the edge wrote the
    // event twice. Each HTTP and Kafka event once on the validated topic.
    for (event, topic) in [
        (by_publisher().http().sign(), topics.ingest.clone()),
        (by_mo().sign(), topics.partner_ingress.clone()),
    ] {
        let first_at = record(&topic, 1, Some(TS));
        let first = validate.handle(event.clone(), &first_at).await;
        let validated = Ok(vec![Emit::new(
            topics.validated.as_str(),
            CONTRACT,
            event.clone(),
        )]);
        assert_eq!(summary(&first), validated);
        let again = validate
            .handle(event.clone(), &record(&topic, 2, Some(TS + 5)))
            .await;
        assert_eq!(summary(&again), Ok(vec![]), "{topic}: not emitted again");
        // A redo of the first record (its transaction aborted) re-emits it.
        let redo = validate.handle(event.clone(), &first_at).await;
        assert_eq!(summary(&redo), validated, "{topic}: the redo re-emits");
    }
}

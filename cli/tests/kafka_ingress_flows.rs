//! The co-signing and dispute flows of `cosigning.rs` and `disputes.rs`,
//! with every partner signature produced straight to
//! `moneta.contracts.partner-ingress` (Avro, Confluent wire format) instead
//! of submitted over HTTP: partners follow their events and contracts over
//! the public HTTP API and hear from Moneta by webhook, as HTTP partners do.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use moneta_avro::{AvroCodec, LedgerEntry, LedgerKind, RejectedEvent, SchemaName};
use moneta_domain::ContractTerms;
use moneta_testkit::kafka::read_topic;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use rdkafka::message::Message;
use serde_json::{Value, json};
use support::{Moneta, PartnerIngress};

mod support;

/// The states of an event's steps, in order.
fn states(event: &Value) -> Vec<String> {
    event["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["state"].as_str().map(str::to_owned))
        .collect()
}

/// An event that came over Kafka has no edge step: it starts `validated`.
fn came_over_kafka(event: &Value) -> anyhow::Result<()> {
    let states = states(event);
    ensure!(
        states.first().map(String::as_str) == Some("validated")
            && !states.iter().any(|s| s == "accepted"),
        "{}: steps {states:?}",
        event["event_id"]
    );
    Ok(())
}

#[test]
fn over_kafka_the_counterparty_signs_what_moneta_sent_it_and_the_contract_finalizes()
-> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let extra = "[webhooks]\nallow_loopback = true\nallow_http = true\npoll_interval_ms = 50\n";
    let moneta = Moneta::start(&bootstrap, dir.path(), extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let received = support::Inbox::default();
        let addr = received.serve().await?;
        received
            .subscribe(
                &moneta,
                addr,
                "kco",
                &["contract.signature_requested", "contract.finalized"],
            )
            .await?;
        let ingress = PartnerIngress::new(&moneta)?;
        let (globe, acme) = (GLOBE.client(&moneta.base()), ACME.client(&moneta.base()));

        // The publisher signs first, as the template's order says, on Kafka.
        let mut terms = subscription_charge("kco-1");
        terms.terms["charged_at"] = json!("2026-11-05T10:00:00Z");
        let first = ingress
            .produce(&moneta, GLOBE, "kco-1-p", &terms, "recorded")
            .await?;
        came_over_kafka(&first)?;

        // Its status says who has signed and who is awaited.
        let pending = globe.get("/v1/contracts/kco-1").await?.body;
        ensure!(
            pending["status"] == "pending" && pending["awaiting"] == json!(["mo"]),
            "pending contract: {pending}"
        );

        // The MO hears of it from Moneta alone, and signs what it received.
        let request = received
            .wait_for("acme", "contract.signature_requested", "kco-1")
            .await?;
        ensure!(
            request["status"] == "pending" && request["awaiting"] == json!(["mo"]),
            "signature request: {request}"
        );
        let signers: Vec<&str> = request["signatures"]
            .as_array()
            .context("signatures")?
            .iter()
            .filter_map(|s| s["party"].as_str())
            .collect();
        ensure!(signers == ["publisher"], "signed so far: {signers:?}");
        let received_terms: ContractTerms = serde_json::from_value(request["terms"].clone())
            .context("the request's terms are the terms a partner signs")?;
        let second = ingress
            .produce(&moneta, ACME, "kco-1-m", &received_terms, "countersigned")
            .await?;
        came_over_kafka(&second)?;

        // Both parties hear that it is final, with all three signatures.
        for to in ["acme", "globe"] {
            let finalized = received.wait_for(to, "contract.finalized", "kco-1").await?;
            let mut parties: Vec<&str> = finalized["signatures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["party"].as_str())
                .collect();
            parties.sort_unstable();
            ensure!(
                finalized["status"] == "finalized" && parties == ["mo", "moneta", "publisher"],
                "{to}: {finalized}"
            );
        }
        let done = globe.get("/v1/contracts/kco-1").await?.body;
        ensure!(
            done["status"] == "finalized" && done["awaiting"] == json!([]),
            "finalized contract: {done}"
        );
        let operators = moneta.admin_get("/contracts/kco-1").await?;
        ensure!(
            operators["status"] == "finalized",
            "the operators' view: {operators}"
        );
        // The event that completed it shows one `delivered` step per party.
        support::wait_delivered_to_both(&acme, "kco-1-m").await?;
        // The publisher, who had signed, was never asked; the MO once.
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(
            received
                .of_type("globe", "contract.signature_requested")
                .is_empty(),
            "the publisher was asked to sign"
        );
        let asked = received
            .of_type("acme", "contract.signature_requested")
            .len();
        ensure!(asked == 1, "the MO was asked {asked} times");
        Ok::<_, anyhow::Error>(())
    });
    if let Err(error) = outcome {
        anyhow::bail!("{error:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}

fn dispute(id: &str, amount: i64) -> ContractTerms {
    support::dispute(id, "kdc-1", amount)
}

fn resolution(id: &str, dispute_id: &str, outcome: &str, amount: i64) -> ContractTerms {
    support::resolution(id, dispute_id, "kdc-1", outcome, amount)
}

/// Reads `topic` from the start, decoding every value as `T`, until
/// `until` holds of them (60 s at most).
async fn decoded<T: serde::de::DeserializeOwned>(
    moneta: &Moneta,
    topic: &str,
    schema: SchemaName,
    until: impl Fn(&[T]) -> bool,
) -> anyhow::Result<Vec<T>> {
    let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (bootstrap, name) = (moneta.bootstrap.clone(), moneta.topic(topic));
        let messages = tokio::task::spawn_blocking(move || {
            read_topic(&bootstrap, &name, usize::MAX, Duration::from_secs(3))
        })
        .await??;
        let mut values = Vec::new();
        for message in &messages {
            if let Some(payload) = message.payload() {
                values.push(codec.decode::<T>(schema, payload).await?);
            }
        }
        if until(&values) {
            return Ok(values);
        }
        ensure!(
            Instant::now() < deadline,
            "{topic}: the condition never held"
        );
    }
}

#[test]
fn over_kafka_a_dispute_opens_resolves_and_never_reverses_more_than_its_charge()
-> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let moneta = Moneta::start(&bootstrap, dir.path(), "")?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let ingress = PartnerIngress::new(&moneta)?;
        let globe = GLOBE.client(&moneta.base());
        let read = |id: &'static str| {
            let globe = &globe;
            async move {
                Ok::<Value, anyhow::Error>(globe.get(&format!("/v1/contracts/{id}")).await?.body)
            }
        };

        // The charge, 999 EUR, signed by both on Kafka and finalized.
        let charge = subscription_charge("kdc-1");
        ingress
            .produce(&moneta, GLOBE, "kdc-1-p", &charge, "recorded")
            .await?;
        let completed = ingress
            .produce(&moneta, ACME, "kdc-1-m", &charge, "countersigned")
            .await?;
        came_over_kafka(&completed)?;
        let finalized = read("kdc-1").await?;
        ensure!(
            finalized["status"] == "finalized",
            "the charge: {finalized}"
        );

        // Two disputes, opened by the MO alone on Kafka: 999 and 500, each
        // within what is left of the charge. The charge is disputed.
        for (event_id, id, amount) in [("kdd-1-m", "kdd-1", 999), ("kdd-2-m", "kdd-2", 500)] {
            let opened = ingress
                .produce(
                    &moneta,
                    ACME,
                    event_id,
                    &dispute(id, amount),
                    "countersigned",
                )
                .await?;
            came_over_kafka(&opened)?;
        }
        let disputed = read("kdc-1").await?;
        let open: Vec<(&str, &str)> = disputed["disputes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| Some((d["dispute_id"].as_str()?, d["state"].as_str()?)))
            .collect();
        ensure!(
            disputed["status"] == "disputed" && open == [("kdd-1", "open"), ("kdd-2", "open")],
            "after the disputes opened: {disputed}"
        );

        // The publisher proposes both resolutions side by side, each within
        // the charge on its own: 600 of the first (partially upheld), all
        // 500 of the second (upheld).
        let partial = resolution("kdr-1", "kdd-1", "partially_upheld", 600);
        let upheld = resolution("kdr-2", "kdd-2", "upheld", 500);
        ingress
            .produce(&moneta, GLOBE, "kdr-1-p", &partial, "recorded")
            .await?;
        ingress
            .produce(&moneta, GLOBE, "kdr-2-p", &upheld, "recorded")
            .await?;

        // The MO agrees to the first: 600 reversed, the second still open.
        ingress
            .produce(&moneta, ACME, "kdr-1-m", &partial, "countersigned")
            .await?;
        let resolved = read("kdc-1").await?;
        ensure!(
            resolved["status"] == "disputed"
                && resolved["disputes"][0]["dispute_id"] == "kdd-1"
                && resolved["disputes"][0]["state"] == "partially_upheld"
                && resolved["disputes"][0]["upheld_minor"] == 600
                && resolved["disputes"][1]["state"] == "open",
            "after the first resolution: {resolved}"
        );

        // The MO agreeing to the second would reverse 1,100 of 999: refused.
        let refused = ingress
            .produce(&moneta, ACME, "kdr-2-m", &upheld, "rejected")
            .await?;
        ensure!(
            refused["reason"]["code"] == "reversal_exceeds_charge",
            "the second resolution completed: {refused}"
        );
        // A third, proposed now, is refused as it is proposed.
        let again = resolution("kdr-3", "kdd-2", "upheld", 500);
        let refused_early = ingress
            .produce(&moneta, GLOBE, "kdr-3-p", &again, "rejected")
            .await?;
        ensure!(
            refused_early["reason"]["code"] == "reversal_exceeds_charge",
            "a third resolution proposed: {refused_early}"
        );
        // Both refusals are on the rejected topic, naming their partner.
        let rejected = decoded::<RejectedEvent>(
            &moneta,
            "moneta.contracts.rejected",
            SchemaName::RejectedEvent,
            |all| {
                ["kdr-2-m", "kdr-3-p"]
                    .iter()
                    .all(|id| all.iter().any(|r| r.event_id.as_deref() == Some(*id)))
            },
        )
        .await?;
        for (event_id, partner) in [
            ("kdr-2-m", ACME.organization_id),
            ("kdr-3-p", GLOBE.organization_id),
        ] {
            let refusals: Vec<&RejectedEvent> = rejected
                .iter()
                .filter(|r| r.event_id.as_deref() == Some(event_id))
                .collect();
            ensure!(
                refusals.len() == 1
                    && refusals[0].code == "reversal_exceeds_charge"
                    && refusals[0].stage == "template-check"
                    && refusals[0].partner_id.as_deref() == Some(partner)
                    && refusals[0]
                        .source_topic
                        .ends_with("moneta.contracts.validated"),
                "{event_id} on the rejected topic: {refusals:?}"
            );
            // Operators see the same refusal.
            let seen = moneta
                .admin_get(&format!("/events/{partner}/{event_id}"))
                .await?;
            let codes: Vec<&str> = seen["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["state"] == "rejected")
                .filter_map(|s| s["code"].as_str())
                .collect();
            ensure!(
                codes == ["reversal_exceeds_charge"],
                "{event_id} for operators: {seen}"
            );
        }
        // Nothing changed: 600 reversed, the second dispute still open.
        let after = read("kdc-1").await?;
        let reversed: i64 = after["disputes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d["upheld_minor"].as_i64())
            .sum();
        ensure!(
            after["status"] == "disputed"
                && reversed == 600
                && after["disputes"][1]["state"] == "open",
            "after the refusals: {after}"
        );

        // The ledger: the charge, and the one reversal of it.
        let ledger = decoded::<LedgerEntry>(
            &moneta,
            "moneta.ledger.entries",
            SchemaName::LedgerEntry,
            |all| all.iter().any(|e| e.kind == LedgerKind::Reversal),
        )
        .await?;
        let mut entries: Vec<(LedgerKind, i64, String)> = ledger
            .into_iter()
            .filter(|e| e.kind != LedgerKind::Watermark)
            .map(|e| (e.kind, e.amount_minor, e.entry_id))
            .collect();
        entries.sort_by_key(|(_, amount, _)| -amount);
        ensure!(
            entries
                == [
                    (LedgerKind::Charge, 999, "kdc-1".to_owned()),
                    (LedgerKind::Reversal, -600, "kdr-1".to_owned())
                ],
            "ledger: {entries:?}"
        );
        Ok::<_, anyhow::Error>(())
    });
    if let Err(error) = outcome {
        anyhow::bail!("{error:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}

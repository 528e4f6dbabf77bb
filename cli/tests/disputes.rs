//! A dispute's lifecycle over the public HTTP API on real Kafka: a charge
//! finalized, the MO opens a dispute (the charge is `disputed`), both
//! parties resolve it upheld (the charge is `finalized` again, the ledger
//! reverses it exactly once), and a further dispute past the charge is
//! refused with its code.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use moneta_avro::{AvroCodec, LedgerEntry, LedgerKind, SchemaName};
use moneta_domain::ContractTerms;
use moneta_testkit::kafka::read_topic;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use rdkafka::message::Message;
use serde_json::Value;
use support::{Moneta, submit_as};

mod support;

fn dispute(id: &str, amount: i64) -> ContractTerms {
    support::dispute(id, "dc-1", amount)
}

fn resolution(id: &str, dispute_id: &str, outcome: &str, amount: i64) -> ContractTerms {
    support::resolution(id, dispute_id, "dc-1", outcome, amount)
}

#[test]
fn a_dispute_opens_resolves_and_reverses_its_charge_once() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let moneta = Moneta::start(&bootstrap, dir.path(), "")?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let charge = subscription_charge("dc-1");
        submit_as(
            &moneta,
            GLOBE,
            "subscription_charges",
            "dc-1-p",
            &charge,
            "recorded",
        )
        .await?;
        submit_as(
            &moneta,
            ACME,
            "subscription_charges",
            "dc-1-m",
            &charge,
            "countersigned",
        )
        .await?;
        let globe = GLOBE.client(&moneta.base());
        let read = |id: &'static str| {
            let globe = &globe;
            async move {
                Ok::<Value, anyhow::Error>(globe.get(&format!("/v1/contracts/{id}")).await?.body)
            }
        };

        // Opened by the MO alone: the charge is disputed.
        submit_as(
            &moneta,
            ACME,
            "disputes",
            "dd-1-m",
            &dispute("dd-1", 999),
            "countersigned",
        )
        .await?;
        let disputed = read("dc-1").await?;
        ensure!(
            disputed["status"] == "disputed" && disputed["disputes"][0]["state"] == "open",
            "after the dispute opened: {disputed}"
        );

        // Resolved upheld by both: the charge is final again, reversed in full.
        let upheld = resolution("dr-1", "dd-1", "upheld", 999);
        submit_as(
            &moneta,
            GLOBE,
            "dispute_resolutions",
            "dr-1-p",
            &upheld,
            "recorded",
        )
        .await?;
        submit_as(
            &moneta,
            ACME,
            "dispute_resolutions",
            "dr-1-m",
            &upheld,
            "countersigned",
        )
        .await?;
        let resolved = read("dc-1").await?;
        ensure!(
            resolved["status"] == "finalized"
                && resolved["disputes"][0]["state"] == "upheld"
                && resolved["disputes"][0]["upheld_minor"] == 999,
            "after the resolution: {resolved}"
        );

        // Nothing is left of the charge to dispute.
        let refused = submit_as(
            &moneta,
            ACME,
            "disputes",
            "dd-2-m",
            &dispute("dd-2", 1),
            "rejected",
        )
        .await?;
        ensure!(
            refused["reason"]["code"] == "dispute_amount_exceeds_charge",
            "a second dispute: {refused}"
        );

        // The ledger: the charge, and one reversal of it.
        let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut entries = Vec::new();
        while entries.len() < 2 && Instant::now() < deadline {
            let ledger = read_topic(
                &moneta.bootstrap,
                &moneta.topic("moneta.ledger.entries"),
                2,
                Duration::from_secs(5),
            )?;
            entries.clear();
            for message in &ledger {
                let payload = message.payload().context("payload")?;
                let entry: LedgerEntry = codec.decode(SchemaName::LedgerEntry, payload).await?;
                if entry.kind != LedgerKind::Watermark {
                    entries.push((entry.kind, entry.amount_minor, entry.entry_id));
                }
            }
        }
        entries.sort_by_key(|(_, amount, _)| -amount);
        ensure!(
            entries
                == [
                    (LedgerKind::Charge, 999, "dc-1".to_owned()),
                    (LedgerKind::Reversal, -999, "dr-1".to_owned())
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

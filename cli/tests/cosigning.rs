//! The co-signing flow with no out-of-band step: the publisher signs a
//! charge; the MO learns of it only from Moneta's
//! `contract.signature_requested` webhook, signs the terms it received, and
//! the contract finalizes: `contract.finalized` reaches both parties, and
//! the completing event shows one `delivered` step per party. The
//! publisher, who has signed, is never asked.

use std::time::Duration;

use anyhow::{Context, ensure};
use moneta_domain::ContractTerms;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::json;
use support::Moneta;

mod support;

#[test]
fn the_counterparty_signs_what_moneta_sent_it_and_the_contract_finalizes() -> anyhow::Result<()> {
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
                "co",
                &["contract.signature_requested", "contract.finalized"],
            )
            .await?;

        // The publisher signs first, as the template's order says.
        let mut terms = subscription_charge("co-1");
        terms.terms["charged_at"] = json!("2026-11-05T10:00:00Z");
        let globe = GLOBE.client(&moneta.base());
        let body = globe.submission("co-1-p", &terms, GLOBE.party)?;
        let reply = globe.submit("subscription_charges", &body, None).await?;
        ensure!(reply.status == 202, "{} {}", reply.status, reply.body);
        support::wait_event(&globe, "co-1-p", "recorded").await?;

        // Its status says who has signed and who is awaited.
        let pending = globe.get("/v1/contracts/co-1").await?.body;
        ensure!(
            pending["status"] == "pending" && pending["awaiting"] == json!(["mo"]),
            "pending contract: {pending}"
        );

        // The MO hears of it from Moneta alone, and signs what it received.
        let request = received
            .wait_for("acme", "contract.signature_requested", "co-1")
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
        let acme = ACME.client(&moneta.base());
        let body = acme.submission("co-1-m", &received_terms, ACME.party)?;
        let reply = acme.submit("subscription_charges", &body, None).await?;
        ensure!(reply.status == 202, "{} {}", reply.status, reply.body);
        support::wait_event(&acme, "co-1-m", "countersigned").await?;

        // Both parties hear that it is final, with all three signatures.
        for to in ["acme", "globe"] {
            let finalized = received.wait_for(to, "contract.finalized", "co-1").await?;
            let signatures = finalized["signatures"].as_array().map_or(0, Vec::len);
            ensure!(
                finalized["status"] == "finalized" && signatures == 3,
                "{to}: {finalized}"
            );
        }
        let done = globe.get("/v1/contracts/co-1").await?.body;
        ensure!(
            done["status"] == "finalized" && done["awaiting"] == json!([]),
            "finalized contract: {done}"
        );
        // The event that completed it shows one `delivered` step per party.
        support::wait_delivered_to_both(&acme, "co-1-m").await?;
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

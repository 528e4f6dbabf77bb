//! Signing deadlines end to end: a charge the MO never signs expires once
//! stream time (the newest event time) passes its deadline; both parties
//! hear `contract.expired`, its status says `expired`, and the MO's
//! signature sent afterwards — over the very terms Moneta asked it to
//! sign — is refused `contract_expired`.

use std::time::Duration;

use anyhow::{Context, ensure};
use moneta_domain::ContractTerms;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::json;
use support::Moneta;

mod support;

#[test]
fn an_unsigned_contract_expires_and_a_late_signature_is_refused() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    // Three seconds to sign; swept every second of stream time, no grace.
    let extra = "[webhooks]\nallow_loopback = true\nallow_http = true\npoll_interval_ms = 50\n\
                 [rules]\nsignature_expiry_s = 3\nexpiry_sweep_s = 1\nexpiry_grace_s = 0\n";
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
                "ex",
                &["contract.signature_requested", "contract.expired"],
            )
            .await?;
        let globe = GLOBE.client(&moneta.base());
        let mut terms = subscription_charge("ex-1");
        terms.terms["charged_at"] = json!("2026-11-05T10:00:00Z");
        support::submit_as(
            &moneta,
            GLOBE,
            "subscription_charges",
            "ex-1-p",
            &terms,
            "recorded",
        )
        .await?;

        // The MO is asked, and told by when.
        let request = received
            .wait_for("acme", "contract.signature_requested", "ex-1")
            .await?;
        let contract = globe.get("/v1/contracts/ex-1").await?.body;
        let created_at = contract["created_at"].as_i64().context("created_at")?;
        ensure!(
            request["expires_at"] == json!(created_at + 3),
            "signature request: {request}"
        );

        // Nobody signs. Later events move stream time past the deadline on
        // their partitions (a sweep covers every contract).
        tokio::time::sleep(Duration::from_secs(4)).await;
        for i in 2..=4 {
            let mut other = subscription_charge(&format!("ex-{i}"));
            other.terms["charged_at"] = json!("2026-11-05T10:00:00Z");
            support::submit_as(
                &moneta,
                GLOBE,
                "subscription_charges",
                &format!("ex-{i}-p"),
                &other,
                "recorded",
            )
            .await?;
        }
        for to in ["acme", "globe"] {
            let expired = received.wait_for(to, "contract.expired", "ex-1").await?;
            ensure!(expired["status"] == "expired", "{to}: {expired}");
        }
        let contract = globe.get("/v1/contracts/ex-1").await?.body;
        ensure!(
            contract["status"] == "expired" && contract["awaiting"] == json!([]),
            "expired contract: {contract}"
        );

        // The MO signs what it was sent, too late.
        let asked: ContractTerms = serde_json::from_value(request["terms"].clone())?;
        let refused = support::submit_as(
            &moneta,
            ACME,
            "subscription_charges",
            "ex-1-m",
            &asked,
            "rejected",
        )
        .await?;
        let code = refused["steps"]
            .as_array()
            .and_then(|steps| steps.iter().find_map(|s| s["code"].as_str()));
        ensure!(
            code == Some("contract_expired"),
            "late signature: {refused}"
        );
        Ok::<_, anyhow::Error>(())
    });
    if let Err(error) = outcome {
        anyhow::bail!("{error:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}

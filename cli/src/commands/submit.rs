//! `moneta submit-demo`: the signing path end to end, as a partner sees it.
//! Globe (publisher) signs and submits a subscription charge, Acme (MO)
//! co-signs it, and the command follows both events until Moneta
//! countersigns, then verifies every signature with the published keys.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use moneta_ingest::{PartnerClient, Reply};
use moneta_topology::Config;
use moneta_topology::demo::{self, ACME, DemoPartner, GLOBE};
use serde_json::Value;

/// `moneta submit-demo`.
pub async fn submit_demo(config: &Config, contract_id: Option<String>) -> anyhow::Result<ExitCode> {
    let base = format!("http://{}", config.ingest.listen);
    let id = contract_id.unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        format!("demo-charge-{now}")
    });
    let terms = demo::subscription_charge(&id);
    for (partner, event) in [(GLOBE, "publisher-signs"), (ACME, "mo-cosigns")] {
        let client = partner.client(&base);
        let event_id = format!("{id}-{event}");
        let body = client.submission(&event_id, &terms, partner.party)?;
        let reply = client
            .submit("subscription_charges", &body, Some(&event_id))
            .await?;
        println!(
            "{} submits {event_id}: HTTP {} {}",
            partner.organization_id, reply.status, reply.body
        );
        if reply.status != 202 {
            bail!("submission refused");
        }
        let want = if partner.party == "mo" {
            "countersigned"
        } else {
            "recorded"
        };
        let status = follow(&client, &event_id, want).await?;
        println!("  steps: {}", status["steps"]);
    }
    let contract = ACME
        .client(&base)
        .get(&format!("/v1/contracts/{id}"))
        .await?;
    let keys = ACME.client(&base).get("/v1/keys").await?;
    verify(&contract.body, &keys.body)?;
    println!(
        "contract {id}: {} v{}, signed by mo, publisher and Moneta; every signature verifies.",
        contract.body["status"], contract.body["version"]
    );
    Ok(ExitCode::SUCCESS)
}

/// Polls `GET /v1/events/{id}` until it reaches `want` (or is rejected).
pub async fn follow(client: &PartnerClient, event_id: &str, want: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Reply { status, body, .. } = client.get(&format!("/v1/events/{event_id}")).await?;
        if status == 200 {
            let state = body["status"].as_str().unwrap_or_default();
            if state == "rejected" {
                bail!("event {event_id} was rejected: {}", body["reason"]);
            }
            let reached = body["steps"]
                .as_array()
                .is_some_and(|steps| steps.iter().any(|s| s["state"] == want));
            if reached {
                return Ok(body);
            }
        }
        if Instant::now() > deadline {
            bail!("event {event_id} did not reach {want} in 60 s (last: HTTP {status} {body})");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Verifies a contract's three signatures: the partners' with the demo
/// keys, Moneta's with the key `GET /v1/keys` publishes under its id.
fn verify(contract: &Value, keys: &Value) -> anyhow::Result<()> {
    let terms: moneta_domain::Contract =
        serde_json::from_value(contract.clone()).context("contract JSON")?;
    let input = terms.terms().signing_input()?;
    let partner_key = |p: &DemoPartner| p.public_key_b64();
    for (party, key) in [
        ("mo", partner_key(&ACME)),
        ("publisher", partner_key(&GLOBE)),
    ] {
        let signature = terms
            .signatures
            .get(party)
            .ok_or_else(|| anyhow!("no {party} signature"))?;
        moneta_signing::verify_ed25519(&key, &input, &signature.signature)
            .map_err(|e| anyhow!("{party} signature: {e}"))?;
    }
    let moneta = terms
        .signatures
        .get("moneta")
        .ok_or_else(|| anyhow!("no Moneta countersignature"))?;
    let published = keys["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == moneta.key_id.as_str()))
        .and_then(|k| k["public_key"].as_str())
        .ok_or_else(|| anyhow!("Moneta key {} is not published", moneta.key_id))?;
    moneta_signing::verify_ed25519(published, &input, &moneta.signature)
        .map_err(|e| anyhow!("Moneta countersignature: {e}"))
}

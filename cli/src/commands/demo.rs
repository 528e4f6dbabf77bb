//! `moneta seed-demo`: a small working network through the admin API: two
//! organizations, an MO and a publisher (activated), their developers and
//! keys, a webhook endpoint, a billing account, an mPass, the four example
//! templates and a settlement agreement. Safe to run twice.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::admin::{ApiProblem, Body, Client};
use moneta_topology::Config;
use moneta_topology::demo::{ACME, GLOBE};

/// The example templates, shipped inside the binary.
const TEMPLATES: [&str; 7] = [
    include_str!("../../../schemas/templates/subscription-charge.yaml"),
    include_str!("../../../schemas/templates/dispute.yaml"),
    include_str!("../../../schemas/templates/dispute-v2.yaml"),
    include_str!("../../../schemas/templates/dispute-resolution.yaml"),
    include_str!("../../../schemas/templates/reconciliation.yaml"),
    include_str!("../../../schemas/templates/settlement.yaml"),
    include_str!("../../../schemas/templates/settlement-statement.yaml"),
];

fn entities() -> Vec<(&'static str, Value)> {
    let (acme_key, globe_key) = (ACME.public_key_b64(), GLOBE.public_key_b64());
    let lists =
        json!({"metadata": {}, "certificates": [], "services": ["news"], "industries": ["media"]});
    let with = |mut base: Value| {
        if let (Some(b), Some(l)) = (base.as_object_mut(), lists.as_object()) {
            b.extend(l.clone());
        }
        base
    };
    vec![
        (
            "organizations",
            json!({"id": "org-acme", "name": "Acme Members Ltd", "description": "Demo MO's legal entity",
            "created_at": 0, "created_by": "seed-demo", "status": "pending"}),
        ),
        (
            "organizations",
            json!({"id": "org-globe", "name": "Globe Publishing plc", "description": "Demo publisher's legal entity",
            "created_at": 0, "created_by": "seed-demo", "status": "pending"}),
        ),
        (
            "membership-organizations",
            with(
                json!({"id": "mo-acme", "mic": "ACME", "name": "Acme Members",
            "status": "pending", "created_at": 0, "updated_at": 0, "organization_id": "org-acme"}),
            ),
        ),
        (
            "publishers",
            with(
                json!({"id": "pub-globe", "mpc": "GLOBE", "name": "Globe News", "status": "pending",
            "sso_group_id": null, "created_at": 0, "updated_at": 0, "created_by": "seed-demo", "organization_id": "org-globe"}),
            ),
        ),
        (
            "mo-developers",
            json!({"id": "dev-acme-1", "mo_id": "mo-acme", "name": "Ada Acme", "email": "ada@acme.example",
            "created_at": 0, "created_by": "seed-demo", "status": "active"}),
        ),
        (
            "publisher-developers",
            json!({"id": "dev-globe-1", "publisher_id": "pub-globe", "name": "Grace Globe",
            "email": "grace@globe.example", "created_at": 0, "created_by": "seed-demo", "status": "active"}),
        ),
        (
            "keys",
            json!({"id": "key-acme-1", "organization_id": "mo-acme", "algorithm": "ed25519", "public_key": acme_key,
            "state": "active", "created_at": 0, "revoked_at": null}),
        ),
        (
            "keys",
            json!({"id": "key-globe-1", "organization_id": "pub-globe", "algorithm": "ed25519", "public_key": globe_key,
            "state": "active", "created_at": 0, "revoked_at": null}),
        ),
        (
            "webhook-endpoints",
            json!({"id": "wh-globe", "organization_id": "pub-globe", "url": "http://127.0.0.1:9000/webhooks",
            "event_types": ["contract.countersigned"], "enabled": true, "secret": null, "created_at": 0}),
        ),
        (
            "billing-accounts",
            json!({"id": "ba-acme-family", "mo_id": "mo-acme", "account_type": "family",
            "owner_entity_id": "mp-0001", "status": "active", "payment_responsibility_info": {}, "policy_settings": {},
            "created_at": 0, "updated_at": 0}),
        ),
        (
            "mpasses",
            json!({"id": "mp-0001", "mpass_number": "0001", "mo_id": "mo-acme", "billing_account_id": "ba-acme-family",
            "user_id_internal": "acme-user-42", "status": "pending", "tier": "Gold", "active_public_key_id": null,
            "created_at": 0, "updated_at": 0, "expires_at": 1_893_456_000, "metadata": {}}),
        ),
        (
            "settlement-agreements",
            json!({"id": "agr-acme-globe", "mo_id": "mo-acme", "publisher_id": "pub-globe",
            "currency": "EUR", "publisher_bps": 7000, "mo_bps": 2500, "moneta_fee_bps": 500,
            "effective_from": 1_767_225_600, "created_at": 0}),
        ),
    ]
}

/// Entities activated after creation.
const ACTIVATE: [(&str, &str); 5] = [
    ("organizations", "org-acme"),
    ("organizations", "org-globe"),
    ("membership-organizations", "mo-acme"),
    ("publishers", "pub-globe"),
    ("mpasses", "mp-0001"),
];

/// `moneta seed-demo`.
pub async fn seed(config: &Config) -> anyhow::Result<ExitCode> {
    let client = Client::new(config)?;
    for (collection, body) in entities() {
        let id = body["id"].as_str().unwrap_or_default().to_owned();
        let outcome = client
            .call(
                reqwest::Method::POST,
                &format!("/{collection}"),
                &[],
                Some(Body::Json(body)),
            )
            .await;
        report(collection, &id, "created", outcome)?;
    }
    for yaml in TEMPLATES {
        let outcome = client.upload_template(yaml).await;
        let name = yaml
            .lines()
            .next()
            .unwrap_or_default()
            .trim_start_matches("name: ")
            .to_owned();
        report("templates", &name, "uploaded", outcome)?;
    }
    for (collection, id) in ACTIVATE {
        let body = Body::Json(json!({"status": "active"}));
        let outcome = client
            .call(
                reqwest::Method::POST,
                &format!("/{collection}/{id}/status"),
                &[],
                Some(body),
            )
            .await;
        match outcome {
            Err(e)
                if e.downcast_ref::<ApiProblem>()
                    .is_some_and(|p| p.code() == "invalid_transition") =>
            {
                println!("{collection:<26} {id:<18} already active");
            }
            other => report(collection, id, "activated", other)?,
        }
    }
    println!("\nDemo network ready. Try:");
    println!("  moneta admin list membership-organizations mic=ACME");
    println!("  moneta admin list mpasses mo_id=mo-acme mpass_number=0001");
    println!("  moneta admin latest-template subscription-charge");
    Ok(ExitCode::SUCCESS)
}

fn report(
    collection: &str,
    id: &str,
    done: &str,
    outcome: anyhow::Result<Value>,
) -> anyhow::Result<()> {
    match outcome {
        Ok(_) => println!("{collection:<26} {id:<18} {done}"),
        Err(e)
            if e.downcast_ref::<ApiProblem>()
                .is_some_and(|p| p.code() == "already_exists") =>
        {
            println!("{collection:<26} {id:<18} exists");
        }
        // The demo endpoint is http://127.0.0.1: production settings refuse it.
        Err(e)
            if e.downcast_ref::<ApiProblem>()
                .is_some_and(|p| p.code() == "insecure_endpoint") =>
        {
            println!("{collection:<26} {id:<18} skipped (http:// needs webhooks.allow_http)");
        }
        Err(e) => return Err(e),
    }
    Ok(())
}

//! Finding contracts: a partner searches its own contracts over the signed
//! HTTP API (filters, status, cursor pages, refusals), an operator every
//! contract through the admin API and `moneta contracts search`.

use anyhow::{Context, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use moneta_ingest::PartnerClient;
use moneta_signing::SigningKey;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::{Value, json};
use support::{Moneta, submit_as};

mod support;

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn partners_find_their_contracts_page_by_page_and_operators_find_all() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let moneta = Moneta::start(&bootstrap, dir.path(), "")?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        // Two finalized charges, one awaiting the MO.
        for id in ["cs-1", "cs-2", "cs-3"] {
            let terms = subscription_charge(id);
            submit_as(&moneta, GLOBE, "subscription_charges", &format!("{id}-p"), &terms, "recorded").await?;
            if id != "cs-3" {
                submit_as(&moneta, ACME, "subscription_charges", &format!("{id}-m"), &terms, "countersigned").await?;
            }
        }
        // A contract of the same MO with another publisher, which Globe
        // must never see.
        let other_key = SigningKey::from_bytes(&[0x33; 32]);
        let public_key = STANDARD.encode(other_key.verifying_key().to_bytes());
        moneta
            .admin(
                "/publishers",
                json!({"id": "pub-other", "mpc": "OTHER", "name": "Other News", "status": "pending",
                       "sso_group_id": null, "created_at": 0, "updated_at": 0, "created_by": "test",
                       "organization_id": "org-globe", "metadata": {}, "certificates": [],
                       "services": [], "industries": []}),
            )
            .await?;
        moneta
            .admin("/publishers/pub-other/status", json!({"status": "active"}))
            .await?;
        moneta
            .admin(
                "/keys",
                json!({"id": "key-other-1", "organization_id": "pub-other", "algorithm": "ed25519",
                       "public_key": public_key, "state": "active", "created_at": 0, "revoked_at": null}),
            )
            .await?;
        let other = PartnerClient::new(&moneta.base(), "key-other-1", other_key);
        let mut theirs = subscription_charge("cs-0-other");
        theirs.publisher_id = "pub-other".into();
        let body = other.submission("cs-0-other-p", &theirs, "publisher")?;
        let reply = other.submit("subscription_charges", &body, None).await?;
        ensure!(reply.status == 202, "{} {}", reply.status, reply.body);
        support::wait_event(&other, "cs-0-other-p", "recorded").await?;

        let globe = GLOBE.client(&moneta.base());
        let all = globe.get("/v1/contracts").await?;
        ensure!(all.status == 200, "{} {}", all.status, all.body);
        ensure!(ids(&all.body) == ["cs-1", "cs-2", "cs-3"], "{}", all.body);
        let pending = globe.get("/v1/contracts?status=pending").await?.body;
        ensure!(ids(&pending) == ["cs-3"], "{pending}");
        let typed = globe
            .get("/v1/contracts?type=subscription_charge&status=finalized&mo=mo-acme")
            .await?
            .body;
        ensure!(ids(&typed) == ["cs-1", "cs-2"], "{typed}");
        let same_mo = globe.get("/v1/contracts?mo=mo-acme").await?.body;
        ensure!(
            ids(&same_mo) == ["cs-1", "cs-2", "cs-3"],
            "the MO's contracts with others stay hidden: {same_mo}"
        );
        // Another publisher's side is never the caller's: nothing.
        let other = globe.get("/v1/contracts?publisher=pub-other").await?.body;
        ensure!(
            ids(&other).is_empty() && other["next_cursor"].is_null(),
            "{other}"
        );
        // One at a time, by cursor: each once, in order.
        let mut seen = Vec::new();
        let mut path = "/v1/contracts?limit=1".to_owned();
        loop {
            let page = globe.get(&path).await?.body;
            seen.extend(ids(&page));
            let Some(next) = page["next_cursor"].as_str() else {
                break;
            };
            path = format!("/v1/contracts?limit=1&cursor={next}");
            ensure!(seen.len() <= 3, "pages never end: {seen:?}");
        }
        ensure!(seen == ["cs-1", "cs-2", "cs-3"], "paged: {seen:?}");
        for bad in ["status=sleeping", "limit=0", "created_from=yesterday", "colour=red"] {
            let refused = globe.get(&format!("/v1/contracts?{bad}")).await?;
            ensure!(
                refused.status == 400 && refused.body["code"] == "invalid_search",
                "{bad}: {} {}",
                refused.status,
                refused.body
            );
        }
        let acme = ACME.client(&moneta.base());
        let mine = acme.get("/v1/contracts?status=pending").await?.body;
        ensure!(
            sorted(ids(&mine)) == ["cs-0-other", "cs-3"],
            "the MO's view: {mine}"
        );

        // Operators: every contract, with the same filters.
        let finalized = moneta
            .admin_get("/contracts?publisher=pub-globe&status=finalized")
            .await?;
        ensure!(ids(&finalized) == ["cs-1", "cs-2"], "{finalized}");
        let every = moneta.admin_get("/contracts?mo=mo-acme").await?;
        ensure!(ids(&every).len() == 4, "{every}");
        let one = moneta.admin_get("/contracts/cs-3").await?;
        ensure!(one["status"] == "pending", "{one}");
        Ok::<_, anyhow::Error>(())
    });
    if let Err(error) = outcome {
        anyhow::bail!("{error:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    let listed: Value =
        serde_json::from_str(&moneta.command(&["contracts", "search", "--all", "--limit", "2"])?)
            .context("moneta contracts search prints JSON")?;
    let listed: Vec<&str> = listed
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["id"].as_str())
        .collect();
    ensure!(listed.len() == 4, "CLI: {listed:?}");
    let pending: Value = serde_json::from_str(&moneta.command(&[
        "contracts",
        "search",
        "--status",
        "pending",
        "--from",
        "2020-01-01T00:00:00Z",
    ])?)?;
    ensure!(
        sorted(ids(&pending)) == ["cs-0-other", "cs-3"],
        "CLI pending: {pending}"
    );
    Ok(())
}

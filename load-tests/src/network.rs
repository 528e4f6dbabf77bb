//! The simulated partner network: `pairs` MOs and as many publishers, each
//! with its own ed25519 key, a webhook endpoint, an mPass and a settlement
//! agreement per pair; seeded through the admin API like an operator would.
//! Also the contracts they sign and the signed submissions they send.

use std::time::Duration;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use moneta_domain::ContractTerms;
use moneta_ingest::PartnerClient;
use moneta_signing::SigningKey;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Value, json};

use crate::machine::UtcTime;

/// The template every load-test contract uses.
const TEMPLATE: &str = include_str!("../../schemas/templates/subscription-charge.yaml");
/// The settlement agreements' start, 2020-01-01T00:00:00Z: far enough back that
/// runs of millions of contracts (1,000 per day of `charged_at`) stay in the past.
const AGREEMENT_FROM: i64 = 1_577_836_800;
/// Contracts per day of `charged_at`: periods keep closing during a run.
const CONTRACTS_PER_DAY: u64 = 1000;

/// One simulated partner: an MO or a publisher and its key.
#[derive(Clone)]
pub struct Partner {
    /// Organization id, e.g. `mo-lt-003`.
    pub id: String,
    /// Registered key id.
    pub key_id: String,
    /// `mo` or `publisher`.
    pub party: &'static str,
    key: SigningKey,
}

impl Partner {
    fn new(id: String, party: &'static str, index: usize) -> Self {
        let mut seed = [0u8; 32];
        seed[..8].copy_from_slice(&(index as u64).to_le_bytes());
        seed[31] = if party == "mo" { 0xA1 } else { 0xB2 };
        seed[30] = 0x4C; // 'L': load tests, never the demo keys
        Self {
            key_id: format!("key-{id}"),
            id,
            party,
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// A client signing as this partner for the edge at `base`.
    pub fn client(&self, base: &str) -> PartnerClient {
        PartnerClient::new(base, &self.key_id, self.key.clone())
    }

    fn public_key_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.verifying_key().to_bytes())
    }
}

/// An MO and a publisher that do business together.
#[derive(Clone)]
pub struct Pair {
    /// The MO.
    pub mo: Partner,
    /// The publisher.
    pub publisher: Partner,
    /// The MO's mPass the charges are for.
    pub mpass_id: String,
    /// Its number.
    pub mpass_number: String,
}

/// The simulated network of `pairs` MO–publisher pairs.
pub fn network(pairs: usize) -> Vec<Pair> {
    (0..pairs)
        .map(|p| Pair {
            mo: Partner::new(format!("mo-lt-{p:03}"), "mo", p),
            publisher: Partner::new(format!("pub-lt-{p:03}"), "publisher", p),
            mpass_id: format!("mp-lt-{p:03}"),
            mpass_number: format!("{:04}", p + 1),
        })
        .collect()
}

/// Contract number `n` of a run tagged `tag`, between the parties of `pair`.
pub fn contract(tag: &str, n: u64, pair: &Pair) -> ContractTerms {
    let day = UtcTime::from_unix((AGREEMENT_FROM as u64) + 86_400 * (1 + n / CONTRACTS_PER_DAY));
    let date = day.date();
    ContractTerms {
        contract_id: contract_id(tag, n),
        contract_type: "subscription_charge".into(),
        template_name: "subscription-charge".into(),
        template_version: 1,
        mo_id: pair.mo.id.clone(),
        publisher_id: pair.publisher.id.clone(),
        mpass_id: Some(pair.mpass_id.clone()),
        description: "load test subscription charge".into(),
        terms: json!({
            "subscription_id": format!("sub-{n}"),
            "mpass_number": pair.mpass_number,
            "amount_minor": 999 + (n % 100) as i64,
            "currency": "EUR",
            "period_start": date,
            "period_end": date,
            "charged_at": format!("{date}T12:00:00Z"),
        }),
    }
}

/// The id of contract `n` of run `tag`.
pub fn contract_id(tag: &str, n: u64) -> String {
    format!("lt-{tag}-{n:09}")
}

/// Contract number from an id made by [`contract_id`] for run `tag`.
pub fn contract_number(tag: &str, id: &str) -> Option<u64> {
    id.strip_prefix("lt-")?
        .strip_prefix(tag)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

/// The submission domain every load-test contract goes to.
pub const DOMAIN_PATH: &str = "/v1/events/subscription_charges";

/// A fully signed request, ready to send.
pub struct SignedRequest {
    /// Headers: RFC 9421 signature, content digest, idempotency key.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// `partner`'s signed submission of `terms` (RFC 8785 + ed25519 over the
/// terms, RFC 9421 over the request), with `Idempotency-Key` = event id.
pub fn signed_submission(
    client: &PartnerClient,
    partner: &Partner,
    terms: &ContractTerms,
) -> anyhow::Result<SignedRequest> {
    let event_id = format!("{}-{}", terms.contract_id, partner.party);
    let body = client.submission(&event_id, terms, partner.party)?;
    let body = serde_json::to_vec(&body)?;
    let mut headers = client.sign_request("POST", DOMAIN_PATH, &body)?;
    headers.insert("idempotency-key", HeaderValue::from_str(&event_id)?);
    Ok(SignedRequest { headers, body })
}

/// An admin API client.
pub struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    /// A client for the admin API at `listen` (`host:port`).
    pub fn new(listen: &str, token: &str) -> Self {
        moneta_tls::install_crypto_provider();
        Self {
            http: reqwest::Client::new(),
            base: format!("http://{listen}/v1/admin"),
            token: token.to_owned(),
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<()> {
        let response = request
            .bearer_auth(&self.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("admin API: {what}"))?;
        let status = response.status();
        if status.is_success() || status.as_u16() == 409 {
            return Ok(());
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        // Seeding twice is fine: an entity that exists or is already active.
        let code = body["code"].as_str().unwrap_or_default();
        if matches!(code, "already_exists" | "invalid_transition") {
            return Ok(());
        }
        bail!("admin API: {what}: {status} {body}")
    }

    async fn create(&self, collection: &str, body: Value) -> anyhow::Result<()> {
        let what = format!("create {collection} {}", body["id"]);
        self.send(
            self.http
                .post(format!("{}/{collection}", self.base))
                .json(&body),
            &what,
        )
        .await
    }

    async fn activate(&self, collection: &str, id: &str) -> anyhow::Result<()> {
        self.send(
            self.http
                .post(format!("{}/{collection}/{id}/status", self.base))
                .json(&json!({"status": "active"})),
            &format!("activate {collection} {id}"),
        )
        .await
    }

    /// Uploads the load test's template (409 if it is there already).
    pub async fn upload_template(&self) -> anyhow::Result<()> {
        self.send(
            self.http
                .put(format!(
                    "{}/templates/subscription-charge/versions/1",
                    self.base
                ))
                .header("content-type", "application/yaml")
                .body(TEMPLATE),
            "upload template subscription-charge v1",
        )
        .await
    }

    /// Seeds `pairs`; each organization's webhook endpoint is
    /// `<webhook_base>/<organization id>` if a base is given.
    pub async fn seed(&self, pairs: &[Pair], webhook_base: Option<&str>) -> anyhow::Result<()> {
        self.upload_template().await?;
        for pair in pairs {
            self.seed_pair(pair, webhook_base).await?;
        }
        Ok(())
    }

    async fn seed_pair(&self, pair: &Pair, webhook_base: Option<&str>) -> anyhow::Result<()> {
        let lists = |mut base: Value| {
            if let Some(b) = base.as_object_mut() {
                for (k, v) in [
                    ("metadata", json!({})),
                    ("certificates", json!([])),
                    ("services", json!(["news"])),
                    ("industries", json!(["media"])),
                ] {
                    b.insert(k.into(), v);
                }
            }
            base
        };
        let (mo, publisher) = (&pair.mo, &pair.publisher);
        for partner in [mo, publisher] {
            let org = format!("org-{}", partner.id);
            self.create(
                "organizations",
                json!({"id": org, "name": format!("Load test {}", partner.id), "description": "load test",
                       "created_at": 0, "created_by": "load-tests", "status": "pending"}),
            )
            .await?;
            self.activate("organizations", &org).await?;
        }
        let tag = mo.id.trim_start_matches("mo-lt-").to_uppercase();
        self.create(
            "membership-organizations",
            lists(
                json!({"id": mo.id, "mic": format!("LTM{tag}"), "name": format!("Load MO {tag}"),
                       "status": "pending", "created_at": 0, "updated_at": 0, "organization_id": format!("org-{}", mo.id)}),
            ),
        )
        .await?;
        self.activate("membership-organizations", &mo.id).await?;
        self.create(
            "publishers",
            lists(
                json!({"id": publisher.id, "mpc": format!("LTP{tag}"), "name": format!("Load publisher {tag}"),
                       "status": "pending", "sso_group_id": null, "created_at": 0, "updated_at": 0,
                       "created_by": "load-tests", "organization_id": format!("org-{}", publisher.id)}),
            ),
        )
        .await?;
        self.activate("publishers", &publisher.id).await?;
        for partner in [mo, publisher] {
            self.create(
                "keys",
                json!({"id": partner.key_id, "organization_id": partner.id, "algorithm": "ed25519",
                       "public_key": partner.public_key_b64(), "state": "active", "created_at": 0, "revoked_at": null}),
            )
            .await?;
            if let Some(base) = webhook_base {
                self.create(
                    "webhook-endpoints",
                    json!({"id": format!("wh-{}", partner.id), "organization_id": partner.id,
                           "url": format!("{base}/{}", partner.id),
                           "event_types": ["contract.countersigned"], "enabled": true, "secret": null, "created_at": 0}),
                )
                .await?;
            }
        }
        let account = format!("ba-{}", mo.id);
        self.create(
            "billing-accounts",
            json!({"id": account, "mo_id": mo.id, "account_type": "family", "owner_entity_id": pair.mpass_id,
                   "status": "active", "payment_responsibility_info": {}, "policy_settings": {},
                   "created_at": 0, "updated_at": 0}),
        )
        .await?;
        self.create(
            "mpasses",
            json!({"id": pair.mpass_id, "mpass_number": pair.mpass_number, "mo_id": mo.id,
                   "billing_account_id": account, "user_id_internal": format!("user-{}", mo.id),
                   "status": "pending", "tier": "Gold", "active_public_key_id": null,
                   "created_at": 0, "updated_at": 0, "expires_at": 1_893_456_000, "metadata": {}}),
        )
        .await?;
        self.activate("mpasses", &pair.mpass_id).await?;
        self.create(
            "settlement-agreements",
            json!({"id": format!("agr-{}", mo.id), "mo_id": mo.id, "publisher_id": publisher.id,
                   "currency": "EUR", "publisher_bps": 7000, "mo_bps": 2500, "moneta_fee_bps": 500,
                   "effective_from": AGREEMENT_FROM, "created_at": 0}),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_ids_round_trip() {
        let id = contract_id("steady", 42);
        assert_eq!(contract_number("steady", &id), Some(42));
        assert_eq!(contract_number("ramp", &id), None);
    }

    #[test]
    fn partners_have_distinct_keys() {
        let net = network(3);
        let keys: std::collections::HashSet<String> = net
            .iter()
            .flat_map(|p| [p.mo.public_key_b64(), p.publisher.public_key_b64()])
            .collect();
        assert_eq!(keys.len(), 6);
    }
}

//! Security end to end (#9): one `moneta up` on a real broker, logging at
//! `trace`, attacked the way a partner, an outsider or a stranger could;
//! everything over TLS (#23): the edge over HTTPS, the admin API with
//! mutual TLS (the CLI too, through `[admin.client]`), the webhook receiver
//! over HTTPS with a certificate of the test CA (`webhooks.ca_bundle`).
//!
//! - Every admin route refuses a request without the token or with a wrong
//!   one (401 problem+json), for each route the served OpenAPI document lists.
//! - Partner isolation at the edge: an outsider (and the other party) gets
//!   the same 404 for someone else's event as for none; an outsider gets the
//!   same 404 for a contract it is not a party to; event ids are per
//!   partner; webhook deliveries go to the contract's parties only.
//! - SSRF: webhook endpoints on link-local (cloud metadata), private and
//!   IPv4-mapped addresses are never connected to; their deliveries fail.
//! - Replays: the same signed request twice is refused the second time
//!   (GET and POST), and a signature moved to another path does not verify.
//! - A revoked partner key stops working at once, also for requests signed
//!   before the revocation.
//! - `moneta signing-key rotate` + restart: `GET /v1/keys` still publishes
//!   the old key, old countersignatures verify with it, new ones use the new key.
//! - No secret (admin token, both signing seeds, the webhook secret, the
//!   TLS private keys) appears anywhere in the `trace`-level log of the
//!   whole run.

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use moneta_domain::ContractTerms;
use moneta_ingest::{PartnerClient, Reply};
use moneta_signing::SigningKey;
use moneta_testkit::tls::{TestCa, pem_lines, write_pem};
use moneta_tls::{ClientIdentity, ServerTls};
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::{Value, json};
use support::{Moneta, TOKEN};

const WEBHOOK_SECRET: [u8; 24] = [0x5a; 24];
const OUTSIDER_SEED: [u8; 32] = [0x79; 32];
const OUTSIDER_SEED_2: [u8; 32] = [0x7a; 32];

/// Webhook requests received, by endpoint path: (path, body).
type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn receive(
    State(received): State<Received>,
    UrlPath(path): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut all) = received.lock() {
        all.push((path, body));
    }
    StatusCode::NO_CONTENT
}

/// The webhook receiver, over HTTPS with a certificate of the test CA.
async fn serve_receiver(received: Received, tls: &ServerTls) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/{path}", post(receive))
        .with_state(received);
    let tls = moneta_tls::server_config(tls)?;
    tokio::spawn(moneta_tls::serve(
        listener,
        app,
        tls,
        std::future::pending(),
    ));
    Ok(addr)
}

/// The run's certificates (a test CA): the edge's, the admin API's (mutual
/// TLS), the operator's and the webhook receiver's; the TOML naming them;
/// and the private keys' lines, for the secret scan.
struct Certificates {
    extra: String,
    ca: PathBuf,
    operator: ClientIdentity,
    receiver: ServerTls,
    key_lines: Vec<String>,
}

fn certificates(dir: &std::path::Path) -> anyhow::Result<Certificates> {
    let ca = TestCa::new("Moneta security test CA")?;
    let hosts = ["localhost", "127.0.0.1"];
    let (edge, admin, operator, receiver) = (
        ca.issue(&hosts)?,
        ca.issue(&hosts)?,
        ca.issue(&["operator"])?,
        ca.issue(&hosts)?,
    );
    let pem = |name: &str, text: &str| write_pem(dir, name, text);
    let ca_path = pem("ca.pem", ca.pem())?;
    let operator_files = ClientIdentity {
        cert: pem("operator.pem", &operator.cert_pem)?,
        key: pem("operator.key", &operator.key_pem)?,
    };
    let extra = format!(
        "[ingest.tls]\ncert = {:?}\nkey = {:?}\n\
         [admin.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {ca_path:?}\n\
         [admin.client]\nca = {ca_path:?}\ncert = {:?}\nkey = {:?}\n\
         [webhooks]\nallow_loopback = true\nca_bundle = {ca_path:?}\n",
        pem("edge.pem", &edge.cert_pem)?,
        pem("edge.key", &edge.key_pem)?,
        pem("admin.pem", &admin.cert_pem)?,
        pem("admin.key", &admin.key_pem)?,
        operator_files.cert,
        operator_files.key,
    );
    let key_lines = [&edge, &admin, &operator, &receiver]
        .iter()
        .flat_map(|issued| pem_lines(&issued.key_pem))
        .collect();
    Ok(Certificates {
        extra,
        receiver: ServerTls {
            cert: pem("receiver.pem", &receiver.cert_pem)?,
            key: pem("receiver.key", &receiver.key_pem)?,
            client_ca: None,
        },
        operator: operator_files,
        ca: ca_path,
        key_lines,
    })
}

fn expect(case: &str, reply: &Reply, status: u16, code: &str) -> anyhow::Result<()> {
    ensure!(
        reply.status == status && reply.body["code"] == code,
        "{case}: expected {status} {code}, got {} {}",
        reply.status,
        reply.body
    );
    let media = reply
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    ensure!(
        media == Some("application/problem+json"),
        "{case}: {media:?}"
    );
    Ok(())
}

fn whsec() -> String {
    format!("whsec_{}", STANDARD.encode(WEBHOOK_SECRET))
}

/// The outsider publisher (no party to the demo contracts) and its keys,
/// and webhook endpoints: ACME's (with a secret), the outsider's, and three
/// SSRF targets for ACME.
async fn register(moneta: &Moneta, receiver: SocketAddr) -> anyhow::Result<()> {
    moneta
        .admin(
            "/publishers",
            json!({"id": "pub-outsider", "mpc": "OUTSIDE", "name": "Outsider", "status": "pending",
            "sso_group_id": null, "created_at": 0, "updated_at": 0, "created_by": "test",
            "organization_id": null, "metadata": {}, "certificates": [], "services": [], "industries": []}),
        )
        .await?;
    moneta
        .admin(
            "/publishers/pub-outsider/status",
            json!({"status": "active"}),
        )
        .await?;
    for (id, seed) in [
        ("key-outsider-1", OUTSIDER_SEED),
        ("key-outsider-2", OUTSIDER_SEED_2),
    ] {
        let public = STANDARD.encode(SigningKey::from_bytes(&seed).verifying_key().to_bytes());
        moneta
            .admin(
                "/keys",
                json!({"id": id, "organization_id": "pub-outsider", "algorithm": "ed25519",
                "public_key": public, "state": "active", "created_at": 0, "revoked_at": null}),
            )
            .await?;
    }
    let events = ["contract.signed", "contract.countersigned"];
    for (id, org, url, secret) in [
        (
            "wh-acme",
            ACME.organization_id,
            format!("https://{receiver}/acme"),
            Some(whsec()),
        ),
        (
            "wh-outsider",
            "pub-outsider",
            format!("https://{receiver}/outsider"),
            None,
        ),
        (
            "wh-ssrf-metadata",
            ACME.organization_id,
            "https://169.254.169.254/latest/meta-data/".to_owned(),
            None,
        ),
        (
            "wh-ssrf-private",
            ACME.organization_id,
            "https://10.0.0.1/hook".to_owned(),
            None,
        ),
        (
            "wh-ssrf-mapped",
            ACME.organization_id,
            "https://[::ffff:169.254.169.254]/".to_owned(),
            None,
        ),
    ] {
        moneta
            .admin(
                "/webhook-endpoints",
                json!({"id": id, "organization_id": org, "url": url, "event_types": events,
                       "enabled": true, "secret": secret, "created_at": 0, "timeout_ms": 1000}),
            )
            .await?;
    }
    Ok(())
}

/// Every admin route, from the document the running admin API serves:
/// no token, a wrong token, a near miss and the wrong scheme are all 401.
async fn admin_requires_the_token(moneta: &Moneta) -> anyhow::Result<()> {
    let http = moneta.http();
    let base = format!("https://{}", moneta.admin);
    let doc: Value = http
        .get(format!("{base}/v1/admin/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    let paths = doc["paths"].as_object().context("paths")?;
    let attempts = [
        None,
        Some("Bearer wrong-token".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Basic {TOKEN}")),
        Some(TOKEN.to_owned()),
        Some("Bearer ".to_owned()),
    ];
    let mut checked = 0;
    for (path, operations) in paths {
        if path == "/v1/admin/openapi.json" {
            continue;
        }
        let uri = path
            .split('/')
            .map(|s| if s.starts_with('{') { "x" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in ["get", "post", "put", "patch", "delete"] {
            if operations.get(method).is_none() {
                continue;
            }
            for authorization in &attempts {
                let mut request = http
                    .request(method.to_uppercase().parse()?, format!("{base}{uri}"))
                    .header("content-type", "application/json")
                    .body("{}");
                if let Some(value) = authorization {
                    request = request.header("authorization", value);
                }
                let response = request.send().await?;
                let status = response.status().as_u16();
                let media = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body: Value = response.json().await.unwrap_or(Value::Null);
                ensure!(
                    status == 401
                        && body["code"] == "unauthorized"
                        && media.as_deref() == Some("application/problem+json"),
                    "{method} {uri} with {:?}: {status} {media:?} {body}",
                    authorization
                        .as_deref()
                        .map(|a| a.replace(TOKEN, "<token>"))
                );
                checked += 1;
            }
        }
    }
    ensure!(
        checked >= 40 * attempts.len(),
        "only {checked} admin requests checked"
    );
    // The control: the token itself works.
    let ok = http
        .get(format!("{base}/v1/admin/organizations"))
        .bearer_auth(TOKEN)
        .send()
        .await?;
    ensure!(ok.status() == 200, "the token is refused: {}", ok.status());
    Ok(())
}

/// Partner A cannot read partner B's events, contracts or deliveries.
async fn isolation(moneta: &Moneta, received: &Received) -> anyhow::Result<()> {
    let base = moneta.base();
    let (globe, acme) = (
        GLOBE.client(&base).with_http(moneta.http()),
        ACME.client(&base).with_http(moneta.http()),
    );
    let outsider = PartnerClient::new(
        &base,
        "key-outsider-1",
        SigningKey::from_bytes(&OUTSIDER_SEED),
    )
    .with_http(moneta.http());

    // The parties read their contract; their own events.
    let reply = globe.get("/v1/contracts/c-sec-1").await?;
    ensure!(reply.status == 200, "the publisher reads its contract");
    let reply = globe.get("/v1/events/c-sec-1-publisher").await?;
    ensure!(reply.status == 200, "the publisher reads its event");

    // Someone else's contract is exactly as absent as a missing one.
    let theirs = outsider.get("/v1/contracts/c-sec-1").await?;
    let missing = outsider.get("/v1/contracts/c-sec-none").await?;
    expect(
        "outsider reads a contract",
        &theirs,
        404,
        "contract_not_found",
    )?;
    expect(
        "outsider reads no contract",
        &missing,
        404,
        "contract_not_found",
    )?;
    ensure!(theirs.body["title"] == missing.body["title"]);
    ensure!(
        !theirs.body.to_string().contains("mo-acme") && !theirs.body.to_string().contains("999"),
        "the 404 leaks the contract: {}",
        theirs.body
    );

    // Someone else's event: the outsider and even the other party.
    for (who, client) in [("outsider", &outsider), ("the other party", &acme)] {
        let reply = client.get("/v1/events/c-sec-1-publisher").await?;
        expect(
            &format!("{who} reads GLOBE's event"),
            &reply,
            404,
            "event_not_found",
        )?;
    }

    // Event ids are per partner: reusing GLOBE's id reveals nothing.
    let terms = ContractTerms {
        publisher_id: "pub-outsider".into(),
        ..subscription_charge("c-sec-outsider")
    };
    let body = outsider.submission("c-sec-1-publisher", &terms, "publisher")?;
    let reply = outsider.submit("subscription_charges", &body, None).await?;
    ensure!(
        reply.status == 202,
        "an outsider's event with GLOBE's event id: {} {}",
        reply.status,
        reply.body
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = outsider.get("/v1/events/c-sec-1-publisher").await?;
        ensure!(reply.status == 200, "the outsider reads its own event");
        ensure!(
            reply.body["contract_id"] == "c-sec-outsider",
            "the outsider sees another partner's event: {}",
            reply.body
        );
        if reply.body["status"] != "accepted" {
            ensure!(
                reply.body["reason"]["code"] != "duplicate_event_id",
                "event ids leak across partners: {}",
                reply.body
            );
            break;
        }
        ensure!(Instant::now() < deadline, "never processed: {}", reply.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Deliveries: ACME's endpoint gets c-sec-1, the outsider's never does.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = received.lock().map(|r| r.clone()).unwrap_or_default();
        let about = |endpoint: &str| {
            seen.iter()
                .filter(|(path, body)| path == endpoint && body.to_string().contains("\"c-sec-1\""))
                .count()
        };
        ensure!(
            about("outsider") == 0,
            "the outsider received a delivery about c-sec-1"
        );
        if about("acme") > 0 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "ACME never received c-sec-1 ({} requests)",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = moneta
        .admin_get("/deliveries?endpoint_id=wh-outsider")
        .await?;
    ensure!(
        !log.to_string().contains("c-sec-1\""),
        "a delivery about c-sec-1 for the outsider: {log}"
    );
    Ok(())
}

/// The SSRF endpoints' deliveries fail, refused, with nothing connected.
async fn ssrf_refused(moneta: &Moneta) -> anyhow::Result<()> {
    for endpoint in ["wh-ssrf-metadata", "wh-ssrf-private", "wh-ssrf-mapped"] {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (deliveries, attempts) = loop {
            let items = |v: Value| v["items"].as_array().cloned().unwrap_or_default();
            let deliveries = items(
                moneta
                    .admin_get(&format!("/deliveries?endpoint_id={endpoint}"))
                    .await?,
            );
            let attempts = items(
                moneta
                    .admin_get(&format!("/delivery-attempts?endpoint_id={endpoint}"))
                    .await?,
            );
            ensure!(
                !deliveries.iter().any(|d| d["state"] == "delivered"),
                "{endpoint}: delivered"
            );
            let all_failed = deliveries.iter().all(|d| d["state"] == "failed");
            if !deliveries.is_empty() && all_failed && !attempts.is_empty() {
                break (deliveries, attempts);
            }
            ensure!(
                Instant::now() < deadline,
                "{endpoint}: deliveries {deliveries:?}, attempts {attempts:?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        // One attempt each: refused before connecting, never retried.
        ensure!(
            attempts.len() == deliveries.len(),
            "{endpoint}: {attempts:?}"
        );
        for attempt in &attempts {
            let error = attempt["error"].as_str().unwrap_or_default();
            ensure!(
                attempt["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("refused"))
                    && attempt["status"].is_null()
                    && error.contains("forbidden"),
                "{endpoint}: {attempt}"
            );
        }
    }
    Ok(())
}

/// The same signed request twice: the second is refused.
async fn replays(moneta: &Moneta) -> anyhow::Result<()> {
    let globe = GLOBE.client(&moneta.base()).with_http(moneta.http());
    let path = "/v1/events/c-sec-1-publisher";
    let headers = globe.sign_request("GET", path, &[])?;
    let first = globe.send("GET", path, headers.clone(), Vec::new()).await?;
    ensure!(first.status == 200, "first GET: {}", first.body);
    let again = globe.send("GET", path, headers.clone(), Vec::new()).await?;
    expect("replayed GET", &again, 401, "replayed_request")?;
    // The same signature on another path does not verify.
    let moved = globe
        .send("GET", "/v1/events/c-sec-2-publisher", headers, Vec::new())
        .await?;
    expect(
        "signature moved to another path",
        &moved,
        401,
        "bad_signature",
    )?;

    let terms = subscription_charge("c-sec-replay");
    let body = serde_json::to_vec(&globe.submission("ev-sec-replay", &terms, "publisher")?)?;
    let submit = "/v1/events/subscription_charges";
    let headers = globe.sign_request("POST", submit, &body)?;
    let first = globe
        .send("POST", submit, headers.clone(), body.clone())
        .await?;
    ensure!(first.status == 202, "first POST: {}", first.body);
    let again = globe.send("POST", submit, headers, body).await?;
    expect("replayed POST", &again, 401, "replayed_request")?;
    Ok(())
}

/// A revoked key stops working at once.
async fn revocation(moneta: &Moneta) -> anyhow::Result<()> {
    let outsider = PartnerClient::new(
        &moneta.base(),
        "key-outsider-2",
        SigningKey::from_bytes(&OUTSIDER_SEED_2),
    )
    .with_http(moneta.http());
    let reply = outsider.get("/v1/events/c-sec-1-publisher").await?;
    ensure!(reply.status == 200, "the key works: {}", reply.body);
    let signed_before = outsider.sign_request("GET", "/v1/events/c-sec-1-publisher", &[])?;
    moneta
        .admin("/keys/key-outsider-2/revoke", json!({}))
        .await?;
    let reply = outsider.get("/v1/events/c-sec-1-publisher").await?;
    expect("revoked key", &reply, 401, "revoked_key")?;
    let reply = outsider
        .send(
            "GET",
            "/v1/events/c-sec-1-publisher",
            signed_before,
            Vec::new(),
        )
        .await?;
    expect("signed before the revocation", &reply, 401, "revoked_key")?;
    // The organization's other key still works.
    let other = PartnerClient::new(
        &moneta.base(),
        "key-outsider-1",
        SigningKey::from_bytes(&OUTSIDER_SEED),
    )
    .with_http(moneta.http());
    let reply = other.get("/v1/events/c-sec-1-publisher").await?;
    ensure!(reply.status == 200, "the other key: {}", reply.body);
    Ok(())
}

/// Checks Moneta's countersignature on `contract` against `GET /v1/keys`;
/// returns the key id that made it.
async fn verify_countersignature(moneta: &Moneta, contract: &Value) -> anyhow::Result<String> {
    let keys: Value = moneta
        .http()
        .get(format!("{}/v1/keys", moneta.base()))
        .send()
        .await?
        .json()
        .await?;
    let signature = &contract["signatures"]["moneta"];
    let kid = signature["key_id"].as_str().context("moneta key id")?;
    let public = keys["keys"]
        .as_array()
        .and_then(|keys| keys.iter().find(|k| k["kid"] == kid))
        .and_then(|k| k["public_key"].as_str())
        .with_context(|| format!("{kid} is not published: {keys}"))?;
    let stored: moneta_domain::Contract = serde_json::from_value(contract.clone())?;
    let input = stored.terms().signing_input()?;
    let b64 = signature["signature"].as_str().context("signature")?;
    moneta_signing::verify_ed25519(public, &input, b64)
        .with_context(|| format!("the countersignature by {kid} does not verify"))?;
    Ok(kid.to_owned())
}

/// The key id and seed of each key in the key file (`active`/`retired`).
fn key_file_seeds(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("signing.key"))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("active "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(str::to_owned)
        .collect())
}

/// #9: no secret in the `trace` log of the whole run.
fn no_secret_in_the_log(
    moneta: &Moneta,
    seeds: &[String],
    tls_keys: &[String],
) -> anyhow::Result<()> {
    ensure!(seeds.len() >= 2, "both signing seeds: {}", seeds.len());
    let mut secrets = vec![
        ("admin token", TOKEN.to_owned()),
        ("webhook secret", whsec()),
        ("webhook secret bytes", STANDARD.encode(WEBHOOK_SECRET)),
    ];
    for seed in seeds {
        secrets.push(("a signing seed", seed.clone()));
    }
    for line in tls_keys {
        secrets.push(("TLS private key", line.clone()));
    }
    support::assert_no_secrets(&moneta.full_log(), &secrets)
}

#[test]
fn security_end_to_end() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let certificates = certificates(dir.path())?;
    let mut moneta = Moneta::start_logging(&bootstrap, dir.path(), &certificates.extra, "trace")?;
    moneta.speak_tls(&certificates.ca, Some(&certificates.operator))?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let received: Received = Arc::default();
    let mut seeds = key_file_seeds(dir.path())?;
    let outcome = runtime.block_on(async {
        let receiver = serve_receiver(received.clone(), &certificates.receiver).await?;
        register(&moneta, receiver).await.context("register")?;
        admin_requires_the_token(&moneta)
            .await
            .context("admin token")?;
        let first = support::countersigned_contract(&moneta, "c-sec-1")
            .await
            .context("c-sec-1")?;
        let old_kid = verify_countersignature(&moneta, &first).await?;
        isolation(&moneta, &received).await.context("isolation")?;
        ssrf_refused(&moneta).await.context("SSRF")?;
        replays(&moneta).await.context("replays")?;
        revocation(&moneta).await.context("revocation")?;
        Ok::<_, anyhow::Error>((first, old_kid))
    });
    let (first, old_kid) = match outcome {
        Ok(v) => v,
        Err(e) => bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail()),
    };

    // Rotation: the CLI, then a restart to sign with the new key.
    let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(&moneta.config)
        .args(["signing-key", "rotate", "--id", "moneta-sec-2"])
        .output()?;
    ensure!(
        out.status.success(),
        "rotate: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    seeds.extend(key_file_seeds(dir.path())?);
    moneta.restart_logging("trace")?;
    let outcome = runtime.block_on(async {
        let keys: Value = moneta
            .http()
            .get(format!("{}/v1/keys", moneta.base()))
            .send()
            .await?
            .json()
            .await?;
        let status_of = |kid: &str| {
            keys["keys"]
                .as_array()
                .and_then(|k| k.iter().find(|k| k["kid"] == kid))
                .map(|k| k["status"].clone())
        };
        ensure!(
            status_of(&old_kid) == Some(json!("retired")),
            "old key: {keys}"
        );
        ensure!(
            status_of("moneta-sec-2") == Some(json!("active")),
            "new key: {keys}"
        );
        // The old countersignature, read again after the restart, verifies.
        let acme = ACME.client(&moneta.base()).with_http(moneta.http());
        let again = acme.get("/v1/contracts/c-sec-1").await?;
        ensure!(again.body["signatures"] == first["signatures"]);
        ensure!(verify_countersignature(&moneta, &again.body).await? == old_kid);
        let second = support::countersigned_contract(&moneta, "c-sec-2").await?;
        ensure!(verify_countersignature(&moneta, &second).await? == "moneta-sec-2");
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = outcome {
        bail!("rotation: {e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    no_secret_in_the_log(&moneta, &seeds, &certificates.key_lines)
}

//! TLS end to end (#23): one `moneta up` on a real broker, logging at
//! `trace`, with HTTPS on the edge and mutual TLS on the admin API, the
//! certificates generated here by a test CA.
//!
//! - A partner's signed request over HTTPS reaches the edge; cleartext HTTP
//!   to it fails.
//! - The admin API refuses the handshake without a client certificate and
//!   with one of another CA, and serves a client with the CA's certificate;
//!   failed handshakes are logged at debug and the listener goes on.
//! - `moneta seed-demo` reaches the admin API over mutual TLS
//!   (`[admin.client]`).
//! - `webhooks.allow_http` unset: an `http://` webhook endpoint is refused
//!   at registration (422 `insecure_endpoint`); a countersigned contract is
//!   delivered over HTTPS to a receiver whose certificate the test CA
//!   (`webhooks.ca_bundle`) signed.
//! - No private key, nor the admin token, appears in the `trace` log.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use axum::Router;
use axum::extract::Path as UrlPath;
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use moneta_ingest::PartnerClient;
use moneta_signing::SigningKey;
use moneta_testkit::tls::{TestCa, pem_lines, write_pem};
use moneta_tls::{ClientIdentity, ServerTls};
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use serde_json::{Value, json};
use support::{Moneta, TOKEN};

const PARTNER_SEED: [u8; 32] = [0x33; 32];

/// The TOML of the TLS settings, and the private keys to scan the log for.
struct Setup {
    extra: String,
    ca: std::path::PathBuf,
    operator: ClientIdentity,
    stranger: ClientIdentity,
    receiver: ServerTls,
    keys: Vec<(&'static str, String)>,
}

fn setup(dir: &std::path::Path) -> anyhow::Result<Setup> {
    let (ca, other) = (TestCa::new("Moneta test CA")?, TestCa::new("other CA")?);
    let server = ca.issue(&["localhost", "127.0.0.1"])?;
    let admin = ca.issue(&["localhost", "127.0.0.1"])?;
    let operator = ca.issue(&["operator"])?;
    let stranger = other.issue(&["stranger"])?;
    let pem = |name: &str, text: &str| write_pem(dir, name, text);
    let ca_path = pem("ca.pem", ca.pem())?;
    let operator_files = ClientIdentity {
        cert: pem("operator.pem", &operator.cert_pem)?,
        key: pem("operator.key", &operator.key_pem)?,
    };
    let receiver = ca.issue(&["localhost"])?;
    let extra = format!(
        "[ingest.tls]\ncert = {:?}\nkey = {:?}\n\
         [admin.tls]\ncert = {:?}\nkey = {:?}\nclient_ca = {:?}\n\
         [admin.client]\nca = {:?}\ncert = {:?}\nkey = {:?}\n\
         [webhooks]\nallow_loopback = true\nca_bundle = {:?}\npoll_interval_ms = 50\n",
        pem("edge.pem", &server.cert_pem)?,
        pem("edge.key", &server.key_pem)?,
        pem("admin.pem", &admin.cert_pem)?,
        pem("admin.key", &admin.key_pem)?,
        ca_path,
        ca_path,
        operator_files.cert,
        operator_files.key,
        ca_path,
    );
    let mut keys = Vec::new();
    for (what, key) in [
        ("edge TLS key", &server.key_pem),
        ("admin TLS key", &admin.key_pem),
        ("operator client key", &operator.key_pem),
        ("receiver TLS key", &receiver.key_pem),
    ] {
        keys.extend(pem_lines(key).into_iter().map(|line| (what, line)));
    }
    Ok(Setup {
        extra,
        operator: operator_files,
        receiver: ServerTls {
            cert: pem("receiver.pem", &receiver.cert_pem)?,
            key: pem("receiver.key", &receiver.key_pem)?,
            client_ca: None,
        },
        stranger: ClientIdentity {
            cert: pem("stranger.pem", &stranger.cert_pem)?,
            key: pem("stranger.key", &stranger.key_pem)?,
        },
        ca: ca_path,
        keys,
    })
}

/// A client trusting the test CA, presenting `identity`.
fn client(setup: &Setup, identity: Option<&ClientIdentity>) -> anyhow::Result<reqwest::Client> {
    let tls = moneta_tls::client_config(Some(&setup.ca), identity)?;
    Ok(reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()?)
}

/// Without a client certificate, or with one of another CA, the admin API
/// refuses the handshake; the operator's certificate gets through.
async fn admin_needs_a_client_certificate(moneta: &Moneta, setup: &Setup) -> anyhow::Result<()> {
    let url = format!("{}/organizations", moneta.admin_base());
    for (who, identity) in [
        ("no certificate", None),
        ("another CA", Some(&setup.stranger)),
    ] {
        let refused = client(setup, identity)?
            .get(&url)
            .bearer_auth(TOKEN)
            .send()
            .await;
        ensure!(
            refused.is_err(),
            "{who}: the admin API answered {refused:?}"
        );
    }
    let cleartext = reqwest::Client::new()
        .get(format!("http://{}/v1/admin/organizations", moneta.admin))
        .bearer_auth(TOKEN)
        .send()
        .await;
    ensure!(
        cleartext.is_err(),
        "cleartext admin request answered: {cleartext:?}"
    );
    let page = moneta.admin_get("/organizations").await?;
    ensure!(page["items"].is_array(), "{page}");
    Ok(())
}

/// A publisher with an active key, registered over mutual TLS.
async fn register_partner(moneta: &Moneta) -> anyhow::Result<PartnerClient> {
    moneta
        .admin(
            "/publishers",
            json!({"id": "pub-tls", "mpc": "TLS", "name": "TLS Ltd", "status": "pending",
            "sso_group_id": null, "created_at": 0, "updated_at": 0, "created_by": "test",
            "organization_id": null, "metadata": {}, "certificates": [], "services": [], "industries": []}),
        )
        .await?;
    moneta
        .admin("/publishers/pub-tls/status", json!({"status": "active"}))
        .await?;
    let key = SigningKey::from_bytes(&PARTNER_SEED);
    let public = STANDARD.encode(key.verifying_key().to_bytes());
    moneta
        .admin(
            "/keys",
            json!({"id": "key-tls", "organization_id": "pub-tls", "algorithm": "ed25519",
            "public_key": public, "state": "active", "created_at": 0, "revoked_at": null}),
        )
        .await?;
    Ok(PartnerClient::new(&moneta.base(), "key-tls", key).with_http(moneta.http()))
}

/// The partner's signed request is served over HTTPS (the key is checked:
/// a missing contract is 404 `contract_not_found`, not 401); cleartext fails.
async fn partner_over_https(moneta: &Moneta, partner: &PartnerClient) -> anyhow::Result<()> {
    let keys = moneta
        .http()
        .get(format!("{}/v1/keys", moneta.base()))
        .send()
        .await?;
    ensure!(keys.status() == 200, "GET /v1/keys: {}", keys.status());
    let reply = partner.get("/v1/contracts/c-tls-none").await?;
    ensure!(
        reply.status == 404 && reply.body["code"] == "contract_not_found",
        "signed GET over HTTPS: {} {}",
        reply.status,
        reply.body
    );
    let cleartext = reqwest::get(format!("http://{}/v1/keys", moneta.ingest)).await;
    ensure!(
        cleartext.is_err(),
        "cleartext edge request answered: {cleartext:?}"
    );
    Ok(())
}

/// `http://` endpoints are refused at registration; `https://` accepted.
async fn cleartext_endpoints_refused(moneta: &Moneta) -> anyhow::Result<()> {
    let endpoint = |id: &str, url: &str| {
        json!({"id": id, "organization_id": "pub-tls", "url": url,
               "event_types": ["contract.signed"], "enabled": true, "secret": null,
               "created_at": 0, "timeout_ms": 1000})
    };
    let response = moneta
        .http()
        .post(format!("{}/webhook-endpoints", moneta.admin_base()))
        .bearer_auth(TOKEN)
        .json(&endpoint("wh-http", "http://127.0.0.1:9/hook"))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    ensure!(
        status == 422 && body["code"] == "insecure_endpoint",
        "http endpoint: {status} {body}"
    );
    moneta
        .admin(
            "/webhook-endpoints",
            endpoint("wh-https", "https://localhost:9/hook"),
        )
        .await
        .context("https endpoint")?;
    Ok(())
}

/// Paths the HTTPS webhook receiver was POSTed to.
type Received = Arc<Mutex<Vec<String>>>;

/// An HTTPS webhook receiver on loopback (certificate for `localhost`).
async fn https_receiver(setup: &Setup, received: Received) -> anyhow::Result<u16> {
    let app = Router::new().route(
        "/{path}",
        post(move |UrlPath(path): UrlPath<String>| async move {
            if let Ok(mut all) = received.lock() {
                all.push(path);
            }
            StatusCode::NO_CONTENT
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let tls = moneta_tls::server_config(&setup.receiver)?;
    tokio::spawn(moneta_tls::serve(
        listener,
        app,
        tls,
        std::future::pending(),
    ));
    Ok(port)
}

/// Acme's endpoint on the HTTPS receiver gets the countersigned contract.
async fn delivered_over_https(moneta: &Moneta, setup: &Setup) -> anyhow::Result<()> {
    let received = Received::default();
    let port = https_receiver(setup, received.clone()).await?;
    moneta
        .admin(
            "/webhook-endpoints",
            json!({"id": "wh-acme-tls", "organization_id": ACME.organization_id,
                   "url": format!("https://localhost:{port}/acme"),
                   "event_types": ["contract.countersigned"], "enabled": true,
                   "secret": null, "created_at": 0, "timeout_ms": 2000}),
        )
        .await?;
    let terms = subscription_charge("c-tls-1");
    let (globe, acme) = (
        GLOBE.client(&moneta.base()).with_http(moneta.http()),
        ACME.client(&moneta.base()).with_http(moneta.http()),
    );
    let body = globe.submission("c-tls-1-publisher", &terms, "publisher")?;
    let reply = globe.submit("subscription_charges", &body, None).await?;
    ensure!(reply.status == 202, "publisher: {}", reply.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let event = globe.get("/v1/events/c-tls-1-publisher").await?;
        let steps = event.body["steps"].as_array().cloned().unwrap_or_default();
        if steps.iter().any(|s| s["state"] == "recorded") {
            break;
        }
        ensure!(Instant::now() < deadline, "never recorded: {}", event.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let body = acme.submission("c-tls-1-mo", &terms, "mo")?;
    let reply = acme.submit("subscription_charges", &body, None).await?;
    ensure!(reply.status == 202, "mo: {}", reply.body);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !received.lock().is_ok_and(|r| r.iter().any(|p| p == "acme")) {
        ensure!(
            Instant::now() < deadline,
            "no delivery over HTTPS: {}",
            moneta.admin_get("/deliveries?contract_id=c-tls-1").await?
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

#[test]
fn tls_end_to_end() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let setup = setup(dir.path())?;
    let mut moneta = Moneta::start_logging(&bootstrap, dir.path(), &setup.extra, "trace")?;
    moneta.speak_tls(&setup.ca, Some(&setup.operator))?;
    moneta.seed().context("seed-demo over mutual TLS")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        admin_needs_a_client_certificate(&moneta, &setup)
            .await
            .context("admin mutual TLS")?;
        let partner = register_partner(&moneta).await.context("register")?;
        partner_over_https(&moneta, &partner)
            .await
            .context("edge TLS")?;
        cleartext_endpoints_refused(&moneta)
            .await
            .context("insecure endpoint")?;
        delivered_over_https(&moneta, &setup)
            .await
            .context("webhook over HTTPS")?;
        anyhow::Ok(())
    });
    if let Err(e) = outcome {
        anyhow::bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    let log = moneta.full_log();
    ensure!(
        log.contains("TLS handshake failed"),
        "failed handshakes are logged at debug"
    );
    let mut secrets = vec![("admin token", TOKEN.to_owned())];
    secrets.extend(setup.keys.iter().map(|(what, line)| (*what, line.clone())));
    support::assert_no_secrets(&log, &secrets)
}

/// A key file that is not a key stops `moneta up` with an error naming
/// the file, never quoting it.
#[test]
fn a_bad_tls_key_stops_moneta_up_without_quoting_it() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let ca = TestCa::new("Moneta test CA")?;
    let cert = write_pem(dir.path(), "admin.pem", &ca.issue(&["localhost"])?.cert_pem)?;
    let garbage = "-----BEGIN PRIVATE KEY-----\nbm90LWEta2V5LWJ1dC1zZWNyZXQtYnl0ZXM=\n";
    let key = write_pem(dir.path(), "broken-admin.key", garbage)?;
    let extra = format!("[admin.tls]\ncert = {cert:?}\nkey = {key:?}\n");
    let error = match Moneta::start(&bootstrap, dir.path(), &extra) {
        Ok(_) => anyhow::bail!("moneta up started with a broken admin key"),
        Err(error) => format!("{error:#}"),
    };
    // At once: the process exits rather than running without its admin API.
    ensure!(error.contains("up exited"), "{error}");
    ensure!(error.contains("broken-admin.key"), "{error}");
    ensure!(
        !error.contains("bm90LWEta2V5"),
        "the key's text is quoted: {error}"
    );
    Ok(())
}

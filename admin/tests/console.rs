//! The console over HTTP, in process on the embedded store: every page is
//! 401 without an operator (a partner's credentials and forged cookies
//! included), an operator logs in with their token and browses with the
//! session cookie; the contract page shows every signature verified on the
//! server, and a tampered one as not verified.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use moneta_admin::{AdminState, AdminToken, router};
use moneta_domain::{Contract, ContractStatus, EventLogEntry, KeyAlgorithm, PartnerKey, Signature};
use moneta_signing::{PublishedKey, SigningKey, sign_ed25519};
use moneta_state::{ContractKeys, ContractWrite, EmbeddedStore, Registry, StateStore};
use tower::ServiceExt;

const TOKEN: &str = "console-operator-token";
const AT: i64 = 1_795_435_200;

struct Console {
    app: Router,
    store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> String {
    STANDARD.encode(key.verifying_key().as_bytes())
}

async fn start() -> Console {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let registry = Registry::new(store.clone());
    for (id, org, seed) in [("k-mo", "mo-1", 1), ("k-pub", "pub-1", 2)] {
        let partner =
            PartnerKey::new(id, org, KeyAlgorithm::Ed25519, public(&key(seed)), AT).expect("key");
        registry.create(&partner).await.expect("registered");
    }
    let mut state = AdminState::new(registry, AdminToken::new(TOKEN));
    state.clock = Arc::new(|| AT);
    state.moneta_keys = vec![PublishedKey {
        kid: "moneta-1".into(),
        alg: "ed25519".into(),
        public_key: public(&key(3)),
        status: "active".into(),
    }];
    Console {
        app: router(state),
        store,
        _dir: dir,
    }
}

/// Stores contract `id`, signed by the MO, the publisher and Moneta over
/// its canonical terms; `tamper` spoils the publisher's signature.
async fn contract(console: &Console, id: &str, tamper: bool) {
    let mut contract = Contract {
        id: id.into(),
        description: "May subscription".into(),
        template_name: "subscription-charge".into(),
        template_version: 1,
        mo_id: "mo-1".into(),
        publisher_id: "pub-1".into(),
        mpass_id: Some("mp-1".into()),
        contract_type: "subscription_charge".into(),
        version: 3,
        payload: serde_json::json!({"amount_minor": 999, "currency": "EUR"}),
        signatures: BTreeMap::new(),
        event_log: vec![EventLogEntry {
            event_id: "pub-1/e-1".into(),
            version: 1,
            kind: "created".into(),
            at: AT,
        }],
        status: ContractStatus::Finalized,
        created_at: AT,
        finalized_at: Some(AT),
        disputes: Vec::new(),
    };
    let input = contract.terms().signing_input().expect("canonical");
    for (party, key_id, seed) in [
        ("mo", "k-mo", 1),
        ("publisher", "k-pub", 2),
        ("moneta", "moneta-1", 3),
    ] {
        let signer = if tamper && party == "publisher" {
            key(9)
        } else {
            key(seed)
        };
        contract.signatures.insert(
            party.into(),
            Signature {
                key_id: key_id.into(),
                algorithm: KeyAlgorithm::Ed25519,
                signature: sign_ed25519(&signer, &input),
                signed_at: AT,
            },
        );
    }
    let write = ContractWrite {
        contract_id: id.into(),
        event_id: "pub-1/e-1".into(),
        expected_version: 0,
        body: serde_json::to_vec(&contract).expect("json"),
        keys: ContractKeys {
            mo_id: contract.mo_id.clone(),
            publisher_id: contract.publisher_id.clone(),
            mpass_id: contract.mpass_id.clone(),
            contract_type: contract.contract_type.clone(),
            created_at: contract.created_at,
        },
    };
    console.store.apply_contract(write).await.expect("stored");
}

/// (status, `Set-Cookie`, body) of a request.
async fn get(app: &Router, request: Request<Body>) -> (StatusCode, Option<String>, String) {
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, cookie, String::from_utf8_lossy(&body).into_owned())
}

fn page(uri: &str, cookie: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.body(Body::empty()).expect("request")
}

async fn log_in(app: &Router, token: &str) -> (StatusCode, Option<String>) {
    let request = Request::post("/console/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .expect("request");
    let (status, cookie, _) = get(app, request).await;
    (status, cookie)
}

#[tokio::test]
async fn every_page_needs_an_operator() {
    let console = start().await;
    contract(&console, "c-1", false).await;
    let pages = [
        "/console/",
        "/console/contracts",
        "/console/contracts/c-1",
        "/console/deliveries",
        "/console/deliveries/msg_1",
        "/console/endpoints/wh-1",
        "/console/topology",
        "/console/dead-letters",
        "/console/dead-letters/validate",
        "/console/settlements",
        "/console/settlements.csv",
    ];
    for uri in pages {
        let (status, _, body) = get(&console.app, page(uri, None)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(
            body.contains("Operator token"),
            "{uri} shows the login form"
        );
    }
    for action in [
        "/console/logout",
        "/console/deliveries/msg_1/redeliver",
        "/console/deliveries/redeliver",
        "/console/endpoints/wh-1/enabled",
        "/console/dead-letters/validate/replay",
    ] {
        let request = Request::post(action)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("confirm=yes"))
            .expect("request");
        assert_eq!(
            get(&console.app, request).await.0,
            StatusCode::UNAUTHORIZED,
            "{action}"
        );
    }
    // A partner's credentials, a wrong token, a forged or foreign cookie: no.
    let partner = Request::get("/console/contracts")
        .header(header::AUTHORIZATION, format!("Bearer {}", public(&key(1))))
        .header("signature-input", "sig1=(\"@method\");keyid=\"k-mo\"")
        .body(Body::empty())
        .expect("request");
    assert_eq!(get(&console.app, partner).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        log_in(&console.app, "k-mo").await,
        (StatusCode::UNAUTHORIZED, None)
    );
    let forged = "moneta_console=YWRtaW58OTk5OTk5OTk5OQ.AAAA";
    let (status, _, _) = get(&console.app, page("/console/contracts", Some(forged))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let elsewhere = start().await;
    let other = console_cookie(&elsewhere.app).await;
    let (status, _, _) = get(&console.app, page("/console/contracts", Some(&other))).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another process's session"
    );
}

/// The session cookie (`name=value`) of an operator logged in to `app`.
async fn console_cookie(app: &Router) -> String {
    let (status, cookie) = log_in(app, TOKEN).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let cookie = cookie.expect("a session cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains(TOKEN),
        "the token never goes into the cookie"
    );
    cookie.split(';').next().expect("name=value").to_owned()
}

#[tokio::test]
async fn an_operator_finds_a_contract_and_sees_its_signatures_verified() {
    let console = start().await;
    contract(&console, "c-good", false).await;
    contract(&console, "c-tampered", true).await;
    let cookie = console_cookie(&console.app).await;

    let (status, _, body) = get(
        &console.app,
        page(
            "/console/contracts?mo=mo-1&status=finalized&from=2026-11-01&to=2026-11-30",
            Some(&cookie),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("/console/contracts/c-good")
            && body.contains("/console/contracts/c-tampered")
    );
    let (_, _, none) = get(
        &console.app,
        page("/console/contracts?mo=mo-2", Some(&cookie)),
    )
    .await;
    assert!(none.contains("No contract matches."), "{none}");
    let (status, _, refused) = get(
        &console.app,
        page("/console/contracts?from=last-week", Some(&cookie)),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    let (status, _, good) = get(
        &console.app,
        page("/console/contracts/c-good", Some(&cookie)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(good.matches("data-verified=\"true\"").count(), 3, "{good}");
    assert!(good.contains("operator admin"));
    let (_, _, tampered) = get(
        &console.app,
        page("/console/contracts/c-tampered", Some(&cookie)),
    )
    .await;
    assert_eq!(tampered.matches("data-verified=\"true\"").count(), 2);
    assert_eq!(tampered.matches("data-verified=\"false\"").count(), 1);
    let (status, _, _) = get(&console.app, page("/console/contracts/nope", Some(&cookie))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The bearer token opens it too (scripts, tests).
    let scripted = Request::get("/console/contracts/c-good")
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    assert_eq!(get(&console.app, scripted).await.0, StatusCode::OK);
}

fn form(uri: &str, cookie: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_owned()))
        .expect("request")
}

#[tokio::test]
async fn a_failed_delivery_is_redelivered_and_an_endpoint_disabled_after_confirmation() {
    use moneta_domain::{Delivery, DeliveryAttempt, DeliveryState, WebhookEndpoint};
    use moneta_state::Deliveries;
    let console = start().await;
    let registry = Registry::new(console.store.clone());
    let endpoint: WebhookEndpoint = serde_json::from_value(serde_json::json!({
        "id": "wh-1", "organization_id": "mo-1", "url": "https://mo.example/hooks",
        "event_types": ["contract.finalized"], "enabled": true, "created_at": AT}))
    .expect("endpoint");
    registry.create(&endpoint).await.expect("created");
    let log = Deliveries::new(console.store.clone());
    let delivery: Delivery = serde_json::from_value(serde_json::json!({
        "id": "msg_1", "endpoint_id": "wh-1", "organization_id": "mo-1", "contract_id": "c-1",
        "contract_version": 3, "event_type": "contract.finalized", "payload": "{}",
        "state": "pending", "attempts": 0, "next_attempt_at_ms": AT * 1000,
        "created_at_ms": AT * 1000}))
    .expect("delivery");
    log.schedule(&delivery).await.expect("scheduled");
    let stored = log.get("msg_1").await.expect("read").expect("there");
    let failed = Delivery {
        state: DeliveryState::Failed,
        attempts: 1,
        total_attempts: 1,
        last_status: Some(500),
        ..delivery
    };
    log.update(&failed, stored.revision).await.expect("failed");
    log.record_attempt(&DeliveryAttempt {
        id: "msg_1/1".into(),
        delivery_id: "msg_1".into(),
        endpoint_id: "wh-1".into(),
        contract_id: "c-1".into(),
        attempt: 1,
        at_ms: AT * 1000,
        status: Some(500),
        latency_ms: 42,
        error: None,
        outcome: "retry".into(),
        response: Some("upstream broke".into()),
    })
    .await
    .expect("attempt");
    let cookie = console_cookie(&console.app).await;

    let (status, _, overview) = get(&console.app, page("/console/deliveries", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        overview.contains("wh-1") && overview.contains("msg_1"),
        "{overview}"
    );
    let (_, _, detail) = get(
        &console.app,
        page("/console/deliveries/msg_1", Some(&cookie)),
    )
    .await;
    assert!(
        detail.contains("42 ms") && detail.contains("upstream broke"),
        "{detail}"
    );

    // The first POST only asks; nothing changes.
    let (status, _, asked) = get(
        &console.app,
        form("/console/deliveries/msg_1/redeliver", &cookie, ""),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(asked.contains("name=\"confirm\" value=\"yes\""), "{asked}");
    let state = |log: Deliveries| async move {
        log.get("msg_1")
            .await
            .expect("read")
            .expect("there")
            .delivery
            .state
    };
    assert_eq!(state(log.clone()).await, DeliveryState::Failed);
    let (status, _, _) = get(
        &console.app,
        form(
            "/console/deliveries/msg_1/redeliver",
            &cookie,
            "confirm=yes",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(state(log.clone()).await, DeliveryState::Pending);

    let (status, _, _) = get(
        &console.app,
        form(
            "/console/endpoints/wh-1/enabled",
            &cookie,
            "enabled=false&confirm=yes",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let changed = registry
        .get::<WebhookEndpoint>("wh-1")
        .await
        .expect("read")
        .expect("there");
    assert!(!changed.entity.enabled);
    assert_eq!(changed.revision, 2);

    // Without the session, actions are refused like pages.
    let anonymous = Request::post("/console/endpoints/wh-1/enabled")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from("enabled=true&confirm=yes"))
        .expect("request");
    assert_eq!(
        get(&console.app, anonymous).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_topology_page_shows_each_stage_with_its_live_metrics() {
    use moneta_admin::{Live, StageSummary};
    use prometheus::{IntCounterVec, IntGaugeVec, Opts, Registry as Metrics};
    let metrics = Metrics::new();
    let records = IntCounterVec::new(Opts::new("moneta_records_in_total", "in"), &["processor"])
        .expect("counter");
    let lag = IntGaugeVec::new(
        Opts::new("moneta_consumer_lag", "lag"),
        &["processor", "topic", "partition"],
    )
    .expect("gauge");
    metrics
        .register(Box::new(records.clone()))
        .expect("registered");
    metrics.register(Box::new(lag.clone())).expect("registered");
    records.with_label_values(&["validate"]).inc_by(1234);
    lag.with_label_values(&["validate", "in", "0"]).set(5);
    lag.with_label_values(&["validate", "in", "1"]).set(7);
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let mut state = AdminState::new(Registry::new(store), AdminToken::new(TOKEN));
    state.live = Live::new(
        vec![StageSummary {
            name: "validate".into(),
            description: "authenticates contract events".into(),
            reads: vec!["moneta.contracts.ingest".into()],
            writes: vec!["moneta.contracts.validated".into()],
            dead_letters: "moneta.validate.dlq".into(),
        }],
        metrics,
    );
    let app = router(state);
    let cookie = console_cookie(&app).await;
    let (status, _, first) = get(&app, page("/console/topology", Some(&cookie))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(first.contains("http-equiv=\"refresh\""), "refreshes itself");
    assert!(
        first.contains("moneta.contracts.validated") && first.contains("1234"),
        "{first}"
    );
    assert!(
        first.contains("<td class=\"lag\">12</td>"),
        "lag summed over partitions: {first}"
    );
    records.with_label_values(&["validate"]).inc_by(100);
    let (_, _, second) = get(&app, page("/console/topology", Some(&cookie))).await;
    assert!(second.contains("1334") && second.contains("/s"), "{second}");
}

//! End-to-end deliveries to a real local axum receiver that verifies the
//! Standard Webhooks signatures with its own, independent verifier.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
use hmac::{Hmac, Mac as _};
use moneta_signing::KeyRing;
use moneta_webhooks::{
    AttemptResult, Deliverer, DelivererConfig, HmacSecret, SsrfPolicy, WebhookMessage, headers,
    webhook_id,
};

// ---------------------------------------------------------------- receiver

#[derive(Debug, Clone)]
struct Received {
    route: String,
    peer: SocketAddr,
    version: Version,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone, Default)]
struct Receiver {
    log: Arc<Mutex<Vec<Received>>>,
    flaky_calls: Arc<AtomicU32>,
}

impl Receiver {
    fn received(&self) -> Vec<Received> {
        self.log.lock().unwrap().clone()
    }
}

async fn handle(
    State(rx): State<Receiver>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(route): Path<String>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    rx.log.lock().unwrap().push(Received {
        route: route.clone(),
        peer,
        version: parts.version,
        headers: parts.headers,
        body,
    });
    match route.as_str() {
        "ok" => (StatusCode::OK, "fine, thanks").into_response(),
        "flaky" => {
            if rx.flaky_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            } else {
                StatusCode::NO_CONTENT.into_response()
            }
        }
        "500" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "429" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")]).into_response(),
        "503-date" => {
            let at = SystemTime::now() + Duration::from_secs(120);
            let date = httpdate::fmt_http_date(at);
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", date)]).into_response()
        }
        "410" => StatusCode::GONE.into_response(),
        "400" => StatusCode::BAD_REQUEST.into_response(),
        "redirect" => (StatusCode::FOUND, [("location", "/ok")]).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            StatusCode::OK.into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start_receiver() -> (Receiver, SocketAddr) {
    let rx = Receiver::default();
    let app = Router::new()
        .route("/{route}", axum::routing::post(handle))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    (rx, addr)
}

// ------------------------------------------- independent Standard Webhooks verifier

/// Verifies like a Standard Webhooks receiver would, without the crate's
/// signing code: returns which signature versions verified.
fn verify(
    headers: &HeaderMap,
    body: &[u8],
    public: &VerifyingKey,
    secret: Option<&[u8]>,
) -> Result<Vec<&'static str>, String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .ok_or(format!("missing {name}"))
    };
    let id = get("webhook-id")?;
    let ts = get("webhook-timestamp")?;
    let sigs = get("webhook-signature")?;
    let ts_num: i64 = ts.parse().map_err(|_| "bad timestamp".to_owned())?;
    if (ts_num - now()).abs() > 300 {
        return Err("timestamp outside tolerance".into());
    }
    let mut content = format!("{id}.{ts}.").into_bytes();
    content.extend_from_slice(body);

    let mut ok = Vec::new();
    for entry in sigs.split(' ') {
        let (version, b64) = entry.split_once(',').ok_or("malformed signature")?;
        let raw = STANDARD.decode(b64).map_err(|e| e.to_string())?;
        match version {
            "v1a" => {
                let bytes: [u8; 64] = raw.try_into().map_err(|_| "bad v1a length")?;
                public
                    .verify_strict(&content, &Signature::from_bytes(&bytes))
                    .map_err(|e| format!("v1a: {e}"))?;
                ok.push("v1a");
            }
            "v1" => {
                let key = secret.ok_or("unexpected v1 signature")?;
                let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
                mac.update(&content);
                mac.verify_slice(&raw).map_err(|_| "v1 mismatch")?;
                ok.push("v1");
            }
            other => return Err(format!("unknown version {other}")),
        }
    }
    Ok(ok)
}

// ------------------------------------------------------------------ helpers

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ring() -> KeyRing {
    KeyRing::new("moneta-2025-test", SigningKey::from_bytes(&[42; 32])).unwrap()
}

fn public_key(keys: &KeyRing) -> VerifyingKey {
    keys.verifying_key(keys.active_id()).unwrap()
}

fn loopback_deliverer() -> Deliverer {
    Deliverer::new(DelivererConfig {
        policy: SsrfPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        allow_http: true,
        ..DelivererConfig::default()
    })
    .unwrap()
}

const SECRET_BYTES: [u8; 32] = [0x5a; 32];
const BODY: &[u8] = br#"{"type":"contract.signed","data":{"contract_id":"c-1","version":3}}"#;

fn signed_headers(
    id: &str,
    keys: &KeyRing,
    secret: Option<&HmacSecret>,
) -> Vec<(&'static str, String)> {
    let msg = WebhookMessage {
        id,
        timestamp: now(),
        body: BODY,
    };
    headers(
        &msg,
        keys,
        secret.map(std::slice::from_ref).unwrap_or_default(),
    )
}

// -------------------------------------------------------------------- tests

#[tokio::test]
async fn delivery_verifies_with_an_independent_v1a_and_v1_verifier() {
    let (rx, addr) = start_receiver().await;
    let keys = ring();
    let secret = HmacSecret::parse(&format!("whsec_{}", STANDARD.encode(SECRET_BYTES))).unwrap();
    let id = webhook_id("c-1", 3, "ep-1");
    let deliverer = loopback_deliverer();

    let out = deliverer
        .attempt(
            &format!("http://{addr}/ok"),
            &signed_headers(&id, &keys, Some(&secret)),
            BODY.to_vec(),
        )
        .await;
    assert_eq!(out.result, AttemptResult::Delivered, "{out:?}");
    assert_eq!(out.status, Some(200));
    assert_eq!(out.error, None);
    assert_eq!(out.response, None, "a 2xx body is not kept");

    let got = rx.received();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.body.as_ref(), BODY);
    assert_eq!(req.headers["webhook-id"], id.as_str());
    assert_eq!(req.headers["content-type"], "application/json");
    assert_eq!(req.version, Version::HTTP_11);
    let verified = verify(
        &req.headers,
        &req.body,
        &public_key(&keys),
        Some(&SECRET_BYTES),
    )
    .unwrap();
    assert_eq!(verified, vec!["v1a", "v1"]);

    // A tampered body fails the independent verifier.
    let mut tampered = req.body.to_vec();
    tampered[2] ^= 1;
    assert!(
        verify(
            &req.headers,
            &tampered,
            &public_key(&keys),
            Some(&SECRET_BYTES)
        )
        .is_err()
    );
}

#[tokio::test]
async fn v1a_only_endpoint_gets_a_single_signature() {
    let (rx, addr) = start_receiver().await;
    let keys = ring();
    let id = webhook_id("c-1", 3, "ep-2");
    let out = loopback_deliverer()
        .attempt(
            &format!("http://{addr}/ok"),
            &signed_headers(&id, &keys, None),
            BODY.to_vec(),
        )
        .await;
    assert_eq!(out.result, AttemptResult::Delivered);
    let req = &rx.received()[0];
    assert_eq!(
        verify(&req.headers, &req.body, &public_key(&keys), None).unwrap(),
        vec!["v1a"]
    );
}

#[tokio::test]
async fn a_retried_delivery_carries_the_same_webhook_id_and_reuses_the_connection() {
    let (rx, addr) = start_receiver().await;
    let keys = ring();
    let secret = HmacSecret::parse(&format!("whsec_{}", STANDARD.encode(SECRET_BYTES))).unwrap();
    let deliverer = loopback_deliverer();
    let url = format!("http://{addr}/flaky");

    let mut results = Vec::new();
    for _ in 0..2 {
        // Each attempt is re-signed with a fresh timestamp; the id is
        // recomputed from the same inputs.
        let id = webhook_id("c-9", 1, "ep-flaky");
        let out = deliverer
            .attempt(
                &url,
                &signed_headers(&id, &keys, Some(&secret)),
                BODY.to_vec(),
            )
            .await;
        results.push(out.result);
    }
    assert_eq!(
        results,
        vec![
            AttemptResult::Retry { after: None },
            AttemptResult::Delivered
        ]
    );

    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].headers["webhook-id"], got[1].headers["webhook-id"]);
    for req in &got {
        verify(
            &req.headers,
            &req.body,
            &public_key(&keys),
            Some(&SECRET_BYTES),
        )
        .unwrap();
    }
    // Pooled: the second attempt used the same TCP connection.
    assert_eq!(got[0].peer, got[1].peer);
}

#[tokio::test]
async fn scripted_failures_are_classified() {
    let (rx, addr) = start_receiver().await;
    let keys = ring();
    let deliverer = loopback_deliverer();
    let h = signed_headers(&webhook_id("c-2", 1, "ep-3"), &keys, None);
    let url = |route: &str| format!("http://{addr}/{route}");

    let out = deliverer.attempt(&url("500"), &h, BODY.to_vec()).await;
    assert_eq!(out.result, AttemptResult::Retry { after: None });
    assert_eq!(out.status, Some(500));
    assert_eq!(
        out.response.as_deref(),
        Some("boom"),
        "what the receiver said"
    );

    let out = deliverer.attempt(&url("429"), &h, BODY.to_vec()).await;
    assert_eq!(
        out.result,
        AttemptResult::Retry {
            after: Some(Duration::from_secs(1))
        }
    );
    assert_eq!(out.status, Some(429));

    let out = deliverer.attempt(&url("503-date"), &h, BODY.to_vec()).await;
    let AttemptResult::Retry { after: Some(after) } = out.result else {
        panic!("expected a retry with Retry-After: {out:?}");
    };
    assert!((115..=121).contains(&after.as_secs()), "{after:?}");

    let out = deliverer.attempt(&url("410"), &h, BODY.to_vec()).await;
    assert_eq!(out.result, AttemptResult::Gone);
    assert_eq!(out.status, Some(410));

    let out = deliverer.attempt(&url("400"), &h, BODY.to_vec()).await;
    assert_eq!(out.result, AttemptResult::Retry { after: None });
    assert_eq!(out.status, Some(400));

    // Redirects are not followed: a 3xx is a failed attempt.
    let out = deliverer.attempt(&url("redirect"), &h, BODY.to_vec()).await;
    assert_eq!(out.result, AttemptResult::Retry { after: None });
    assert_eq!(out.status, Some(302));

    let out = deliverer
        .attempt_with_timeout(&url("slow"), &h, BODY.to_vec(), Duration::from_millis(300))
        .await;
    assert_eq!(out.result, AttemptResult::Retry { after: None });
    assert_eq!(out.status, None);
    assert!(
        out.error.as_deref().unwrap().contains("timed out"),
        "{out:?}"
    );
    assert!(out.latency < Duration::from_secs(1), "{:?}", out.latency);

    let routes: Vec<_> = rx.received().into_iter().map(|r| r.route).collect();
    assert_eq!(
        routes,
        vec!["500", "429", "503-date", "410", "400", "redirect", "slow"]
    );
}

#[tokio::test]
async fn connection_refused_is_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let out = loopback_deliverer()
        .attempt(&format!("http://{addr}/ok"), &[], BODY.to_vec())
        .await;
    assert_eq!(out.result, AttemptResult::Retry { after: None });
    assert_eq!(out.status, None);
    assert!(out.error.is_some());
}

#[tokio::test]
async fn loopback_is_refused_without_the_policy_and_nothing_is_sent() {
    let (rx, addr) = start_receiver().await;
    let strict = Deliverer::new(DelivererConfig::default()).unwrap();
    for url in [
        format!("http://{addr}/ok"),
        format!("http://localhost:{}/ok", addr.port()),
        format!("http://[::ffff:127.0.0.1]:{}/ok", addr.port()),
    ] {
        let out = strict.attempt(&url, &[], BODY.to_vec()).await;
        assert_eq!(out.result, AttemptResult::Refused, "{url}");
    }
    assert!(rx.received().is_empty());
}

#[tokio::test]
async fn host_names_go_through_the_pinned_resolver() {
    let (rx, addr) = start_receiver().await;
    let out = loopback_deliverer()
        .attempt(
            &format!("http://localhost:{}/ok", addr.port()),
            &[],
            BODY.to_vec(),
        )
        .await;
    assert_eq!(out.result, AttemptResult::Delivered, "{out:?}");
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test]
async fn http2_prior_knowledge_speaks_h2() {
    let (rx, addr) = start_receiver().await;
    let deliverer = Deliverer::new(DelivererConfig {
        policy: SsrfPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        http2_prior_knowledge: true,
        allow_http: true,
        ..DelivererConfig::default()
    })
    .unwrap();
    let keys = ring();
    let h = signed_headers(&webhook_id("c-3", 1, "ep-h2"), &keys, None);
    for _ in 0..2 {
        let out = deliverer
            .attempt(&format!("http://{addr}/ok"), &h, BODY.to_vec())
            .await;
        assert_eq!(out.result, AttemptResult::Delivered, "{out:?}");
    }
    let got = rx.received();
    assert!(got.iter().all(|r| r.version == Version::HTTP_2));
    assert_eq!(got[0].peer, got[1].peer, "one multiplexed connection");
    verify(&got[0].headers, &got[0].body, &public_key(&keys), None).unwrap();
}

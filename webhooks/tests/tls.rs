//! HTTPS delivery over real TCP: a receiver whose certificate a test CA
//! signed gets the webhook when that CA is the deliverer's `ca_bundle`; a
//! receiver signed by another CA does not; `http://` is refused unless
//! `allow_http`. Certificates are generated here (rcgen).

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use moneta_testkit::tls::{TestCa, write_pem};
use moneta_tls::ServerTls;
use moneta_webhooks::{AttemptResult, Deliverer, DelivererConfig, SsrfPolicy};

/// A receiver app answering 204 on `/hook`, and how many requests it got.
fn counting_receiver() -> (Router, Arc<AtomicUsize>) {
    let received = Arc::new(AtomicUsize::new(0));
    let counter = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move || async move {
            counter.fetch_add(1, Ordering::SeqCst);
            StatusCode::NO_CONTENT
        }),
    );
    (app, received)
}

/// Starts an HTTPS receiver on loopback with a certificate for `localhost`
/// issued by `ca`; returns its port and how many requests it received.
async fn https_receiver(ca: &TestCa, dir: &Path, name: &str) -> (u16, Arc<AtomicUsize>) {
    let issued = ca.issue(&["localhost"]).unwrap();
    let tls = ServerTls {
        cert: write_pem(dir, &format!("{name}.pem"), &issued.cert_pem).unwrap(),
        key: write_pem(dir, &format!("{name}.key"), &issued.key_pem).unwrap(),
        client_ca: None,
    };
    let (app, received) = counting_receiver();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = moneta_tls::server_config(&tls).unwrap();
    tokio::spawn(moneta_tls::serve(
        listener,
        app,
        config,
        std::future::pending(),
    ));
    (port, received)
}

fn deliverer(ca_bundle: Option<PathBuf>, allow_http: bool) -> Deliverer {
    Deliverer::new(DelivererConfig {
        policy: SsrfPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        ca_bundle,
        allow_http,
        ..DelivererConfig::default()
    })
    .unwrap()
}

#[tokio::test]
async fn delivers_over_https_to_a_certificate_of_the_trusted_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("deployment CA").unwrap();
    let bundle = write_pem(dir.path(), "ca.pem", ca.pem()).unwrap();
    let (port, received) = https_receiver(&ca, dir.path(), "receiver").await;
    let url = format!("https://localhost:{port}/hook");
    let d = deliverer(Some(bundle), false);
    for _ in 0..2 {
        let out = d.attempt(&url, &[], b"{}".to_vec()).await;
        assert_eq!(out.result, AttemptResult::Delivered, "{out:?}");
        assert_eq!(out.status, Some(204));
    }
    assert_eq!(received.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn refuses_a_certificate_of_an_untrusted_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (trusted, other) = (
        TestCa::new("deployment CA").unwrap(),
        TestCa::new("other CA").unwrap(),
    );
    let bundle = write_pem(dir.path(), "ca.pem", trusted.pem()).unwrap();
    let (port, received) = https_receiver(&other, dir.path(), "impostor").await;
    let out = deliverer(Some(bundle), false)
        .attempt(
            &format!("https://localhost:{port}/hook"),
            &[],
            b"{}".to_vec(),
        )
        .await;
    assert_ne!(out.result, AttemptResult::Delivered, "{out:?}");
    assert_eq!(out.status, None);
    let error = out.error.unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert_eq!(received.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn http_is_refused_unless_allowed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (app, received) = counting_receiver();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("http://127.0.0.1:{port}/hook");

    let out = deliverer(None, false)
        .attempt(&url, &[], b"{}".to_vec())
        .await;
    assert_eq!(out.result, AttemptResult::Refused, "{out:?}");
    let error = out.error.unwrap();
    assert!(error.contains("allow_http"), "{error}");
    assert_eq!(received.load(Ordering::SeqCst), 0, "nothing was sent");

    let out = deliverer(None, true)
        .attempt(&url, &[], b"{}".to_vec())
        .await;
    assert_eq!(out.result, AttemptResult::Delivered, "{out:?}");
    assert_eq!(received.load(Ordering::SeqCst), 1);
}

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::dns::Resolve as _;

use super::resolver::PinnedResolver;
use super::*;

#[test]
fn only_2xx_delivers_and_410_is_gone() {
    for status in [200, 201, 202, 204, 299] {
        assert_eq!(classify_status(status, None, 0), AttemptResult::Delivered);
    }
    assert_eq!(classify_status(410, None, 0), AttemptResult::Gone);
    for status in [
        301, 302, 400, 401, 403, 404, 408, 413, 429, 500, 502, 503, 504,
    ] {
        assert_eq!(
            classify_status(status, None, 0),
            AttemptResult::Retry { after: None },
            "{status}"
        );
    }
}

#[test]
fn retry_after_is_parsed_from_the_header() {
    assert_eq!(
        classify_status(429, Some("7"), 0),
        AttemptResult::Retry {
            after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        classify_status(503, Some("Thu, 01 Jan 1970 00:01:40 GMT"), 40),
        AttemptResult::Retry {
            after: Some(Duration::from_secs(60))
        }
    );
    assert_eq!(
        classify_status(503, Some("garbage"), 0),
        AttemptResult::Retry { after: None }
    );
    // 2xx ignores it.
    assert_eq!(classify_status(200, Some("7"), 0), AttemptResult::Delivered);
}

#[test]
fn finality() {
    assert!(AttemptResult::Delivered.is_final());
    assert!(AttemptResult::Gone.is_final());
    assert!(AttemptResult::Refused.is_final());
    assert!(!AttemptResult::Retry { after: None }.is_final());
}

#[tokio::test]
async fn resolver_knows_only_pinned_hosts() {
    let pins = PinnedResolver::default();
    let err = pins.resolve("example.com".parse().unwrap()).await;
    assert!(err.is_err());
    let addr: std::net::SocketAddr = "93.184.216.34:443".parse().unwrap();
    pins.pin("Example.COM", &[addr]);
    let got: Vec<_> = pins
        .resolve("example.com".parse().unwrap())
        .await
        .unwrap()
        .collect();
    assert_eq!(got, vec![addr]);
}

#[tokio::test]
async fn refused_and_transient_ssrf_outcomes() {
    let strict = Deliverer::new(DelivererConfig::default()).unwrap();
    let out = strict
        .attempt("http://127.0.0.1:9/hook?token=s3cret", &[], b"{}".to_vec())
        .await;
    assert_eq!(out.result, AttemptResult::Refused);
    assert_eq!(out.status, None);
    let error = out.error.unwrap();
    assert!(error.contains("forbidden"), "{error}");
    assert!(!error.contains("s3cret"));

    let out = strict
        .attempt("http://does-not-exist.invalid/", &[], Vec::new())
        .await;
    assert_eq!(out.result, AttemptResult::Retry { after: None });
    assert!(out.error.is_some());
}

#[test]
fn an_unreadable_ca_bundle_fails_the_build() {
    let err = Deliverer::new(DelivererConfig {
        ca_bundle: Some("/nonexistent/ca.pem".into()),
        ..DelivererConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn error_chain_joins_sources() {
    let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
    let outer = crate::ssrf::SsrfError::InvalidUrl;
    assert_eq!(error_chain_of(&outer), "endpoint URL is invalid");
    assert_eq!(error_chain_of(&io), "refused");
}

fn error_chain_of(e: &dyn std::error::Error) -> String {
    super::outcome::error_chain(e)
}

#[tokio::test]
async fn the_client_cannot_resolve_hosts_on_its_own() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let d = Deliverer::new(DelivererConfig::default()).unwrap();
    // Bypassing `attempt` (no SSRF check, no pin): resolution must fail.
    let err = d
        .client
        .post(format!("http://localhost:{port}/"))
        .send()
        .await
        .unwrap_err();
    assert!(
        super::outcome::error_chain(&err).contains("not vetted"),
        "{err:?}"
    );
}

#[tokio::test]
async fn pinned_addresses_are_what_the_client_connects_to() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = tokio::spawn(async move { listener.accept().await.map(|(_, peer)| peer) });
    let d = Deliverer::new(DelivererConfig::default()).unwrap();
    // A name that does not exist in DNS reaches the pinned address.
    d.pins.pin("rebind.invalid", &[addr]);
    let request = d
        .client
        .post(format!("http://rebind.invalid:{}/", addr.port()))
        .timeout(Duration::from_millis(300))
        .send();
    let _ = request.await;
    assert!(accepted.await.unwrap().is_ok());
}

#[tokio::test]
async fn malformed_headers_are_refused_not_retried() {
    let d = Deliverer::new(DelivererConfig {
        policy: crate::SsrfPolicy {
            allow_loopback: true,
            allow_private: false,
        },
        allow_http: true,
        ..DelivererConfig::default()
    })
    .unwrap();
    let out = d
        .attempt(
            "http://127.0.0.1:9/",
            &[("webhook-id", "msg_1\r\nx-injected: 1".to_owned())],
            Vec::new(),
        )
        .await;
    assert_eq!(out.result, AttemptResult::Refused, "{out:?}");
    assert!(out.error.unwrap().starts_with("invalid request"));
}

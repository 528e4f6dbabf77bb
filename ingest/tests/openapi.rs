//! `ingest/openapi.json` matches the edge: every documented operation is
//! routed, every other method is a 405 problem, and every error code the
//! edge can answer with is documented (here and in `docs/errors.md`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use moneta_avro::AvroCodec;
use moneta_ingest::{Ingest, IngestConfig, OPENAPI, router};
use moneta_kafka::KafkaConfig;
use moneta_signing::{DigestError, KeyRing, SigError, SigningKey};
use moneta_state::EmbeddedStore;
use serde_json::Value;
use tower::ServiceExt;

fn doc() -> Value {
    serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
}

fn app(dir: &std::path::Path) -> Router {
    let store = Arc::new(EmbeddedStore::open(dir).expect("store"));
    // Nothing listens there: no test here reaches the registry or broker.
    let codec = Arc::new(AvroCodec::new("http://127.0.0.1:9").expect("codec"));
    let keys =
        Arc::new(KeyRing::new("moneta-test", SigningKey::from_bytes(&[1; 32])).expect("ring"));
    let kafka = KafkaConfig {
        bootstrap_servers: "127.0.0.1:9".into(),
        ..KafkaConfig::default()
    };
    let ingest = Ingest::new(
        IngestConfig::default(),
        &kafka,
        store,
        codec,
        "moneta.contracts.ingest",
        keys,
    )
    .expect("ingest");
    router(Arc::new(ingest))
}

async fn call(app: &Router, method: Method, uri: &str) -> (StatusCode, Option<String>, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let media = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        media,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A concrete URI for a documented path template.
fn concrete(path: &str) -> String {
    path.replace("{key}", "subscription_charges")
        .replace("{id}", "c-1")
}

#[tokio::test]
async fn documented_operations_are_routed_and_others_are_405_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = app(dir.path());
    let doc = doc();
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    for path in [
        "/v1/events/{key}",
        "/v1/contracts/{id}",
        "/v1/keys",
        "/healthz",
    ] {
        assert!(paths.contains_key(path), "{path} undocumented");
    }
    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ];
    for (path, operations) in paths {
        let uri = concrete(path);
        for method in &methods {
            let documented = operations
                .get(method.as_str().to_ascii_lowercase())
                .is_some();
            let (status, media, body) = call(&app, method.clone(), &uri).await;
            if documented {
                assert_ne!(body["code"], "not_found", "{method} {path} is not routed");
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                let statuses = operations[method.as_str().to_ascii_lowercase()]["responses"]
                    .as_object()
                    .expect("responses");
                assert!(
                    statuses.contains_key(status.as_str()),
                    "{method} {path} answered {status}, which is not documented"
                );
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
                assert_eq!(body["code"], "method_not_allowed", "{method} {path}");
            }
            if !status.is_success() {
                assert_eq!(
                    media.as_deref(),
                    Some("application/problem+json"),
                    "{method} {path}: {status}"
                );
                assert_eq!(body["status"], status.as_u16(), "{body}");
            }
        }
    }
    let (status, _, served) = call(&app, Method::GET, "/v1/openapi.json").await;
    assert_eq!((status, served), (StatusCode::OK, doc));
    let (status, media, body) = call(&app, Method::GET, "/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(media.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "not_found");
    // A path segment that is not UTF-8 once decoded: a problem, not text.
    let (status, media, body) = call(&app, Method::GET, "/v1/contracts/%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(media.as_deref(), Some("application/problem+json"));
    assert_eq!(body["code"], "malformed_request");
}

/// The string literal of each `Problem::new(status, "code", …)` and
/// `unauthorized("code", …)` / `unprocessable("code", …)` call in `source`.
fn codes_in(source: &str) -> Vec<String> {
    let mut codes = Vec::new();
    for (marker, commas) in [
        ("Problem::new(", 1),
        ("unauthorized(", 0),
        ("unprocessable(", 0),
    ] {
        for (at, _) in source.match_indices(marker) {
            let rest = &source[at + marker.len()..];
            let mut rest = rest;
            for _ in 0..commas {
                rest = rest.split_once(',').map_or("", |(_, r)| r);
            }
            let rest = rest.trim_start();
            if let Some(literal) = rest.strip_prefix('"').and_then(|r| r.split_once('"')) {
                codes.push(literal.0.to_owned());
            }
        }
    }
    codes
}

#[test]
fn every_error_code_is_documented() {
    let mut codes: Vec<String> = Vec::new();
    for file in [
        "admission.rs",
        "lib.rs",
        "auth.rs",
        "submit.rs",
        "status.rs",
        "search.rs",
        "idempotency.rs",
    ] {
        let path = format!("{}/src/{file}", env!("CARGO_MANIFEST_DIR"));
        let source = std::fs::read_to_string(&path).expect("source");
        codes.extend(codes_in(&source));
    }
    assert!(codes.len() >= 15, "the scan found too few codes: {codes:?}");
    let sig = [
        SigError::MalformedHeader(String::new()),
        SigError::MissingSignature(String::new()),
        SigError::UnsupportedComponent(String::new()),
        SigError::MissingComponent(String::new()),
        SigError::AbsentField(String::new()),
        SigError::UnsupportedAlgorithm(String::new()),
        SigError::BadSignature,
        SigError::InvalidSignatureEncoding,
        SigError::InvalidKey,
        SigError::StaleSignature(""),
    ];
    for e in &sig {
        // Fails to compile when a variant is added: add it above.
        match e {
            SigError::MalformedHeader(_)
            | SigError::MissingSignature(_)
            | SigError::UnsupportedComponent(_)
            | SigError::MissingComponent(_)
            | SigError::AbsentField(_)
            | SigError::UnsupportedAlgorithm(_)
            | SigError::BadSignature
            | SigError::InvalidSignatureEncoding
            | SigError::InvalidKey
            | SigError::StaleSignature(_) => codes.push(e.code().to_owned()),
        }
    }
    for e in [
        DigestError::Malformed(String::new()),
        DigestError::UnsupportedAlgorithm(String::new()),
        DigestError::Mismatch(""),
    ] {
        match &e {
            DigestError::Malformed(_)
            | DigestError::UnsupportedAlgorithm(_)
            | DigestError::Mismatch(_) => codes.push(e.code().to_owned()),
        }
    }
    // What `moneta_problem::ensure_problem` answers for the router's own errors.
    codes.extend(["malformed_request", "method_not_allowed"].map(String::from));
    codes.sort();
    codes.dedup();

    let doc = doc();
    let documented: Vec<&str> =
        doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
            .as_array()
            .expect("code enum")
            .iter()
            .filter_map(Value::as_str)
            .collect();
    let errors_md =
        std::fs::read_to_string(format!("{}/../docs/errors.md", env!("CARGO_MANIFEST_DIR")))
            .expect("docs/errors.md");
    let edge_section = errors_md
        .split("## Ingest edge (HTTP)")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("docs/errors.md has an ingest edge section");
    for code in &codes {
        assert!(
            documented.contains(&code.as_str()),
            "{code} not in openapi.json"
        );
        assert!(
            edge_section.contains(&format!("`{code}`")),
            "{code} not in docs/errors.md"
        );
    }
    for code in &documented {
        assert!(
            codes.iter().any(|c| c == code),
            "{code} is documented but the edge never answers with it"
        );
    }
}

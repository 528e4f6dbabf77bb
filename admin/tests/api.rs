//! The admin API end to end on the embedded store: auth, every error class,
//! lookups, lifecycles, keys and templates.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use moneta_admin::{AdminState, AdminToken, Operators, router, token_digest};
use moneta_state::{EmbeddedStore, Registry};
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "operator-token-for-tests";

fn app() -> (Router, tempfile::TempDir) {
    app_allowing_http(false)
}

fn app_allowing_http(allow_http: bool) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let mut state = AdminState::new(Registry::new(store), AdminToken::new(TOKEN));
    state.clock = Arc::new(|| 1_700_000_000);
    state.allow_http = allow_http;
    (router(state), dir)
}

#[tokio::test]
async fn cleartext_webhook_endpoints_are_refused_unless_allowed() {
    let endpoint = json!({"id": "wh-http", "organization_id": "org-1", "url": "http://example.test/hook",
        "event_types": [], "enabled": true, "secret": null, "created_at": 0});
    let (app, _dir) = app();
    let path = "/v1/admin/webhook-endpoints";
    let (status, problem, _) = call(&app, "POST", path, Some(endpoint.clone()), Some(TOKEN)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insecure_endpoint"))
    );
    let (app, _dir) = app_allowing_http(true);
    let (status, _, _) = call(&app, "POST", path, Some(endpoint), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED);
}

async fn call(
    app: &Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    send(app, request.body(body).expect("request")).await
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, Value, Option<String>) {
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
    let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if !status.is_success() {
        assert_eq!(
            media.as_deref(),
            Some("application/problem+json"),
            "{status} {value}"
        );
        assert!(
            value["code"].is_string() && value["status"] == status.as_u16(),
            "{value}"
        );
    }
    (status, value, media)
}

fn mo(id: &str, mic: &str) -> Value {
    json!({"id": id, "mic": mic, "name": "Acme MO", "status": "active", "created_at": 0, "updated_at": 0,
           "metadata": {}, "certificates": [], "services": [], "industries": [], "organization_id": null})
}

#[tokio::test]
async fn every_route_but_the_openapi_document_needs_the_token() {
    let (app, _dir) = app();
    let (status, problem, _) = call(&app, "GET", "/v1/admin/organizations", None, None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _, _) = call(&app, "GET", "/v1/admin/organizations", None, Some("wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = call(&app, "POST", "/v1/admin/keys/k/revoke", None, Some("")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, doc, _) = call(&app, "GET", "/v1/admin/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let (status, _, _) = call(&app, "GET", "/v1/admin/organizations", None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn created_by_is_the_authenticated_operator_never_the_body() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let operators = Operators::from(AdminToken::new(TOKEN))
        .with_named("alice", &token_digest("alice-token"))
        .expect("digest");
    let app = router(AdminState::new(Registry::new(store), operators));
    let org = |id: &str| {
        json!({"id": id, "name": "Acme", "description": "", "created_at": 0,
               "created_by": "mallory", "status": "active"})
    };
    let path = "/v1/admin/organizations";
    let (status, by_alice, _) =
        call(&app, "POST", path, Some(org("org-a")), Some("alice-token")).await;
    assert_eq!(status, StatusCode::CREATED, "{by_alice}");
    assert_eq!(by_alice["entity"]["created_by"], "alice");
    let (_, by_shared, _) = call(&app, "POST", path, Some(org("org-b")), Some(TOKEN)).await;
    assert_eq!(by_shared["entity"]["created_by"], "admin");
    let mut without = org("org-c");
    without
        .as_object_mut()
        .expect("object")
        .remove("created_by");
    let (status, _, _) = call(&app, "POST", path, Some(without), Some("alice-token")).await;
    assert_eq!(status, StatusCode::CREATED, "created_by may be left out");
    let (_, stored, _) = call(
        &app,
        "GET",
        "/v1/admin/organizations/org-a",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(stored["entity"]["created_by"], "alice");
    let (status, _, _) = call(&app, "GET", path, None, Some("alice-tokem")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn creates_reads_and_looks_up_with_server_set_fields() {
    let (app, _dir) = app();
    let (status, created, _) = call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(mo("mo-1", "MIC1")),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["revision"], 1);
    assert_eq!(
        created["entity"]["status"], "pending",
        "the server sets the initial status"
    );
    assert_eq!(created["entity"]["created_at"], 1_700_000_000);
    let (status, got, _) = call(
        &app,
        "GET",
        "/v1/admin/membership-organizations/mo-1",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, &got["entity"]["mic"]),
        (StatusCode::OK, &json!("MIC1"))
    );
    let (_, found, _) = call(
        &app,
        "GET",
        "/v1/admin/membership-organizations?mic=MIC1",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(found["items"].as_array().map(Vec::len), Some(1));
    let (_, none, _) = call(
        &app,
        "GET",
        "/v1/admin/membership-organizations?mic=NOPE",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));
    let (status, problem, _) = call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(mo("mo-1", "MIC2")),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists"))
    );
    let (status, problem, _) = call(
        &app,
        "GET",
        "/v1/admin/membership-organizations/nope",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn composite_lookups_find_mpasses_by_mo_and_number() {
    let (app, _dir) = app();
    for (id, number) in [("p1", "0001"), ("p2", "0002")] {
        let mpass = json!({"id": id, "mpass_number": number, "mo_id": "mo-1", "billing_account_id": "ba-1",
            "user_id_internal": "u", "status": "active", "tier": "Gold", "active_public_key_id": null,
            "created_at": 0, "updated_at": 0, "expires_at": 1_800_000_000, "metadata": {}});
        let (status, body, _) =
            call(&app, "POST", "/v1/admin/mpasses", Some(mpass), Some(TOKEN)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, found, _) = call(
        &app,
        "GET",
        "/v1/admin/mpasses?mo_id=mo-1&mpass_number=0002",
        None,
        Some(TOKEN),
    )
    .await;
    let ids: Vec<&str> = found["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["entity"]["id"].as_str())
        .collect();
    assert_eq!(ids, ["p2"]);
    let (_, by_account, _) = call(
        &app,
        "GET",
        "/v1/admin/mpasses?billing_account_id=ba-1",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(by_account["items"].as_array().map(Vec::len), Some(2));
    let (status, problem, _) = call(
        &app,
        "GET",
        "/v1/admin/mpasses?tier=Gold",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_request"))
    );
}

#[tokio::test]
async fn status_changes_follow_the_lifecycle() {
    let (app, _dir) = app();
    call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(mo("mo-1", "MIC1")),
        Some(TOKEN),
    )
    .await;
    let uri = "/v1/admin/membership-organizations/mo-1/status";
    let (status, body, _) = call(
        &app,
        "POST",
        uri,
        Some(json!({"status": "active"})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, &body["entity"]["status"], &body["revision"]),
        (StatusCode::OK, &json!("active"), &json!(2))
    );
    let (status, problem, _) = call(
        &app,
        "POST",
        uri,
        Some(json!({"status": "pending"})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invalid_transition"))
    );
    let (status, problem, _) = call(
        &app,
        "POST",
        uri,
        Some(json!({"status": "sleeping"})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_request"))
    );
    let stale = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::IF_MATCH, "\"1\"")
        .body(Body::from(r#"{"status":"suspended"}"#))
        .expect("request");
    let (status, problem, _) = send(&app, stale).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed"))
    );
    let (status, _, _) = call(
        &app,
        "POST",
        uri,
        Some(json!({"status": "destroyed"})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = call(
        &app,
        "POST",
        uri,
        Some(json!({"status": "active"})),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "destroyed is terminal");
}

#[tokio::test]
async fn malformed_input_gets_a_clear_problem() {
    let (app, _dir) = app();
    let raw = |body: &'static str, media: &'static str| {
        Request::builder()
            .method("POST")
            .uri("/v1/admin/organizations")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, media)
            .body(Body::from(body))
            .expect("request")
    };
    let (status, problem, _) = send(&app, raw("{not json", "application/json")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_request"))
    );
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("line 1")),
        "{problem}"
    );
    let (status, problem, _) = send(&app, raw(r#"{"id":"o"}"#, "application/json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("missing field")),
        "{problem}"
    );
    let (status, problem, _) = send(&app, raw("id=o", "application/x-www-form-urlencoded")).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let agreement = json!({"id": "a1", "mo_id": "m", "publisher_id": "p", "currency": "EUR",
        "publisher_bps": 7000, "mo_bps": 2000, "moneta_fee_bps": 999, "effective_from": 0, "created_at": 0});
    let (status, problem, _) = call(
        &app,
        "POST",
        "/v1/admin/settlement-agreements",
        Some(agreement),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_entity"))
    );
    let (status, problem, _) = call(
        &app,
        "GET",
        "/v1/admin/organizations?limit=0",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_request"))
    );
}

#[tokio::test]
async fn webhook_secrets_never_leave_the_server_and_every_error_is_a_problem() {
    let (app, _dir) = app();
    let endpoint = json!({"id": "wh1", "organization_id": "org-1", "url": "https://example.test/hook",
        "event_types": [], "enabled": true, "secret": "whsec_c2VjcmV0LXNlY3JldA", "created_at": 0});
    let (status, created, _) = call(
        &app,
        "POST",
        "/v1/admin/webhook-endpoints",
        Some(endpoint),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, got, _) = call(
        &app,
        "GET",
        "/v1/admin/webhook-endpoints/wh1",
        None,
        Some(TOKEN),
    )
    .await;
    let (_, listed, _) = call(
        &app,
        "GET",
        "/v1/admin/webhook-endpoints?organization_id=org-1",
        None,
        Some(TOKEN),
    )
    .await;
    for shown in [&created, &got, &listed] {
        assert!(
            !shown.to_string().contains("whsec_"),
            "secret leaked: {shown}"
        );
    }
    assert_eq!(got["entity"]["secret"], "***");
    // Framework-level errors are problem+json too (checked inside `send`).
    let (status, _, _) = call(&app, "GET", "/v1/admin/no-such-thing", None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&app, "DELETE", "/v1/admin/organizations", None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, problem, _) = call(
        &app,
        "GET",
        "/v1/admin/templates/dispute/versions/two",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_request"))
    );
}

#[tokio::test]
async fn keys_rotate_with_several_active_and_revoke_at_once() {
    let (app, _dir) = app();
    let key = |id: &str, fill: u8| {
        use base64_for_tests::encode;
        json!({"id": id, "organization_id": "mo-1", "algorithm": "ed25519", "public_key": encode(&[fill; 32]),
               "state": "active", "created_at": 0, "revoked_at": null})
    };
    // A key of an organization that is not an MO or a publisher: refused.
    let (status, problem, _) = call(
        &app,
        "POST",
        "/v1/admin/keys",
        Some(key("k0", 9)),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_reference"))
    );
    call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(mo("mo-1", "MIC1")),
        Some(TOKEN),
    )
    .await;
    for (id, fill) in [("k1", 1), ("k2", 2)] {
        let (status, body, _) = call(
            &app,
            "POST",
            "/v1/admin/keys",
            Some(key(id, fill)),
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, keys, _) = call(
        &app,
        "GET",
        "/v1/admin/keys?organization_id=mo-1",
        None,
        Some(TOKEN),
    )
    .await;
    let active = keys["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|k| k["entity"]["state"] == "active")
        .count();
    assert_eq!(active, 2, "rotation: both keys active at once");
    let (status, revoked, _) =
        call(&app, "POST", "/v1/admin/keys/k1/revoke", None, Some(TOKEN)).await;
    assert_eq!(
        (status, &revoked["entity"]["state"]),
        (StatusCode::OK, &json!("revoked"))
    );
    assert_eq!(revoked["entity"]["revoked_at"], 1_700_000_000);
    let (status, _, _) = call(&app, "POST", "/v1/admin/keys/k1/revoke", None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::CONFLICT, "revoked is terminal");
    let mut short = key("k3", 3);
    short["public_key"] = json!("AAAA");
    let (status, problem, _) = call(&app, "POST", "/v1/admin/keys", Some(short), Some(TOKEN)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_entity"))
    );
}

#[tokio::test]
async fn template_versions_are_validated_and_the_latest_is_served() {
    let (app, _dir) = app();
    let yaml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/templates/dispute.yaml"
    ))
    .expect("example");
    let upload = |version: u32, body: String| {
        Request::builder()
            .method("PUT")
            .uri(format!("/v1/admin/templates/dispute/versions/{version}"))
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(Body::from(body))
            .expect("request")
    };
    let (status, body, _) = send(&app, upload(1, yaml.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _, _) = send(&app, upload(2, yaml.replace("version: 1", "version: 2"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem, _) =
        send(&app, upload(2, yaml.replace("version: 1", "version: 2"))).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists")),
        "versions are immutable"
    );
    let (status, problem, _) =
        send(&app, upload(3, yaml.replace("version: 1", "version: 4"))).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_template"))
    );
    let (status, problem, _) =
        send(&app, upload(3, yaml.replace("type: object", "type: list"))).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_template"))
    );
    let (status, latest, _) = call(
        &app,
        "GET",
        "/v1/admin/templates/dispute/latest",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (
            status,
            &latest["entity"]["version"],
            &latest["entity"]["is_latest"]
        ),
        (StatusCode::OK, &json!(2), &json!(true))
    );
    let (_, first, _) = call(
        &app,
        "GET",
        "/v1/admin/templates/dispute/versions/1",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(first["entity"]["is_latest"], false);

    // An older version uploaded after a newer one never becomes the latest.
    let (status, _, _) = send(&app, upload(5, yaml.replace("version: 1", "version: 5"))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, late, _) = send(&app, upload(4, yaml.replace("version: 1", "version: 4"))).await;
    assert_eq!(
        (status, &late["entity"]["is_latest"]),
        (StatusCode::CREATED, &json!(false))
    );
    let (_, latest, _) = call(
        &app,
        "GET",
        "/v1/admin/templates/dispute/latest",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(latest["entity"]["version"], 5);
}

mod base64_for_tests {
    pub fn encode(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}

#[tokio::test]
async fn partner_rate_limits_are_set_checked_and_cleared() {
    let (app, _dir) = app();
    call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(mo("mo-1", "MIC1")),
        Some(TOKEN),
    )
    .await;
    let uri = "/v1/admin/membership-organizations/mo-1/rate-limit";
    let limit = json!({"rate_per_s": 5, "burst": 10});
    let (status, body, _) = call(&app, "PUT", uri, Some(limit.clone()), Some(TOKEN)).await;
    assert_eq!(
        (status, &body["entity"]["rate_limit"]),
        (StatusCode::OK, &limit)
    );
    let (_, read, _) = call(
        &app,
        "GET",
        "/v1/admin/membership-organizations/mo-1",
        None,
        Some(TOKEN),
    )
    .await;
    assert_eq!(read["entity"]["rate_limit"], limit);
    for (bad, code) in [
        (json!({"rate_per_s": 0, "burst": 10}), "invalid_entity"),
        (json!({"rate_per_s": 5}), "malformed_request"),
        (
            json!({"rate_per_s": 5, "burst": 1, "x": 1}),
            "malformed_request",
        ),
    ] {
        let (_, problem, _) = call(&app, "PUT", uri, Some(bad), Some(TOKEN)).await;
        assert_eq!(problem["code"], code);
    }
    let (status, body, _) = call(&app, "DELETE", uri, None, Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["entity"].get("rate_limit").is_none(), "{body}");
    let (status, problem, _) = call(
        &app,
        "PUT",
        "/v1/admin/publishers/nobody/rate-limit",
        Some(limit),
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let mut invalid = mo("mo-2", "MIC2");
    invalid["rate_limit"] = json!({"rate_per_s": 1, "burst": 0});
    let (_, problem, _) = call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(invalid),
        Some(TOKEN),
    )
    .await;
    assert_eq!(problem["code"], "invalid_entity");
}

/// A `PATCH` with `If-Match`, as `application/merge-patch+json`.
async fn patch(
    app: &Router,
    uri: &str,
    if_match: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut request = Request::builder()
        .method("PATCH")
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
        .header(header::CONTENT_TYPE, "application/merge-patch+json");
    if let Some(revision) = if_match {
        request = request.header(header::IF_MATCH, revision);
    }
    let (status, body, _) = send(
        app,
        request.body(Body::from(body.to_string())).expect("request"),
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn registry_records_change_by_merge_patch_at_the_revision_they_name() {
    let (app, _dir) = app();
    let endpoint = json!({"id": "wh1", "organization_id": "org-1", "url": "https://example.test/hook",
        "event_types": ["contract.finalized"], "enabled": true, "secret": "whsec_b2xkLXNlY3JldA",
        "created_at": 0});
    let (status, _, _) = call(
        &app,
        "POST",
        "/v1/admin/webhook-endpoints",
        Some(endpoint),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let uri = "/v1/admin/webhook-endpoints/wh1";

    // Without the revision: 428. Disabled at revision 1: revision 2.
    let (status, problem) = patch(&app, uri, None, json!({"enabled": false})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (
            StatusCode::PRECONDITION_REQUIRED,
            Some("precondition_required")
        )
    );
    let (status, changed) = patch(&app, uri, Some("\"1\""), json!({"enabled": false})).await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["revision"].as_u64(), &changed["entity"]["enabled"]),
        (Some(2), &json!(false))
    );
    assert_eq!(
        changed["entity"]["url"], "https://example.test/hook",
        "other fields unchanged"
    );
    // The same revision again: someone else's change would be lost, 412.
    let (status, problem) = patch(&app, uri, Some("\"1\""), json!({"enabled": true})).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed"))
    );
    // A new secret is stored and never shown; null removes it.
    let (status, rotated) = patch(
        &app,
        uri,
        Some("\"2\""),
        json!({"secret": "whsec_bmV3LXNlY3JldA"}),
    )
    .await;
    assert_eq!(
        (status, &rotated["entity"]["secret"]),
        (StatusCode::OK, &json!("***"))
    );
    assert!(!rotated.to_string().contains("whsec_"));
    // The old secret keeps signing for a day beside the new one.
    assert_eq!(rotated["entity"]["previous_secret"], "***");
    assert_eq!(
        rotated["entity"]["previous_secret_until"],
        1_700_000_000 + 86_400
    );
    for (fields, code) in [
        (json!({"id": "wh2"}), "immutable_field"),
        (json!({"organization_id": "org-2"}), "immutable_field"),
        (json!({"created_at": 5}), "immutable_field"),
        (json!({"previous_secret_until": 5}), "immutable_field"),
        (json!({"url": "ftp://example.test/hook"}), "invalid_entity"),
        (json!({"enabled": "no"}), "invalid_entity"),
    ] {
        let (status, problem) = patch(&app, uri, Some("\"3\""), fields.clone()).await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{fields}"
        );
    }
    let (_, stored, _) = call(&app, "GET", uri, None, Some(TOKEN)).await;
    assert_eq!(stored["revision"], 3, "refused patches changed nothing");

    // An MO: its name changes, updated_at follows, a bad rate limit is refused.
    call(
        &app,
        "POST",
        "/v1/admin/membership-organizations",
        Some(mo("mo-1", "MIC1")),
        Some(TOKEN),
    )
    .await;
    for bad in ["mo/2", "mo 2", ""] {
        let (status, problem, _) = call(
            &app,
            "POST",
            "/v1/admin/membership-organizations",
            Some(mo(bad, "MIC2")),
            Some(TOKEN),
        )
        .await;
        assert_eq!(
            (status, problem["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_id")),
            "{bad:?}"
        );
    }
    let mo_uri = "/v1/admin/membership-organizations/mo-1";
    let (status, renamed) = patch(
        &app,
        mo_uri,
        Some("\"1\""),
        json!({"name": "Acme Members Ltd"}),
    )
    .await;
    assert_eq!(
        (status, &renamed["entity"]["name"]),
        (StatusCode::OK, &json!("Acme Members Ltd"))
    );
    let (status, _) = patch(&app, mo_uri, Some("\"2\""), json!({"status": "active"})).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "status changes go to …/status"
    );
    let (status, problem) = patch(
        &app,
        mo_uri,
        Some("\"2\""),
        json!({"rate_limit": {"rate_per_s": 0, "burst": 1}}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
}

#[tokio::test]
async fn with_uuid_ids_on_the_seeds_kinds_take_uuid_v4_ids_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let mut state = AdminState::new(Registry::new(store), AdminToken::new(TOKEN));
    state.uuid_ids = true;
    let app = router(state);
    let path = "/v1/admin/membership-organizations";
    let (status, problem, _) =
        call(&app, "POST", path, Some(mo("mo-1", "MIC1")), Some(TOKEN)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_id")),
        "{problem}"
    );
    let uuid = "3f2b8c1e-9d4a-4e6b-8f1c-2a7d9e0b5c43";
    let (status, created, _) = call(&app, "POST", path, Some(mo(uuid, "MIC1")), Some(TOKEN)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

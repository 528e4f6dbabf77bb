//! The OpenAPI document covers every route the router serves.

use moneta_admin::{Lifecycle, OPENAPI, Resource};
use moneta_domain::{
    BillingAccount, MPass, MembershipOrganization, MoDeveloper, Organization, PartnerKey,
    Publisher, PublisherDeveloper, SettlementAgreement, WebhookEndpoint,
};

fn collection<R: Resource>(paths: &mut Vec<String>) {
    paths.push(format!("/v1/admin/{}", R::COLLECTION));
    paths.push(format!("/v1/admin/{}/{{id}}", R::COLLECTION));
}

fn lifecycle<R: Lifecycle>(paths: &mut Vec<String>) {
    collection::<R>(paths);
    paths.push(format!("/v1/admin/{}/{{id}}/status", R::COLLECTION));
}

#[test]
fn every_route_is_documented() {
    let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let mut paths = Vec::new();
    lifecycle::<Organization>(&mut paths);
    lifecycle::<MembershipOrganization>(&mut paths);
    lifecycle::<Publisher>(&mut paths);
    lifecycle::<MoDeveloper>(&mut paths);
    lifecycle::<PublisherDeveloper>(&mut paths);
    lifecycle::<MPass>(&mut paths);
    lifecycle::<BillingAccount>(&mut paths);
    lifecycle::<PartnerKey>(&mut paths);
    collection::<WebhookEndpoint>(&mut paths);
    collection::<SettlementAgreement>(&mut paths);
    for extra in [
        "/v1/admin/keys/{id}/revoke",
        "/v1/admin/membership-organizations/{id}/rate-limit",
        "/v1/admin/publishers/{id}/rate-limit",
        "/v1/admin/templates",
        "/v1/admin/templates/{name}/latest",
        "/v1/admin/templates/{name}/versions/{version}",
        "/v1/admin/openapi.json",
        "/v1/admin/deliveries",
        "/v1/admin/deliveries/redeliver",
        "/v1/admin/deliveries/{id}",
        "/v1/admin/deliveries/{id}/attempts",
        "/v1/admin/deliveries/{id}/redeliver",
        "/v1/admin/delivery-attempts",
        "/v1/admin/events/{partner}/{event_id}",
    ] {
        paths.push(extra.into());
    }
    let missing: Vec<&String> = paths
        .iter()
        .filter(|p| doc["paths"].get(p.as_str()).is_none())
        .collect();
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");
    let codes = &doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
    for code in [
        "unauthorized",
        "malformed_request",
        "unsupported_media_type",
        "invalid_entity",
        "not_found",
        "already_exists",
        "revision_conflict",
        "precondition_failed",
        "invalid_transition",
        "invalid_template",
        "internal",
    ] {
        assert!(
            codes
                .as_array()
                .is_some_and(|c| c.iter().any(|v| v == code)),
            "code {code} undocumented"
        );
    }
}

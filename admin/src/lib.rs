//! The operators' admin API (HTTP, JSON): create, read, list, look up and
//! change the status of every registry entity; register, rotate and revoke
//! partner keys; upload template versions. Every route but the OpenAPI
//! document needs the admin bearer token; every error is RFC 9457
//! problem+json with a stable `code`. The operators' console, HTML under
//! `/console/`, is served beside it for the same operators.

mod auth;
mod console;
mod contracts;
mod deliveries;
mod events;
pub mod handlers;
mod rate_limits;
mod resource;
mod templates;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use moneta_domain::{
    BillingAccount, ContractTemplate, KeyState, MPass, MembershipOrganization, MoDeveloper,
    Organization, PartnerKey, Publisher, PublisherDeveloper, SettlementAgreement, WebhookEndpoint,
};
use moneta_problem::{Problem, ensure_problem};
use moneta_state::Registry;

pub use auth::{AdminToken, InvalidDigest, Operator, Operators, SHARED_OPERATOR, token_digest};
pub use console::{DeadLetter, Live, LogAccess, Pending, Replayed, SettlementExport, StageSummary};
pub use resource::{Lifecycle, Resource};

/// The OpenAPI document of this API.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// What every handler shares.
#[derive(Clone)]
pub struct AdminState {
    /// The registry on the configured store.
    pub registry: Registry,
    /// Who may call it.
    pub operators: Operators,
    /// Unix seconds now (replaceable in tests).
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// Accept cleartext `http://` webhook endpoints (`webhooks.allow_http`);
    /// `false` refuses them with 422 `insecure_endpoint`.
    pub allow_http: bool,
    /// Require UUID v4 ids where the design document keys by them
    /// (`admin.uuid_ids`); otherwise any id of the safe characters.
    pub uuid_ids: bool,
    /// Signs the console's session cookies (a new key per process).
    pub console_key: console::SessionKey,
    /// Mark the console's cookies `Secure` (the API serves HTTPS).
    pub secure_cookies: bool,
    /// Moneta's own public keys, to verify its countersignatures.
    pub moneta_keys: Vec<moneta_signing::PublishedKey>,
    /// The running process's stages and metrics, for the console.
    pub live: console::Live,
    /// Kafka for the console (dead letters, replay, settlements), when the
    /// serving process has it.
    pub logs: Option<Arc<dyn console::LogAccess>>,
}

impl AdminState {
    /// State with the system clock.
    pub fn new(registry: Registry, operators: impl Into<Operators>) -> Self {
        let clock = Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        });
        Self {
            registry,
            operators: operators.into(),
            clock,
            allow_http: false,
            uuid_ids: false,
            console_key: console::SessionKey::random(),
            secure_cookies: false,
            moneta_keys: Vec::new(),
            live: console::Live::default(),
            logs: None,
        }
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// The admin API's routes, under `/v1/admin`.
pub fn router(state: AdminState) -> Router {
    let api = Router::new()
        .merge(lifecycle::<Organization>())
        .merge(lifecycle::<MembershipOrganization>())
        .merge(lifecycle::<Publisher>())
        .merge(lifecycle::<MoDeveloper>())
        .merge(lifecycle::<PublisherDeveloper>())
        .merge(lifecycle::<MPass>())
        .merge(lifecycle::<BillingAccount>())
        .merge(lifecycle::<PartnerKey>())
        .merge(collection::<WebhookEndpoint>())
        .merge(collection::<SettlementAgreement>())
        .route(
            "/membership-organizations/{id}/rate-limit",
            put(rate_limits::set::<MembershipOrganization>)
                .delete(rate_limits::clear::<MembershipOrganization>),
        )
        .route(
            "/publishers/{id}/rate-limit",
            put(rate_limits::set::<Publisher>).delete(rate_limits::clear::<Publisher>),
        )
        .route("/keys/{id}/revoke", post(revoke_key))
        .route("/contracts", get(contracts::search))
        .route("/contracts/{id}", get(contracts::get_one))
        .route("/deliveries", get(deliveries::list))
        .route("/deliveries/redeliver", post(deliveries::redeliver_range))
        .route("/deliveries/{id}", get(deliveries::get_one))
        .route("/deliveries/{id}/attempts", get(deliveries::attempts_of))
        .route("/deliveries/{id}/redeliver", post(deliveries::redeliver))
        .route("/delivery-attempts", get(deliveries::attempts))
        .route("/events/{partner}/{event_id}", get(events::get_one))
        .route("/templates", get(handlers::list::<ContractTemplate>))
        .route("/templates/{name}/latest", get(templates::latest))
        .route(
            "/templates/{name}/versions/{version}",
            put(templates::upload).get(templates::version),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .route("/openapi.json", get(openapi));
    Router::new()
        .nest("/v1/admin", api)
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(axum::middleware::map_response(ensure_problem))
        .merge(console::router(state.clone()))
        .with_state(state)
}

async fn unknown_route() -> Problem {
    Problem::not_found("no such route; see /v1/admin/openapi.json")
}

async fn wrong_method() -> Problem {
    Problem::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "this route does not accept that method; see /v1/admin/openapi.json",
    )
}

fn collection<R: Resource>() -> Router<AdminState> {
    Router::new()
        .route(
            &format!("/{}", R::COLLECTION),
            post(handlers::create::<R>).get(handlers::list::<R>),
        )
        .route(
            &format!("/{}/{{id}}", R::COLLECTION),
            get(handlers::get_one::<R>).patch(handlers::patch::<R>),
        )
}

fn lifecycle<R: Lifecycle>() -> Router<AdminState> {
    collection::<R>().route(
        &format!("/{}/{{id}}/status", R::COLLECTION),
        post(handlers::change_status::<R>),
    )
}

/// `POST /v1/admin/keys/{id}/revoke`: a revoked key stops working at once.
async fn revoke_key(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    handlers::apply_status::<PartnerKey>(&state, &id, KeyState::Revoked, None).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

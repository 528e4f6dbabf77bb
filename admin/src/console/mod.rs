//! The operator and finance console: server-rendered HTML under
//! `/console/`, served by the admin API process on its listener, for the
//! same operators. A browser logs in once with the operator's token and
//! then holds a signed session cookie (`HttpOnly`, `SameSite=Strict`);
//! scripts may send the bearer token instead. Without either, every page
//! answers 401 with the login form. Pages read without JavaScript.

mod actions;
mod contracts;
mod dead_letters;
mod deliveries;
mod layout;
mod live;
mod logs;
mod session;
mod settlements;
mod topology;
mod verify;

use axum::extract::{Form, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{Markup, html};
use serde::Deserialize;
use tracing::Instrument;

pub use live::{Live, StageSummary};
pub use logs::{DeadLetter, LogAccess, Pending, Replayed, SettlementExport};
pub use session::SessionKey;

use crate::{AdminState, Operator};

/// The console's routes.
pub fn router(state: AdminState) -> Router<AdminState> {
    let pages = Router::new()
        .route("/console", get(home))
        .route("/console/", get(home))
        .route("/console/contracts", get(contracts::search))
        .route("/console/contracts/{id}", get(contracts::detail))
        .route("/console/deliveries", get(deliveries::overview))
        .route(
            "/console/deliveries/redeliver",
            post(deliveries::redeliver_range),
        )
        .route("/console/deliveries/{id}", get(deliveries::delivery))
        .route(
            "/console/deliveries/{id}/redeliver",
            post(deliveries::redeliver),
        )
        .route("/console/endpoints/{id}", get(deliveries::endpoint))
        .route(
            "/console/endpoints/{id}/enabled",
            post(deliveries::set_enabled),
        )
        .route("/console/topology", get(topology::show))
        .route("/console/dead-letters", get(dead_letters::overview))
        .route("/console/dead-letters/{stage}", get(dead_letters::stage))
        .route(
            "/console/dead-letters/{stage}/replay",
            post(dead_letters::replay),
        )
        .route("/console/settlements", get(settlements::show))
        .route("/console/settlements.csv", get(settlements::csv))
        .route("/console/logout", post(logout))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_operator,
        ));
    Router::new()
        .route("/console/login", get(login_form).post(login))
        .merge(pages)
}

/// The operator of a request: its session cookie, or its bearer token.
fn operator_of(state: &AdminState, headers: &HeaderMap) -> Option<Operator> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| state.operators.identify(token));
    bearer.or_else(|| {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| session::cookie(v, session::COOKIE))
            .and_then(|value| state.console_key.check(value, state.now()))
    })
}

/// Middleware: runs the page as its operator, or answers 401 with the
/// login form.
async fn require_operator(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Response {
    match operator_of(&state, request.headers()) {
        Some(operator) => {
            let span = tracing::info_span!("console", operator = %operator.0);
            request.extensions_mut().insert(operator);
            next.run(request).instrument(span).await
        }
        None => (StatusCode::UNAUTHORIZED, login_page(None)).into_response(),
    }
}

async fn home() -> Redirect {
    Redirect::to("/console/contracts")
}

fn login_page(error: Option<&str>) -> Markup {
    layout::page(
        "Log in",
        None,
        html! {
            h1 { "Log in" }
            @if let Some(error) = error { p.bad { (error) } }
            form method="post" action="/console/login" {
                label { "Operator token" input type="password" name="token" autocomplete="current-password" required; }
                p { button type="submit" { "Log in" } }
            }
        },
    )
}

async fn login_form() -> Markup {
    login_page(None)
}

/// The login form's body.
#[derive(Deserialize)]
struct Login {
    token: String,
}

/// `POST /console/login`: a session for the token's operator.
async fn login(State(state): State<AdminState>, Form(login): Form<Login>) -> Response {
    let Some(operator) = state.operators.identify(&login.token) else {
        tracing::warn!("console login refused");
        return (
            StatusCode::UNAUTHORIZED,
            login_page(Some("That token is not an operator's.")),
        )
            .into_response();
    };
    tracing::info!(operator = %operator.0, "console login");
    let value = state
        .console_key
        .issue(&operator, state.now() + session::SESSION_S);
    let cookie = format!(
        "{}={value}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        session::COOKIE,
        session::SESSION_S,
        if state.secure_cookies { "; Secure" } else { "" }
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/console/contracts".to_owned()),
        ],
    )
        .into_response()
}

/// `POST /console/logout`: ends the browser's session.
async fn logout(Extension(operator): Extension<Operator>) -> Response {
    tracing::info!(operator = %operator.0, "console logout");
    let cookie = format!(
        "{}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        session::COOKIE
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/console/login".to_owned()),
        ],
    )
        .into_response()
}

//! Webhook pages: every endpoint with its circuit, its deliveries and
//! their attempts (status, latency, error), and the operator's actions —
//! redeliver one delivery or every failed one in a range, enable or
//! disable an endpoint — each confirmed first and written to the log with
//! the operator's name.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use moneta_domain::{Delivery, DeliveryState, WebhookEndpoint};
use moneta_state::Deliveries;

use super::actions::{Confirm, confirm_page};
use super::layout::{date_seconds, page, time};
use crate::{AdminState, Operator};

/// Longest error excerpt shown per attempt.
const EXCERPT: usize = 160;

fn log_of(state: &AdminState) -> Deliveries {
    Deliveries::new(state.registry.store())
}

fn failure(operator: &Operator, what: &str, error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, what, "console");
    let body = html! { p.bad { (what) " failed; see the log." } };
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        page("Deliveries", Some(operator), body),
    )
        .into_response()
}

fn ms(at_ms: i64) -> String {
    time(at_ms.div_euclid(1000))
}

/// `GET /console/deliveries`: endpoints, and the deliveries that failed.
pub async fn overview(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
) -> Response {
    let endpoints = match state.registry.list::<WebhookEndpoint>(None, 1000).await {
        Ok(found) => found,
        Err(e) => return failure(&operator, "Listing endpoints", e),
    };
    let failed = match log_of(&state)
        .find(Delivery::INDEX_STATE, DeliveryState::Failed.as_str())
        .await
    {
        Ok(found) => found,
        Err(e) => return failure(&operator, "Reading the delivery log", e),
    };
    let metrics = state.live.gather();
    let mut failed: Vec<Delivery> = failed.into_iter().map(|s| s.delivery).collect();
    failed.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
    let body = html! {
        h1 { "Deliveries" }
        h2 { "Endpoints" }
        table {
            thead { tr { th { "Endpoint" } th { "Organization" } th { "URL" } th { "Types" } th { "Circuit" } th { "Enabled" } th {} } }
            tbody {
                @for stored in &endpoints {
                    @let e = &stored.entity;
                    tr {
                        td { a href=(format!("/console/endpoints/{}", e.id)) { (e.id) } }
                        td { (e.organization_id) }
                        td { code { (e.url) } }
                        td { (e.event_types.join(", ")) }
                        td { (metrics.circuit(&e.id).unwrap_or("—")) }
                        td { @if e.enabled { "yes" } @else { span.bad { "no" } } }
                        td {
                            form method="post" action=(format!("/console/endpoints/{}/enabled", e.id)) {
                                input type="hidden" name="enabled" value=(if e.enabled { "false" } else { "true" });
                                button type="submit" { @if e.enabled { "Disable…" } @else { "Enable…" } }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Failed deliveries" }
        form.filters method="post" action="/console/deliveries/redeliver" {
            label { "Created from" input type="date" name="from" required; }
            label { "to" input type="date" name="to" required; }
            label { "Endpoint (optional)" input type="text" name="endpoint_id"; }
            button type="submit" { "Redeliver failed in range…" }
        }
        (deliveries_table(&failed))
    };
    page("Deliveries", Some(&operator), body).into_response()
}

fn deliveries_table(deliveries: &[Delivery]) -> Markup {
    html! {
        @if deliveries.is_empty() {
            p.muted { "None." }
        } @else {
            table {
                thead { tr { th { "Delivery" } th { "Endpoint" } th { "Contract" } th { "Type" } th { "State" } th { "Attempts" } th { "Last status" } th { "Created" } } }
                tbody {
                    @for d in deliveries {
                        tr {
                            td { a href=(format!("/console/deliveries/{}", d.id)) { code { (d.id) } } }
                            td { (d.endpoint_id) }
                            td { a href=(format!("/console/contracts/{}", d.contract_id)) { (d.contract_id) } }
                            td { (d.event_type) }
                            td.status { (d.state.as_str()) }
                            td { (d.total_attempts) }
                            td { (d.last_status.map_or("—".to_owned(), |s| s.to_string())) }
                            td { (ms(d.created_at_ms)) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /console/endpoints/{id}`: one endpoint's deliveries.
pub async fn endpoint(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
) -> Response {
    let endpoint = match state.registry.get::<WebhookEndpoint>(&id).await {
        Ok(Some(found)) => found.entity,
        Ok(None) => {
            let body = html! { p.bad { "No endpoint " (id) "." } };
            return (
                StatusCode::NOT_FOUND,
                page("Endpoint", Some(&operator), body),
            )
                .into_response();
        }
        Err(e) => return failure(&operator, "Reading the endpoint", e),
    };
    let mut deliveries: Vec<Delivery> =
        match log_of(&state).find(Delivery::INDEX_ENDPOINT, &id).await {
            Ok(found) => found.into_iter().map(|s| s.delivery).collect(),
            Err(e) => return failure(&operator, "Reading the delivery log", e),
        };
    deliveries.sort_by(|a, b| (b.created_at_ms, &b.id).cmp(&(a.created_at_ms, &a.id)));
    let metrics = state.live.gather();
    let title = format!("Endpoint {id}");
    let body = html! {
        h1 { (title) }
        dl {
            dt { "Organization" } dd { (endpoint.organization_id) }
            dt { "URL" } dd { code { (endpoint.url) } }
            dt { "Types" } dd { (endpoint.event_types.join(", ")) }
            dt { "Enabled" } dd { (if endpoint.enabled { "yes" } else { "no" }) }
            dt { "Circuit" } dd { (metrics.circuit(&id).unwrap_or("— (no webhook worker in this process)")) }
        }
        h2 { "Deliveries" }
        (deliveries_table(&deliveries))
    };
    page(&title, Some(&operator), body).into_response()
}

/// `GET /console/deliveries/{id}`: a delivery and its attempts.
pub async fn delivery(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
) -> Response {
    let log = log_of(&state);
    let delivery = match log.get(&id).await {
        Ok(Some(found)) => found.delivery,
        Ok(None) => {
            let body = html! { p.bad { "No delivery " (id) "." } };
            return (
                StatusCode::NOT_FOUND,
                page("Delivery", Some(&operator), body),
            )
                .into_response();
        }
        Err(e) => return failure(&operator, "Reading the delivery log", e),
    };
    let attempts: Vec<_> = match log
        .attempts(Delivery::INDEX_CONTRACT, &delivery.contract_id)
        .await
    {
        Ok(found) => found.into_iter().filter(|a| a.delivery_id == id).collect(),
        Err(e) => return failure(&operator, "Reading the attempts", e),
    };
    let title = format!("Delivery {id}");
    let body = html! {
        h1 { (title) }
        dl {
            dt { "Endpoint" } dd { a href=(format!("/console/endpoints/{}", delivery.endpoint_id)) { (delivery.endpoint_id) } }
            dt { "Contract" } dd { a href=(format!("/console/contracts/{}", delivery.contract_id)) { (delivery.contract_id) } " v" (delivery.contract_version) }
            dt { "Type" } dd { (delivery.event_type) }
            dt { "State" } dd.status data-state=(delivery.state.as_str()) { (delivery.state.as_str()) }
            dt { "Next attempt" } dd { (ms(delivery.next_attempt_at_ms)) }
        }
        @if delivery.state != DeliveryState::Pending {
            form method="post" action=(format!("/console/deliveries/{id}/redeliver")) {
                button type="submit" { "Redeliver…" }
            }
        }
        h2 { "Attempts" }
        @if attempts.is_empty() {
            p.muted { "None yet." }
        } @else {
            table {
                thead { tr { th { "#" } th { "At" } th { "Status" } th { "Latency" } th { "Outcome" } th { "Error or response" } } }
                tbody {
                    @for a in &attempts {
                        tr.attempt {
                            td { (a.attempt) }
                            td { (ms(a.at_ms)) }
                            td { (a.status.map_or("—".to_owned(), |s| s.to_string())) }
                            td { (a.latency_ms) " ms" }
                            td { (a.outcome) }
                            td { (a.error.as_deref().or(a.response.as_deref()).map(excerpt).unwrap_or_default()) }
                        }
                    }
                }
            }
        }
    };
    page(&title, Some(&operator), body).into_response()
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `POST /console/deliveries/{id}/redeliver`: confirm, then put it back in
/// the queue.
pub async fn redeliver(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let action = format!("/console/deliveries/{id}/redeliver");
    if !form.confirmed() {
        return confirm_page(&operator, &format!("Redeliver {id}?"), &action, &form);
    }
    match log_of(&state)
        .redeliver(&id, state.now().saturating_mul(1000))
        .await
    {
        Ok(done) => {
            tracing::info!(operator = %operator.0, delivery = %id, done, "console: redeliver");
            Redirect::to(&format!("/console/deliveries/{id}")).into_response()
        }
        Err(e) => failure(&operator, "Redelivering", e),
    }
}

/// `POST /console/deliveries/redeliver`: confirm, then redeliver every
/// failed delivery created in the range (UTC days, `to` included).
pub async fn redeliver_range(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let day = |name: &str| form.get(name).and_then(|d| date_seconds(d));
    let (Some(from), Some(to)) = (day("from"), day("to")) else {
        let body = html! { p.bad { "Give both dates, YYYY-MM-DD." } };
        return (
            StatusCode::BAD_REQUEST,
            page("Deliveries", Some(&operator), body),
        )
            .into_response();
    };
    let endpoint = form
        .get("endpoint_id")
        .map(|e| e.trim())
        .filter(|e| !e.is_empty());
    if !form.confirmed() {
        let what = format!(
            "Redeliver every failed delivery created from {} to {}{}?",
            form.get("from").map_or("", String::as_str),
            form.get("to").map_or("", String::as_str),
            endpoint.map(|e| format!(" to {e}")).unwrap_or_default()
        );
        return confirm_page(&operator, &what, "/console/deliveries/redeliver", &form);
    }
    match log_of(&state)
        .redeliver_failed(
            from * 1000,
            (to + 86_400) * 1000,
            endpoint,
            state.now().saturating_mul(1000),
        )
        .await
    {
        Ok(ids) => {
            tracing::info!(operator = %operator.0, count = ids.len(), "console: redeliver range");
            let body = html! {
                h1 { "Redelivered" }
                p { (ids.len()) " deliveries are back in the queue." }
                p { a href="/console/deliveries" { "Back to deliveries" } }
            };
            page("Redelivered", Some(&operator), body).into_response()
        }
        Err(e) => failure(&operator, "Redelivering", e),
    }
}

/// `POST /console/endpoints/{id}/enabled`: confirm, then enable or disable.
pub async fn set_enabled(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let enable = form.get("enabled").map(String::as_str) == Some("true");
    let action = format!("/console/endpoints/{id}/enabled");
    if !form.confirmed() {
        let verb = if enable { "Enable" } else { "Disable" };
        return confirm_page(&operator, &format!("{verb} endpoint {id}?"), &action, &form);
    }
    let current = match state.registry.get::<WebhookEndpoint>(&id).await {
        Ok(Some(found)) => found,
        Ok(None) => return Redirect::to("/console/deliveries").into_response(),
        Err(e) => return failure(&operator, "Reading the endpoint", e),
    };
    let mut endpoint = current.entity;
    endpoint.enabled = enable;
    match state.registry.update(&endpoint, current.revision).await {
        Ok(_) => {
            tracing::info!(operator = %operator.0, endpoint = %id, enabled = enable, "console: endpoint changed");
            Redirect::to("/console/deliveries").into_response()
        }
        Err(e) => failure(&operator, "Changing the endpoint", e),
    }
}

//! Contract pages: search by party, mPass, type, status and creation date,
//! and one contract with its parties, terms, verified signatures, event
//! log, disputes and deliveries to each party.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use moneta_domain::{Contract, ContractStatus, Delivery};
use moneta_state::Deliveries;
use moneta_state::contract_search::{ContractSearch, Page};

use super::layout::{date_seconds, page, time};
use super::verify::{self, Verdict};
use crate::{AdminState, Operator};

/// The search form's fields, as query parameters.
const FIELDS: [(&str, &str); 4] = [
    ("mo", "MO"),
    ("publisher", "Publisher"),
    ("mpass", "mPass"),
    ("type", "Type"),
];

/// `GET /console/contracts`: the search form and a page of results.
pub async fn search(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Query(form): Query<BTreeMap<String, String>>,
) -> Response {
    let found = match to_search(&form) {
        Ok(search) => search
            .run(state.registry.store().as_ref())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "console contract search");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the store could not be searched".to_owned(),
                )
            }),
        Err(why) => Err((StatusCode::BAD_REQUEST, why)),
    };
    let (status, body) = match found {
        Ok(page) => (StatusCode::OK, results(&form, &page)),
        Err((status, why)) => (status, html! { p.bad { (why) } }),
    };
    let markup = page(
        "Contracts",
        Some(&operator),
        html! {
            h1 { "Contracts" }
            (filters(&form))
            (body)
        },
    );
    (status, markup).into_response()
}

/// The store search the form asks for (dates are whole UTC days, `to`
/// included).
fn to_search(form: &BTreeMap<String, String>) -> Result<ContractSearch, String> {
    let mut params = BTreeMap::new();
    for (name, value) in form.iter().filter(|(_, v)| !v.trim().is_empty()) {
        let value = value.trim();
        match name.as_str() {
            "from" => {
                let at = date_seconds(value).ok_or("from: a date, YYYY-MM-DD")?;
                params.insert("created_from".to_owned(), at.to_string());
            }
            "to" => {
                let at = date_seconds(value).ok_or("to: a date, YYYY-MM-DD")?;
                params.insert("created_to".to_owned(), (at + 86_400).to_string());
            }
            _ => {
                params.insert(name.clone(), value.to_owned());
            }
        }
    }
    params
        .entry("limit".to_owned())
        .or_insert_with(|| "50".to_owned());
    ContractSearch::from_params(&params).map_err(|e| e.to_string())
}

fn filters(form: &BTreeMap<String, String>) -> Markup {
    let value = |name: &str| form.get(name).cloned().unwrap_or_default();
    html! {
        form.filters method="get" action="/console/contracts" {
            @for (name, label) in FIELDS {
                label { (label) input type="text" name=(name) value=(value(name)); }
            }
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for status in ContractStatus::ALL {
                        option value=(status.as_str()) selected[value("status") == status.as_str()] {
                            (status.as_str())
                        }
                    }
                }
            }
            label { "Created from" input type="date" name="from" value=(value("from")); }
            label { "to" input type="date" name="to" value=(value("to")); }
            button type="submit" { "Search" }
        }
    }
}

fn results(form: &BTreeMap<String, String>, page: &Page) -> Markup {
    let next = page.next_cursor.as_ref().map(|cursor| {
        let mut query: Vec<(String, String)> = form
            .iter()
            .filter(|(k, _)| k.as_str() != "cursor")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        query.push(("cursor".to_owned(), cursor.clone()));
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("/console/contracts?{}", encoded.join("&"))
    });
    html! {
        @if page.items.is_empty() {
            p.muted { "No contract matches." }
        } @else {
            table {
                thead { tr { th { "Contract" } th { "Type" } th { "MO" } th { "Publisher" } th { "mPass" } th { "Status" } th { "Version" } th { "Created" } } }
                tbody {
                    @for c in &page.items {
                        tr {
                            td { a href=(format!("/console/contracts/{}", encode(&c.id))) { (c.id) } }
                            td { (c.contract_type) }
                            td { (c.mo_id) }
                            td { (c.publisher_id) }
                            td { (c.mpass_id.as_deref().unwrap_or("—")) }
                            td.status { (c.status.as_str()) }
                            td { (c.version) }
                            td { (time(c.created_at)) }
                        }
                    }
                }
            }
        }
        @if let Some(next) = next {
            @if page.items.len() < 50 {
                p.muted { "This page read as many contracts as one page may without filling up; more may match." }
            }
            p { a href=(next) { "Next page →" } }
        }
    }
}

/// `GET /console/contracts/{id}`: one contract.
pub async fn detail(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
) -> Response {
    let store = state.registry.store();
    let contract: Option<Contract> = match store.get_contract(&id).await {
        Ok(Some(stored)) => serde_json::from_slice(&stored.body).ok(),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, "console contract");
            let body = html! { p.bad { "The store could not be read." } };
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                page("Contract", Some(&operator), body),
            )
                .into_response();
        }
    };
    let Some(contract) = contract else {
        let body = html! { h1 { "Contract " (id) } p.bad { "No such contract." } };
        return (
            StatusCode::NOT_FOUND,
            page("Contract", Some(&operator), body),
        )
            .into_response();
    };
    let signatures = verify::signatures(&state, &contract).await;
    let deliveries = Deliveries::new(store)
        .find(Delivery::INDEX_CONTRACT, &contract.id)
        .await
        .map(|found| {
            let mut items: Vec<Delivery> = found.into_iter().map(|s| s.delivery).collect();
            items.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
            items
        })
        .unwrap_or_default();
    let title = format!("Contract {}", contract.id);
    let body = html! {
        h1 { (title) }
        (summary(&contract))
        h2 { "Signatures" }
        table {
            thead { tr { th { "Party" } th { "Key" } th { "Signed at" } th { "Check" } } }
            tbody {
                @for (party, signature, verdict) in &signatures {
                    tr {
                        td { (party) }
                        td { code { (signature.key_id) } }
                        td { (time(signature.signed_at)) }
                        td {
                            @match verdict {
                                Verdict::Verified => span.ok data-verified="true" { "✓ verified" },
                                Verdict::Failed(why) => span.bad data-verified="false" { "✗ not verified: " (why) },
                            }
                        }
                    }
                }
            }
        }
        h2 { "Terms" }
        pre { (serde_json::to_string_pretty(&contract.payload).unwrap_or_default()) }
        h2 { "Event log" }
        table {
            thead { tr { th { "Version" } th { "What" } th { "Event" } th { "At" } } }
            tbody {
                @for entry in &contract.event_log {
                    tr { td { (entry.version) } td { (entry.kind) } td { code { (entry.event_id) } } td { (time(entry.at)) } }
                }
            }
        }
        @if !contract.disputes.is_empty() {
            h2 { "Disputes" }
            table {
                thead { tr { th { "Dispute" } th { "Claimed" } th { "State" } th { "Upheld" } th { "Resolution" } } }
                tbody {
                    @for d in &contract.disputes {
                        tr {
                            td { (d.dispute_id) } td { (d.claimed_minor) } td { (d.state.as_str()) }
                            td { (d.upheld_minor) } td { (d.resolution_id.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
        h2 { "Deliveries" }
        @if deliveries.is_empty() {
            p.muted { "None." }
        } @else {
            table {
                thead { tr { th { "Delivery" } th { "To" } th { "Type" } th { "Version" } th { "State" } th { "Attempts" } th { "Last status" } } }
                tbody {
                    @for d in &deliveries {
                        tr {
                            td { code { (d.id) } }
                            td { (d.organization_id) " (" (d.endpoint_id) ")" }
                            td { (d.event_type) }
                            td { (d.contract_version) }
                            td { (format!("{:?}", d.state).to_lowercase()) }
                            td { (d.total_attempts) }
                            td { (d.last_status.map_or("—".to_owned(), |s| s.to_string())) }
                        }
                    }
                }
            }
        }
    };
    page(&title, Some(&operator), body).into_response()
}

fn summary(contract: &Contract) -> Markup {
    html! {
        dl {
            dt { "Status" } dd.status { (contract.status.as_str()) }
            dt { "Type" } dd { (contract.contract_type) }
            dt { "Template" } dd { (contract.template_name) " v" (contract.template_version) }
            dt { "MO" } dd { (contract.mo_id) }
            dt { "Publisher" } dd { (contract.publisher_id) }
            dt { "mPass" } dd { (contract.mpass_id.as_deref().unwrap_or("—")) }
            dt { "Version" } dd { (contract.version) }
            dt { "Created" } dd { (time(contract.created_at)) }
            dt { "Finalized" } dd { (contract.finalized_at.map_or("—".to_owned(), time)) }
            dt { "Description" } dd { (contract.description) }
        }
    }
}

/// Percent-encodes a query or path component.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

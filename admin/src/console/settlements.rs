//! The settlements page: per period and party, totals and their split,
//! adjustments, the parties' answers (and disputes) to each statement, a
//! chart of totals by period start day, and the CSV export finance uses
//! (`moneta settlements export`), behind a link.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::layout::{page, unavailable};
use crate::{AdminState, Operator};

/// The filters (empty: all), by the CSV's column names.
const FILTERS: [(&str, &str); 4] = [
    ("mo_id", "MO"),
    ("publisher_id", "Publisher"),
    ("currency", "Currency"),
    ("period_start", "Period start (YYYY-MM-DD)"),
];

fn text<'a>(row: &'a Map<String, Value>, field: &str) -> &'a str {
    row.get(field).and_then(Value::as_str).unwrap_or_default()
}

fn minor(row: &Map<String, Value>, field: &str) -> i64 {
    row.get(field).and_then(Value::as_i64).unwrap_or_default()
}

/// `GET /console/settlements`.
pub async fn show(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Query(form): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(logs) = &state.logs else {
        return unavailable(
            "Settlements",
            &operator,
            "This process reads no Kafka topics.",
        );
    };
    let export = match logs.settlements().await {
        Ok(export) => export,
        Err(error) => {
            tracing::error!(%error, "console: settlements");
            return unavailable(
                "Settlements",
                &operator,
                "The settlements topic could not be read.",
            );
        }
    };
    let wanted = |row: &Map<String, Value>| {
        FILTERS.iter().all(|(field, _)| {
            form.get(*field)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .is_none_or(|v| text(row, field) == v)
        })
    };
    let rows: Vec<&Map<String, Value>> = export.rows.iter().filter(|r| wanted(r)).collect();
    let value = |name: &str| form.get(name).cloned().unwrap_or_default();
    let body = html! {
        h1 { "Settlements" }
        form.filters method="get" action="/console/settlements" {
            @for (name, label) in FILTERS {
                label { (label) input type="text" name=(name) value=(value(name)); }
            }
            button type="submit" { "Filter" }
            a id="csv" href="/console/settlements.csv" download="settlements.csv" { "Download CSV (all)" }
        }
        (totals(&rows))
        (chart(&rows))
        h2 { "Settlements and adjustments" }
        @if rows.is_empty() {
            p.muted { "None closed yet." }
        } @else {
            table {
                thead { tr {
                    th { "Period" } th { "MO" } th { "Publisher" } th { "Kind" } th { "Currency" }
                    th { "Total" } th { "Publisher" } th { "MO" } th { "Moneta fee" } th { "Unallocated" }
                    th { "Carried in / forward" } th { "Status" } th { "Disputes" }
                } }
                tbody {
                    @for row in &rows {
                        tr.settlement data-id=(text(row, "settlement_id")) {
                            td { (text(row, "period_start")) " – " (text(row, "period_end")) }
                            td { (text(row, "mo_id")) }
                            td { (text(row, "publisher_id")) }
                            td { (text(row, "kind").to_lowercase()) @if !text(row, "adjusts").is_empty() { " of " code { (text(row, "adjusts")) } } }
                            td { (text(row, "currency")) }
                            td.total { (minor(row, "total_minor")) }
                            td { (minor(row, "publisher_minor")) }
                            td { (minor(row, "mo_minor")) }
                            td { (minor(row, "moneta_fee_minor")) }
                            td { (minor(row, "unallocated_minor")) }
                            td { (minor(row, "carried_in_minor")) " / " (minor(row, "carried_forward_minor")) }
                            td.status { (text(row, "status")) }
                            td { (disputes(row)) }
                        }
                    }
                }
            }
        }
        p.muted { "Amounts in minor units of the currency." }
        (discrepancies(&export.comparisons, &wanted))
    };
    page("Settlements", Some(&operator), body).into_response()
}

/// The parties' submitted settlements compared with Moneta's.
fn discrepancies(
    comparisons: &[Map<String, Value>],
    wanted: &impl Fn(&Map<String, Value>) -> bool,
) -> Markup {
    let shown: Vec<&Map<String, Value>> = comparisons.iter().filter(|c| wanted(c)).collect();
    html! {
        h2 { "Submitted settlements compared" }
        @if shown.is_empty() {
            p.muted { "No party submitted a settlement of its own." }
        } @else {
            table {
                thead { tr {
                    th { "Period" } th { "MO" } th { "Publisher" } th { "Currency" } th { "Outcome" }
                    th { "Moneta's total" } th { "Submitted total" } th { "Lines matched / not" } th { "Submitted as" }
                } }
                tbody {
                    @for c in &shown {
                        tr.comparison {
                            td { (text(c, "period_start")) " – " (text(c, "period_end")) }
                            td { (text(c, "mo_id")) }
                            td { (text(c, "publisher_id")) }
                            td { (text(c, "currency")) }
                            td.status { (text(c, "outcome").to_lowercase()) }
                            td { (minor(c, "computed_total_minor")) }
                            td { (minor(c, "submitted_total_minor")) }
                            td { (minor(c, "matched")) " / " (minor(c, "mismatched")) }
                            td { a href=(format!("/console/contracts/{}", text(c, "submitted_contract_id"))) { (text(c, "submitted_contract_id")) } }
                        }
                    }
                }
            }
        }
    }
}

fn disputes(row: &Map<String, Value>) -> String {
    ["mo_answer", "publisher_answer"]
        .iter()
        .filter_map(|field| {
            let answer = row.get(*field)?;
            (answer.get("decision")?.as_str()? == "disputed").then(|| {
                format!(
                    "{}: {}",
                    field.trim_end_matches("_answer"),
                    answer
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason")
                )
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Sums per currency: total and each part.
fn totals(rows: &[&Map<String, Value>]) -> Markup {
    let mut sums: BTreeMap<&str, [i64; 5]> = BTreeMap::new();
    for row in rows {
        let sum = sums.entry(text(row, "currency")).or_default();
        for (i, field) in [
            "total_minor",
            "publisher_minor",
            "mo_minor",
            "moneta_fee_minor",
            "unallocated_minor",
        ]
        .iter()
        .enumerate()
        {
            sum[i] += minor(row, field);
        }
    }
    html! {
        h2 { "Totals" }
        table {
            thead { tr { th { "Currency" } th { "Total" } th { "Publishers" } th { "MOs" } th { "Moneta fees" } th { "Unallocated" } } }
            tbody {
                @for (currency, sum) in &sums {
                    tr { td { (currency) } @for v in sum { td { (v) } } }
                }
            }
        }
    }
}

/// Bars of the total per period start day (one currency per chart row),
/// drawn on the server as SVG.
fn chart(rows: &[&Map<String, Value>]) -> Markup {
    let mut by_day: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for row in rows {
        *by_day
            .entry((text(row, "currency"), text(row, "period_start")))
            .or_default() += minor(row, "total_minor");
    }
    if by_day.is_empty() {
        return html! {};
    }
    let max = by_day.values().map(|v| v.abs()).max().unwrap_or(1).max(1);
    let (bar, gap, height) = (28_i64, 12_i64, 160_i64);
    let width = (bar + gap) * i64::try_from(by_day.len()).unwrap_or(0) + gap;
    html! {
        h2 { "Totals by period start" }
        svg width=(width) height=(height + 40) role="img" aria-label="Totals by period start" {
            @for (i, ((currency, day), total)) in by_day.iter().enumerate() {
                @let x = gap + (bar + gap) * i64::try_from(i).unwrap_or(0);
                @let h = (total.abs() * height / max).max(1);
                rect x=(x) y=(height - h) width=(bar) height=(h) fill=(if *total < 0 { "#b3261e" } else { "#3b6fb6" }) {
                    title { (day) " " (currency) ": " (total) }
                }
                text x=(x) y=(height + 14) font-size="10" { (day.get(5..).unwrap_or(day)) }
                text x=(x) y=(height + 28) font-size="10" fill="#6b7588" { (currency) }
            }
        }
    }
}

/// `GET /console/settlements.csv`: the export, as a download.
pub async fn csv(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
) -> Response {
    let Some(logs) = &state.logs else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this process reads no Kafka topics",
        )
            .into_response();
    };
    match logs.settlements().await {
        Ok(export) => {
            tracing::info!(operator = %operator.0, rows = export.rows.len(), "console: settlements exported");
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"settlements.csv\"",
                    ),
                ],
                export.csv,
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "console: settlements");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the settlements topic could not be read",
            )
                .into_response()
        }
    }
}

//! Dead-letter pages: per stage, the records it could not process with the
//! reason, decoded where possible; replay the selected ones to their
//! source topics after a fix, as `moneta replay` does (confirmed first,
//! logged with the operator).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::actions::{Confirm, confirm_page};
use super::layout::{page, time, unavailable};
use crate::{AdminState, Operator};

/// Most records one page shows.
const SHOWN: usize = 200;

/// `GET /console/dead-letters`: each stage's dead-letter topic.
pub async fn overview(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
) -> Response {
    let live = &state.live;
    let metrics = live.gather();
    let body = html! {
        h1 { "Dead letters" }
        table {
            thead { tr { th { "Stage" } th { "Dead-letter topic" } th { "Dead-lettered (this process)" } } }
            tbody {
                @for stage in &live.stages {
                    tr {
                        td { a href=(format!("/console/dead-letters/{}", stage.name)) { (stage.name) } }
                        td { code { (stage.dead_letters) } }
                        td { (metrics.sum("moneta_records_dead_lettered_total", "processor", &stage.name).map_or("—".to_owned(), |n| format!("{n:.0}"))) }
                    }
                }
            }
        }
    };
    page("Dead letters", Some(&operator), body).into_response()
}

/// `GET /console/dead-letters/{stage}`: its latest dead letters.
pub async fn stage(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(stage): Path<String>,
) -> Response {
    let Some(topic) = state.live.dead_letter_topic(&stage) else {
        return unavailable("Dead letters", &operator, "No such stage in this topology.");
    };
    let Some(logs) = &state.logs else {
        return unavailable(
            "Dead letters",
            &operator,
            "This process reads no Kafka topics.",
        );
    };
    let records = match logs.dead_letters(&topic, SHOWN).await {
        Ok(records) => records,
        Err(error) => {
            tracing::error!(%error, topic, "console: dead letters");
            return unavailable(
                "Dead letters",
                &operator,
                "The dead-letter topic could not be read.",
            );
        }
    };
    let title = format!("Dead letters of {stage}");
    let body = html! {
        h1 { (title) }
        p.muted { code { (topic) } ": the last " (SHOWN) " records at most. Replaying writes the selected records back to the topic they failed on; every effect is keyed by a deterministic id, so an event already applied changes nothing." }
        @if records.is_empty() {
            p.muted { "None." }
        } @else {
            form method="post" action=(format!("/console/dead-letters/{stage}/replay")) {
                table {
                    thead { tr { th {} th { "Record" } th { "At" } th { "Key" } th { "Failed on" } th { "Code" } th { "Reason" } th { "Value" } } }
                    tbody {
                        @for r in &records {
                            tr.dead-letter {
                                td { input type="checkbox" name=(format!("r:{}:{}", r.partition, r.offset)) value="on"; }
                                td { (r.partition) "/" (r.offset) }
                                td { (r.timestamp_ms.map_or("—".to_owned(), |ms| time(ms.div_euclid(1000)))) }
                                td { (r.key) }
                                td { code { (r.source) } }
                                td { code { (r.code) } }
                                td { (r.reason) }
                                td { pre { (r.value) } }
                            }
                        }
                    }
                }
                p { button type="submit" { "Replay selected…" } }
            }
        }
    };
    page(&title, Some(&operator), body).into_response()
}

/// `POST /console/dead-letters/{stage}/replay`: confirm, then replay the
/// selected records.
pub async fn replay(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    Path(stage): Path<String>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let (Some(topic), Some(logs)) = (state.live.dead_letter_topic(&stage), state.logs.clone())
    else {
        return unavailable(
            "Dead letters",
            &operator,
            "No such stage, or this process reads no Kafka topics.",
        );
    };
    let selected: Vec<(i32, i64)> = form
        .keys()
        .filter_map(|k| {
            let (p, o) = k.strip_prefix("r:")?.split_once(':')?;
            Some((p.parse().ok()?, o.parse().ok()?))
        })
        .collect();
    if selected.is_empty() {
        let body = html! { p.bad { "Select the records to replay." } };
        return (
            StatusCode::BAD_REQUEST,
            page("Dead letters", Some(&operator), body),
        )
            .into_response();
    }
    let action = format!("/console/dead-letters/{stage}/replay");
    if !form.confirmed() {
        let what = format!(
            "Replay {} record(s) of {topic} to the topics they failed on?",
            selected.len()
        );
        return confirm_page(&operator, &what, &action, &form);
    }
    match logs.replay(&topic, selected.clone()).await {
        Ok(done) => {
            tracing::info!(
                operator = %operator.0, topic, records = ?selected,
                emitted = done.emitted, already_applied = done.already_applied,
                "console: replay"
            );
            let body = html! {
                h1 { "Replayed" }
                p id="replayed" { (done.emitted) " record(s) written back; " (done.already_applied) " of them were events already applied (they change nothing)." }
                p { a href=(format!("/console/dead-letters/{stage}")) { "Back to the dead letters of " (stage) } }
            };
            page("Replayed", Some(&operator), body).into_response()
        }
        Err(error) => {
            tracing::error!(%error, topic, "console: replay");
            unavailable("Dead letters", &operator, "The replay failed; see the log.")
        }
    }
}

//! The topology page: every stage as declared, with its live consumer lag,
//! throughput and dead-letter rate from this process's own metrics; the
//! page refreshes itself every few seconds (no JavaScript).

use std::collections::BTreeMap;
use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use maud::{Markup, html};

use super::layout::framed;
use crate::{AdminState, Operator};

/// Seconds between refreshes.
const REFRESH_S: u32 = 5;

/// Counter readings of one moment, per stage: (records in, dead-lettered).
#[derive(Debug, Clone, Default)]
pub(crate) struct Reading {
    at: Option<Instant>,
    counts: BTreeMap<String, (f64, f64)>,
}

/// `GET /console/topology`.
pub async fn show(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
) -> Markup {
    let live = &state.live;
    let metrics = live.gather();
    let now = Instant::now();
    let counts: BTreeMap<String, (f64, f64)> = live
        .stages
        .iter()
        .map(|s| {
            let records = metrics
                .sum("moneta_records_in_total", "processor", &s.name)
                .unwrap_or(0.0);
            let dead = metrics
                .sum("moneta_records_dead_lettered_total", "processor", &s.name)
                .unwrap_or(0.0);
            (s.name.clone(), (records, dead))
        })
        .collect();
    // Rates since the previous view of this page (by anyone).
    let previous = live.reading.lock().map(|mut last| {
        let before = last.clone();
        *last = Reading {
            at: Some(now),
            counts: counts.clone(),
        };
        before
    });
    let elapsed = previous
        .as_ref()
        .ok()
        .and_then(|p| p.at)
        .map(|at| now.duration_since(at).as_secs_f64())
        .filter(|s| *s > 0.0);
    let rate = |name: &str, pick: fn(&(f64, f64)) -> f64| -> String {
        let (Some(seconds), Ok(previous)) = (elapsed, previous.as_ref()) else {
            return "—".to_owned();
        };
        match (counts.get(name), previous.counts.get(name)) {
            (Some(now), Some(before)) => {
                format!("{:.1}/s", (pick(now) - pick(before)).max(0.0) / seconds)
            }
            _ => "—".to_owned(),
        }
    };
    let body = html! {
        h1 { "Topology" }
        @if live.stages.is_empty() {
            p.muted { "This admin API runs outside `moneta up`: no stages run in its process." }
        } @else {
            p.muted { "Refreshed every " (REFRESH_S) " s; rates since the previous view." }
            table {
                thead { tr { th { "Reads" } th { "Stage" } th { "Writes" } th { "Lag" } th { "Records in" } th { "Throughput" } th { "Dead-lettered" } th { "Dead letters/s" } } }
                tbody {
                    @for stage in &live.stages {
                        @let (records, dead) = counts.get(&stage.name).copied().unwrap_or_default();
                        tr data-stage=(stage.name) {
                            td { (topics(&stage.reads)) }
                            td { strong { (stage.name) } br; span.muted { (stage.description) } }
                            td { (topics(&stage.writes)) br; span.muted { "dead letters: " (stage.dead_letters) } }
                            td.lag { (metrics.sum("moneta_consumer_lag", "processor", &stage.name).map_or("—".to_owned(), |l| format!("{l:.0}"))) }
                            td { (format!("{records:.0}")) }
                            td { (rate(&stage.name, |c| c.0)) }
                            td { (format!("{dead:.0}")) }
                            td { (rate(&stage.name, |c| c.1)) }
                        }
                    }
                }
            }
        }
    };
    framed("Topology", Some(&operator), Some(REFRESH_S), body)
}

fn topics(names: &[String]) -> Markup {
    html! {
        @for (i, name) in names.iter().enumerate() {
            @if i > 0 { br; }
            code { (name) }
        }
    }
}

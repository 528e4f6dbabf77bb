//! The console's page frame: head, navigation, styles. Pages are plain
//! server-rendered HTML, readable without JavaScript.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use moneta_settlement::period::{civil_from_days, days_from_civil};

use crate::Operator;

/// Styles of every page (no external assets).
const STYLE: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.4rem;align-items:center}
header a{color:#cfd8ea;text-decoration:none}header a:hover{color:#fff}
header .who{margin-left:auto;color:#9aa7bd}
main{padding:1.2rem;max-width:1200px}
h1{font-size:1.3rem;margin:.2rem 0 1rem}h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #e3e6eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:end;margin-bottom:1rem}
label{display:flex;flex-direction:column;font-size:.8rem;color:#4b5566}
input,select,button{font:inherit;padding:.25rem .4rem}
pre{background:#fff;border:1px solid #e3e6eb;padding:.6rem;overflow:auto}
.ok{color:#11753a;font-weight:600}.bad{color:#b3261e;font-weight:600}
.muted{color:#6b7588}.status{font-weight:600}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{color:#4b5566}dd{margin:0}
"#;

/// A full page titled `title` for `operator` (absent on the login page).
pub fn page(title: &str, operator: Option<&Operator>, body: Markup) -> Markup {
    framed(title, operator, None, body)
}

/// [`page`], reloading itself every `refresh_s` seconds if given.
pub fn framed(
    title: &str,
    operator: Option<&Operator>,
    refresh_s: Option<u32>,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Moneta console" }
                @if let Some(seconds) = refresh_s { meta http-equiv="refresh" content=(seconds); }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Moneta" }
                    @if let Some(operator) = operator {
                        a href="/console/contracts" { "Contracts" }
                        a href="/console/deliveries" { "Deliveries" }
                        a href="/console/dead-letters" { "Dead letters" }
                        a href="/console/settlements" { "Settlements" }
                        a href="/console/topology" { "Topology" }
                        span.who {
                            "operator " (operator.0) " "
                            form method="post" action="/console/logout" style="display:inline" {
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page titled `title` that says only `why` it cannot show more.
pub fn unavailable(title: &str, operator: &Operator, why: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = html! { h1 { (title) } p.bad { (why) } };
    (
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        page(title, Some(operator), body),
    )
        .into_response()
}

/// RFC 3339 (UTC, seconds) of Unix seconds `at`.
pub fn time(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds of a `YYYY-MM-DD` date at 00:00 UTC.
pub fn date_seconds(date: &str) -> Option<i64> {
    let mut parts = date.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: u32 = parts.next()?.parse().ok()?;
    let d: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, m, d) * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_round_trip_in_utc() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(time(1_795_435_200), "2026-11-23T12:00:00Z");
        assert_eq!(date_seconds("2026-11-23"), Some(1_795_392_000));
        assert_eq!(
            date_seconds("2024-02-29").map(time).as_deref(),
            Some("2024-02-29T00:00:00Z")
        );
        assert_eq!(date_seconds("2026-13-01"), None);
        assert_eq!(date_seconds("yesterday"), None);
    }
}

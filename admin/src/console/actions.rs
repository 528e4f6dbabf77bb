//! Actions that change something are confirmed first: the first POST of a
//! form shows what it will do, with the same fields and `confirm=yes`; only
//! that second POST acts (then logs the operator and what they did).

use std::collections::BTreeMap;

use axum::response::{IntoResponse, Response};
use maud::html;

use super::layout::page;
use crate::Operator;

/// Whether a submitted form carries the confirmation.
pub trait Confirm {
    /// `confirm=yes` is among the fields.
    fn confirmed(&self) -> bool;
}

impl Confirm for BTreeMap<String, String> {
    fn confirmed(&self) -> bool {
        self.get("confirm").map(String::as_str) == Some("yes")
    }
}

/// The page asking `operator` to confirm `what`, posting `form` to `action`.
pub fn confirm_page(
    operator: &Operator,
    what: &str,
    action: &str,
    form: &BTreeMap<String, String>,
) -> Response {
    page(
        "Confirm",
        Some(operator),
        html! {
            h1 { "Confirm" }
            p { (what) }
            form method="post" action=(action) {
                @for (name, value) in form.iter().filter(|(k, _)| k.as_str() != "confirm") {
                    input type="hidden" name=(name) value=(value);
                }
                input type="hidden" name="confirm" value="yes";
                button type="submit" id="confirm" { "Confirm" }
                " "
                a href=(action.rsplit_once('/').map_or("/console/", |(parent, _)| parent)) { "Cancel" }
            }
        },
    )
    .into_response()
}

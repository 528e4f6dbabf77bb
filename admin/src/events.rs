//! `GET /events/{partner}/{event_id}`: what happened to a partner's event
//! (operators' view; partners use `GET /v1/events/{id}` on the edge).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use moneta_problem::Problem;
use moneta_state::EventLog;
use serde_json::{Value, json};

use crate::AdminState;

/// `GET /events/{partner}/{event_id}`.
pub async fn get_one(
    State(state): State<AdminState>,
    Path((partner, event_id)): Path<(String, String)>,
) -> Result<Json<Value>, Problem> {
    let record = EventLog::new(state.registry.store())
        .get(&partner, &event_id)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "event log");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal error",
                "the event log could not be read",
            )
        })?
        .ok_or_else(|| Problem::not_found(format!("no event {event_id} of {partner}")))?;
    Ok(Json(json!(record)))
}

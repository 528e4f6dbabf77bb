//! The webhook delivery log and manual redelivery.
//!
//! - `GET /deliveries?contract_id=…|endpoint_id=…|state=…`: deliveries.
//! - `GET /deliveries/{id}`: one delivery; `GET /deliveries/{id}/attempts`: its attempts.
//! - `GET /delivery-attempts?contract_id=…|endpoint_id=…`: every attempt.
//! - `POST /deliveries/{id}/redeliver`: one delivery again, with a fresh schedule.
//! - `POST /deliveries/redeliver` `{"from_ms", "to_ms", "endpoint_id"?}`:
//!   every failed delivery created in the range.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use moneta_domain::Delivery;
use moneta_problem::Problem;
use moneta_state::{Deliveries, DeliveryError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AdminState;

/// Filters of the delivery log (exactly one).
#[derive(Debug, Deserialize)]
pub struct LogFilter {
    contract_id: Option<String>,
    endpoint_id: Option<String>,
    state: Option<String>,
}

impl LogFilter {
    fn index(&self) -> Result<(&'static str, &str), Problem> {
        match (&self.contract_id, &self.endpoint_id, &self.state) {
            (Some(c), None, None) => Ok((Delivery::INDEX_CONTRACT, c)),
            (None, Some(e), None) => Ok((Delivery::INDEX_ENDPOINT, e)),
            (None, None, Some(s)) => Ok((Delivery::INDEX_STATE, s)),
            _ => Err(Problem::malformed(
                "give exactly one of contract_id, endpoint_id, state",
            )),
        }
    }
}

fn failed(e: DeliveryError) -> Problem {
    tracing::error!(error = %e, "delivery log");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "the delivery log could not be read",
    )
}

fn deliveries(state: &AdminState) -> Deliveries {
    Deliveries::new(state.registry.store())
}

/// `GET /deliveries`.
pub async fn list(
    State(state): State<AdminState>,
    Query(filter): Query<LogFilter>,
) -> Result<Json<Value>, Problem> {
    let (index, value) = filter.index()?;
    let log = deliveries(&state);
    let mut found = log.find(index, value).await.map_err(failed)?;
    if index == Delivery::INDEX_STATE && value == "pending" {
        // Parked deliveries are pending too (waiting out a backoff or an open circuit).
        found.extend(log.parked().await.map_err(failed)?);
    }
    let mut items: Vec<Delivery> = found.into_iter().map(|s| s.delivery).collect();
    items.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
    Ok(Json(json!({ "items": items })))
}

/// `GET /deliveries/{id}`.
pub async fn get_one(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let stored = deliveries(&state)
        .get(&id)
        .await
        .map_err(failed)?
        .ok_or_else(|| Problem::not_found(format!("no delivery {id}")))?;
    Ok(Json(json!(stored.delivery)))
}

/// `GET /deliveries/{id}/attempts`.
pub async fn attempts_of(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let log = deliveries(&state);
    let delivery = log
        .get(&id)
        .await
        .map_err(failed)?
        .ok_or_else(|| Problem::not_found(format!("no delivery {id}")))?
        .delivery;
    let items: Vec<_> = log
        .attempts(Delivery::INDEX_CONTRACT, &delivery.contract_id)
        .await
        .map_err(failed)?
        .into_iter()
        .filter(|a| a.delivery_id == id)
        .collect();
    Ok(Json(json!({ "items": items })))
}

/// `GET /delivery-attempts`.
pub async fn attempts(
    State(state): State<AdminState>,
    Query(filter): Query<LogFilter>,
) -> Result<Json<Value>, Problem> {
    let (index, value) = filter.index()?;
    if index == Delivery::INDEX_STATE {
        return Err(Problem::malformed(
            "attempts are found by contract_id or endpoint_id",
        ));
    }
    let items = deliveries(&state)
        .attempts(index, value)
        .await
        .map_err(failed)?;
    Ok(Json(json!({ "items": items })))
}

/// `POST /deliveries/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let log = deliveries(&state);
    if log.get(&id).await.map_err(failed)?.is_none() {
        return Err(Problem::not_found(format!("no delivery {id}")));
    }
    let queued = log
        .redeliver(&id, state.now().saturating_mul(1000))
        .await
        .map_err(failed)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "redelivered": queued })),
    ))
}

/// The body of `POST /deliveries/redeliver`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeRedelivery {
    from_ms: i64,
    to_ms: i64,
    #[serde(default)]
    endpoint_id: Option<String>,
}

/// `POST /deliveries/redeliver`.
pub async fn redeliver_range(
    State(state): State<AdminState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let range: RangeRedelivery = serde_json::from_slice(&body).map_err(|e| {
        Problem::malformed(format!("expected {{from_ms, to_ms, endpoint_id?}}: {e}"))
    })?;
    if range.from_ms >= range.to_ms {
        return Err(Problem::malformed("from_ms must be before to_ms"));
    }
    let ids = deliveries(&state)
        .redeliver_failed(
            range.from_ms,
            range.to_ms,
            range.endpoint_id.as_deref(),
            state.now().saturating_mul(1000),
        )
        .await
        .map_err(failed)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "redelivered": ids }))))
}

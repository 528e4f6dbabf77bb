//! What partners read: their events' progress, their contracts, and
//! Moneta's public verification keys.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use moneta_domain::{Contract, ContractStatus, ContractTemplate, Party, TemplateDocument};
use moneta_problem::Problem;
use serde_json::json;

use crate::Ingest;
use crate::auth::{authenticate, internal};

/// `GET /v1/events/{id}`: the caller's own event, step by step.
pub async fn event(
    State(ingest): State<Arc<Ingest>>,
    Path(event_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let partner = authenticate(&ingest, &method, &uri, &headers, &[], crate::now_s()).await?;
    let record = ingest
        .events
        .get(&partner.organization_id, &event_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "event_not_found",
                "Event not found",
                format!("you submitted no event {event_id}"),
            )
        })?;
    let rejection = record
        .steps
        .iter()
        .find(|s| s.state == moneta_domain::EventState::Rejected);
    Ok(Json(json!({
        "event_id": record.event_id,
        "contract_id": record.contract_id,
        "status": record.state().map(|s| s.as_str()),
        "reason": rejection.map(|s| json!({"code": s.code, "message": s.message})),
        "steps": public_steps(&record.steps),
        "contract_url": format!("/v1/contracts/{}", record.contract_id),
    }))
    .into_response())
}

/// `GET /v1/contracts/{id}`: a contract, to its parties only (anyone else
/// gets the same 404 as for a contract that does not exist).
pub async fn contract(
    State(ingest): State<Arc<Ingest>>,
    Path(contract_id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let partner = authenticate(&ingest, &method, &uri, &headers, &[], crate::now_s()).await?;
    let not_found = || {
        Problem::new(
            StatusCode::NOT_FOUND,
            "contract_not_found",
            "Contract not found",
            format!("no contract {contract_id} of yours"),
        )
    };
    let stored = ingest
        .store
        .get_contract(&contract_id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(not_found)?;
    let contract: Contract = serde_json::from_slice(&stored.body).map_err(|e| internal(&e))?;
    let org = &partner.organization_id;
    if contract.mo_id != *org && contract.publisher_id != *org {
        return Err(not_found());
    }
    let awaiting = awaiting(&ingest, &contract).await?;
    let mut body = serde_json::to_value(&contract).map_err(|e| internal(&e))?;
    body["awaiting"] = json!(awaiting);
    Ok(Json(body).into_response())
}

/// The parties a pending contract waits for (`mo`, `publisher`), as its
/// template says; none once every partner signature is there.
async fn awaiting(ingest: &Ingest, contract: &Contract) -> Result<Vec<&'static str>, Problem> {
    if contract.status != ContractStatus::Pending {
        return Ok(Vec::new());
    }
    let key = ContractTemplate::key(&contract.template_name, contract.template_version);
    let Some(template) = ingest
        .registry
        .get::<ContractTemplate>(&key)
        .await
        .map_err(|e| internal(&e))?
    else {
        return Ok(Vec::new());
    };
    let document =
        TemplateDocument::parse(&template.entity.template_payload).map_err(|e| internal(&e))?;
    let signed: Vec<Party> = [Party::Mo, Party::Publisher]
        .into_iter()
        .filter(|p| contract.is_signed_by(p.as_str()))
        .collect();
    Ok(document
        .awaited(&signed)
        .into_iter()
        .map(Party::as_str)
        .collect())
}

/// `GET /v1/keys`: Moneta's public keys, to verify countersignatures.
pub async fn keys(State(ingest): State<Arc<Ingest>>) -> Response {
    Json(json!({ "keys": ingest.keys.published() })).into_response()
}

/// Steps as partners see them: without the input records they were
/// recorded for (Moneta's own bookkeeping).
fn public_steps(steps: &[moneta_domain::EventStep]) -> Vec<serde_json::Value> {
    steps
        .iter()
        .map(|step| {
            let mut value = json!(step);
            if let Some(fields) = value.as_object_mut() {
                fields.remove("source");
            }
            value
        })
        .collect()
}

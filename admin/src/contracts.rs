//! `GET /contracts`, `GET /contracts/{id}`: every contract, for operators
//! (partners search their own on the edge's `GET /v1/contracts`).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use moneta_domain::Contract;
use moneta_problem::Problem;
use moneta_state::contract_search::ContractSearch;
use serde_json::{Value, json};

use crate::AdminState;

fn internal(error: &dyn std::fmt::Display) -> Problem {
    tracing::error!(error = %error, "contract store");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "the contract store could not be read",
    )
}

/// `GET /contracts?mo=&publisher=&mpass=&type=&status=&created_from=
/// &created_to=&cursor=&limit=`: a page of contracts, oldest first.
pub async fn search(
    State(state): State<AdminState>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, Problem> {
    let search = ContractSearch::from_params(&params).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_search",
            "Invalid search",
            e.to_string(),
        )
    })?;
    let page = search
        .run(state.registry.store().as_ref())
        .await
        .map_err(|e| internal(&e))?;
    Ok(Json(
        json!({"items": page.items, "next_cursor": page.next_cursor}),
    ))
}

/// `GET /contracts/{id}`: one contract.
pub async fn get_one(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let stored = state
        .registry
        .store()
        .get_contract(&id)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| Problem::not_found(format!("no contract {id}")))?;
    let contract: Contract = serde_json::from_slice(&stored.body).map_err(|e| internal(&e))?;
    Ok(Json(json!(contract)))
}

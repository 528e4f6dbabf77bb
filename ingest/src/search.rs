//! `GET /v1/contracts`: a partner's search of its own contracts.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use moneta_domain::Party;
use moneta_problem::Problem;
use moneta_state::contract_search::{ContractSearch, InvalidSearch};
use serde_json::json;

use crate::Ingest;
use crate::auth::{authenticate, internal};

/// The `400 invalid_search` of refused search parameters.
pub fn refused(error: &InvalidSearch) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid_search",
        "Invalid search",
        error.to_string(),
    )
}

/// `GET /v1/contracts?mo=&publisher=&mpass=&type=&status=&created_from=
/// &created_to=&cursor=&limit=`: the caller's contracts (those it is a
/// party to), oldest first, a page at a time.
pub async fn contracts(
    State(ingest): State<Arc<Ingest>>,
    Query(params): Query<BTreeMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let partner = authenticate(&ingest, &method, &uri, &headers, &[], crate::now_s()).await?;
    let mut search = ContractSearch::from_params(&params).map_err(|e| refused(&e))?;
    // The caller's own side is fixed: asking for another organization
    // there finds nothing, never someone else's contracts.
    let org = &partner.organization_id;
    let own = match partner.party {
        Party::Mo => &mut search.query.mo_id,
        Party::Publisher => &mut search.query.publisher_id,
    };
    if own.as_ref().is_some_and(|asked| asked != org) {
        return Ok(Json(json!({"items": [], "next_cursor": null})).into_response());
    }
    *own = Some(org.clone());
    let page = search
        .run(ingest.store.as_ref())
        .await
        .map_err(|e| internal(&e))?;
    Ok(Json(json!({"items": page.items, "next_cursor": page.next_cursor})).into_response())
}

//! `PUT` / `DELETE /v1/admin/{membership-organizations,publishers}/{id}/rate-limit`:
//! a partner's own submission rate limit at the ingest edge, in place of
//! the default (`ingest.rate_per_s`, `ingest.burst`). The edge reads it
//! with the partner's standing on every request: a change applies at once.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use moneta_domain::{MembershipOrganization, Publisher, RateLimit};
use moneta_problem::Problem;

use crate::AdminState;
use crate::handlers::{current_at, if_match, item_response, json_body};
use crate::resource::Resource;

/// A partner entity that carries a rate limit.
pub trait Limited: Resource {
    /// Sets (or, with `None`, removes) its limit, as changed at `now`.
    fn set_rate_limit(&mut self, limit: Option<RateLimit>, now: i64);
}

impl Limited for MembershipOrganization {
    fn set_rate_limit(&mut self, limit: Option<RateLimit>, now: i64) {
        (self.rate_limit, self.updated_at) = (limit, now);
    }
}

impl Limited for Publisher {
    fn set_rate_limit(&mut self, limit: Option<RateLimit>, now: i64) {
        (self.rate_limit, self.updated_at) = (limit, now);
    }
}

/// 422 `invalid_entity` unless `limit` is in range.
pub fn check(limit: Option<&RateLimit>) -> Result<(), Problem> {
    limit
        .map(RateLimit::validate)
        .transpose()
        .map(|_| ())
        .map_err(|e| Problem::invalid(e.to_string()))
}

/// `PUT …/{id}/rate-limit` with `{"rate_per_s": …, "burst": …}`.
pub async fn set<R: Limited>(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let limit: RateLimit = json_body(&headers, &body)?;
    check(Some(&limit))?;
    apply::<R>(&state, &id, Some(limit), if_match(&headers)?).await
}

/// `DELETE …/{id}/rate-limit`: back to the edge's default.
pub async fn clear<R: Limited>(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    apply::<R>(&state, &id, None, if_match(&headers)?).await
}

async fn apply<R: Limited>(
    state: &AdminState,
    id: &str,
    limit: Option<RateLimit>,
    expected: Option<u64>,
) -> Result<Response, Problem> {
    let current = current_at::<R>(state, id, expected).await?;
    let mut entity = current.entity;
    entity.set_rate_limit(limit, state.now());
    let revision = state.registry.update(&entity, current.revision).await?;
    tracing::info!(kind = R::KIND.as_str(), id, "rate limit changed");
    Ok(item_response(StatusCode::OK, revision, entity))
}

//! The generic handlers every registry collection shares: create, get,
//! list or look up, and change status.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use moneta_domain::id::{ID_RULE, is_uuid_v4, is_valid_id};
use moneta_problem::Problem;
use moneta_state::Versioned;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::resource::{Lifecycle, Resource, lookup};
use crate::{AdminState, Operator};

/// Most records one list call returns.
const MAX_PAGE: usize = 1000;

/// One entity with its revision (also sent as `ETag`).
#[derive(Debug, Serialize, Deserialize)]
pub struct Item<E> {
    /// Revision to send back in `If-Match`.
    pub revision: u64,
    /// The entity.
    pub entity: E,
}

impl<E> From<moneta_state::Versioned<E>> for Item<E> {
    fn from(v: moneta_state::Versioned<E>) -> Self {
        Item {
            revision: v.revision,
            entity: v.entity,
        }
    }
}

/// A page of a collection.
#[derive(Debug, Serialize, Deserialize)]
pub struct Page<E> {
    /// The entities.
    pub items: Vec<Item<E>>,
    /// Pass as `after` for the next page; absent on the last.
    pub next_after: Option<String>,
}

/// Body of a status change.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusChange<S> {
    /// The status to move to.
    pub status: S,
}

/// Parses a JSON body, refusing other media types and naming where it is wrong.
pub fn json_body<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T, Problem> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !media.starts_with("application/json") {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as application/json",
        ));
    }
    serde_json::from_slice(body).map_err(|e| Problem::malformed(format!("body: {e}")))
}

/// `entity` (redacted) with its revision, as JSON with an `ETag`.
pub(crate) fn item_response<R: Resource>(
    status: StatusCode,
    revision: u64,
    mut entity: R,
) -> Response {
    entity.redact();
    let etag = format!("\"{revision}\"");
    (
        status,
        [(header::ETAG, etag)],
        Json(Item { revision, entity }),
    )
        .into_response()
}

/// `POST /v1/admin/<collection>`: creates an entity.
pub async fn create<R: Resource>(
    State(state): State<AdminState>,
    Extension(operator): Extension<Operator>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let mut entity: R = json_body(&headers, &body)?;
    if !is_valid_id(entity.id()) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_id",
            "Invalid id",
            format!("an id must be {ID_RULE}"),
        ));
    }
    if state.uuid_ids && R::UUID_IDS && !is_uuid_v4(entity.id()) {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_id",
            "Invalid id",
            format!(
                "{} are keyed by a UUID v4 (8-4-4-4-12 hex digits, version 4)",
                R::COLLECTION
            ),
        ));
    }
    entity.prepare(state.now())?;
    if let Some(created_by) = entity.created_by() {
        created_by.clone_from(&operator.0);
    }
    entity.admit(&state)?;
    check_references(&state, &entity).await?;
    let revision = state.registry.create(&entity).await?;
    tracing::info!(kind = R::KIND.as_str(), id = entity.id(), "created");
    Ok(item_response(StatusCode::CREATED, revision, entity))
}

/// `422 unknown_reference` unless every record `entity` names exists.
async fn check_references<R: Resource>(state: &AdminState, entity: &R) -> Result<(), Problem> {
    let store = state.registry.store();
    for (field, id, kinds) in entity.references() {
        let mut found = false;
        for kind in kinds {
            found |= store
                .get(*kind, &id)
                .await
                .map_err(|e| Problem::from(moneta_state::RegistryError::Store(e)))?
                .is_some();
        }
        if !found {
            let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_reference",
                "Unknown reference",
                format!("{field} {id} is not an existing {}", names.join(" or ")),
            ));
        }
    }
    Ok(())
}

/// `GET /v1/admin/<collection>/{id}`.
pub async fn get_one<R: Resource>(
    State(state): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let found = state.registry.get::<R>(&id).await?;
    let item = found
        .ok_or_else(|| Problem::not_found(format!("{} {id} does not exist", R::COLLECTION)))?;
    Ok(item_response(StatusCode::OK, item.revision, item.entity))
}

/// `GET /v1/admin/<collection>?after=&limit=` or `?<lookup params>`.
pub async fn list<R: Resource>(
    State(state): State<AdminState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Result<Json<Page<R>>, Problem> {
    let limit = match query.get("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PAGE).contains(l))
            .ok_or_else(|| Problem::malformed(format!("limit must be 1..={MAX_PAGE}")))?,
        None => 100,
    };
    let found = match lookup::<R>(&query)? {
        Some((index, value)) => state.registry.find::<R>(index, &value).await?,
        None => {
            let after = query.get("after").map(String::as_str);
            state.registry.list::<R>(after, limit).await?
        }
    };
    let next_after = (found.len() == limit)
        .then(|| found.last().map(|v| v.entity.id().to_owned()))
        .flatten();
    let items = found
        .into_iter()
        .map(|mut v| {
            v.entity.redact();
            Item::from(v)
        })
        .collect();
    Ok(Json(Page { items, next_after }))
}

/// `POST /v1/admin/<collection>/{id}/status`: an allowed status transition,
/// optionally guarded by `If-Match: "<revision>"`.
pub async fn change_status<R: Lifecycle>(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let change: StatusChange<R::Status> = json_body(&headers, &body)?;
    apply_status::<R>(&state, &id, change.status, if_match(&headers)?).await
}

/// The entity `id` as stored, if it is at the `If-Match` revision `expected`
/// (when given): 404 if it does not exist, 412 if it moved on.
pub async fn current_at<R: Resource>(
    state: &AdminState,
    id: &str,
    expected: Option<u64>,
) -> Result<Versioned<R>, Problem> {
    let current = state
        .registry
        .get::<R>(id)
        .await?
        .ok_or_else(|| Problem::not_found(format!("{} {id} does not exist", R::COLLECTION)))?;
    if expected.is_some_and(|rev| rev != current.revision) {
        return Err(Problem::new(
            StatusCode::PRECONDITION_FAILED,
            "precondition_failed",
            "Precondition failed",
            format!("{} {id} is at revision {}", R::COLLECTION, current.revision),
        ));
    }
    Ok(current)
}

/// Reads the entity, applies the transition and writes it back at its revision.
pub async fn apply_status<R: Lifecycle>(
    state: &AdminState,
    id: &str,
    to: R::Status,
    expected: Option<u64>,
) -> Result<Response, Problem> {
    let current = current_at::<R>(state, id, expected).await?;
    let mut entity = current.entity;
    entity
        .change_status(to, state.now())
        .map_err(|e| Problem::transition(e.to_string()))?;
    let revision = state.registry.update(&entity, current.revision).await?;
    tracing::info!(kind = R::KIND.as_str(), id, "status changed");
    Ok(item_response(StatusCode::OK, revision, entity))
}

/// Fields a patch never changes: identity, lifecycle (through `…/status`)
/// and creation.
const FIXED: [&str; 6] = [
    "id",
    "status",
    "state",
    "created_at",
    "created_by",
    "revoked_at",
];

/// `PATCH /v1/admin/<collection>/{id}`: a JSON merge patch (RFC 7396) of
/// the entity, which must name the revision it changes in `If-Match`
/// (`428 precondition_required` without, `412 precondition_failed` if it
/// moved on). Identity, status and creation fields are refused
/// (`422 immutable_field`); the result must be a valid entity. The change
/// goes to the registry changelog like every registry write.
pub async fn patch<R: Resource>(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let expected = if_match(&headers)?.ok_or_else(|| {
        Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition_required",
            "Precondition required",
            "send If-Match with the revision (ETag) you are changing",
        )
    })?;
    let changes: serde_json::Map<String, serde_json::Value> = merge_patch_body(&headers, &body)?;
    if let Some(field) = changes
        .keys()
        .find(|k| FIXED.contains(&k.as_str()) || R::FIXED.contains(&k.as_str()))
    {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "immutable_field",
            "Immutable field",
            format!("{field} cannot be changed here (status changes go to …/status)"),
        ));
    }
    let current = current_at::<R>(&state, &id, Some(expected)).await?;
    let mut document = serde_json::to_value(&current.entity)
        .map_err(|e| Problem::invalid(format!("stored {}: {e}", R::COLLECTION)))?;
    merge(&mut document, serde_json::Value::Object(changes));
    let mut entity: R = serde_json::from_value(document)
        .map_err(|e| Problem::invalid(format!("the patched entity: {e}")))?;
    entity.revise(state.now())?;
    entity.carry(&current.entity, state.now());
    entity.admit(&state)?;
    let revision = state.registry.update(&entity, current.revision).await?;
    tracing::info!(kind = R::KIND.as_str(), id, "updated");
    Ok(item_response(StatusCode::OK, revision, entity))
}

/// A merge-patch body: a JSON object, as `application/merge-patch+json` or
/// `application/json`.
fn merge_patch_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<serde_json::Map<String, serde_json::Value>, Problem> {
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !(media.starts_with("application/merge-patch+json") || media.starts_with("application/json"))
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "send the patch as application/merge-patch+json",
        ));
    }
    serde_json::from_slice(body)
        .map_err(|e| Problem::malformed(format!("body: a JSON object of changes: {e}")))
}

/// RFC 7396: `patch`'s members replace `target`'s, `null` removes one,
/// objects merge recursively.
fn merge(target: &mut serde_json::Value, patch: serde_json::Value) {
    let serde_json::Value::Object(changes) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(fields) = target {
        for (name, value) in changes {
            if value.is_null() {
                fields.remove(&name);
            } else {
                merge(fields.entry(name).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}

/// The revision of `If-Match: "<revision>"`, if sent.
pub(crate) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, Problem> {
    headers
        .get(header::IF_MATCH)
        .map(|v| {
            v.to_str()
                .ok()
                .map(|s| s.trim_matches('"'))
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| Problem::malformed("If-Match must be a quoted revision number"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        // The RFC's own example (section 3).
        let mut target = json!({"title": "Goodbye!", "author": {"givenName": "John",
            "familyName": "Doe"}, "tags": ["example", "sample"], "content": "This will be unchanged"});
        merge(
            &mut target,
            json!({"title": "Hello!", "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null}, "tags": ["example"]}),
        );
        assert_eq!(
            target,
            json!({"title": "Hello!", "author": {"givenName": "John"}, "tags": ["example"],
                "content": "This will be unchanged", "phoneNumber": "+01-123-456-7890"})
        );
    }
}

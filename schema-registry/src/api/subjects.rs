//! `/subjects/…`: list, register, look up, fetch and delete versions.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::{ApiError, Flags, SchemaRequest, Shared};
use crate::state::Version;
use crate::store::{Store, VersionRef};

/// `GET /subjects`.
pub async fn list(State(store): State<Shared>, Query(flags): Query<Flags>) -> Json<Vec<String>> {
    Json(store.read(|s| s.subjects(flags.deleted)))
}

/// `GET /subjects/{subject}/versions`.
pub async fn versions(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    Query(flags): Query<Flags>,
) -> Result<Json<Vec<u32>>, ApiError> {
    let versions = store.read(|s| s.versions(&subject, flags.deleted));
    if versions.is_empty() {
        return Err(ApiError::subject_not_found(&subject));
    }
    Ok(Json(versions.iter().map(|v| v.version).collect()))
}

/// `POST /subjects/{subject}/versions`: `{"id": N}`.
pub async fn register(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let schema = SchemaRequest::parse(&bytes)?;
    let id = store.register(&subject, schema).await?;
    Ok(Json(json!({ "id": id })))
}

/// `POST /subjects/{subject}`: the version under which this schema is registered.
pub async fn lookup(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let schema = SchemaRequest::parse(&bytes)?;
    if store.read(|s| s.versions(&subject, false).is_empty()) {
        return Err(ApiError::subject_not_found(&subject));
    }
    let version = store
        .find(&subject, &schema)
        .ok_or_else(ApiError::schema_not_found)?;
    Ok(Json(describe(&store, &subject, version)))
}

/// `GET /subjects/{subject}/versions/{version}`.
pub async fn version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(flags): Query<Flags>,
) -> Result<Json<Value>, ApiError> {
    let found = store.version(&subject, VersionRef::parse(&version)?, flags.deleted)?;
    Ok(Json(describe(&store, &subject, found)))
}

/// `GET /subjects/{subject}/versions/{version}/schema`: the schema itself.
pub async fn raw_schema(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(flags): Query<Flags>,
) -> Result<String, ApiError> {
    let found = store.version(&subject, VersionRef::parse(&version)?, flags.deleted)?;
    store
        .read(|s| s.schema(found.id))
        .map(|schema| schema.text.clone())
        .ok_or_else(|| ApiError::schema_id_not_found(&found.id.to_string()))
}

/// `DELETE /subjects/{subject}`: the deleted version numbers.
pub async fn delete(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    Query(flags): Query<Flags>,
) -> Result<Json<Vec<u32>>, ApiError> {
    Ok(Json(store.delete_subject(&subject, flags.permanent).await?))
}

/// `DELETE /subjects/{subject}/versions/{version}`: the deleted version number.
pub async fn delete_version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(flags): Query<Flags>,
) -> Result<Json<u32>, ApiError> {
    let version = VersionRef::parse(&version)?;
    Ok(Json(
        store
            .delete_version(&subject, version, flags.permanent)
            .await?,
    ))
}

/// `{subject, version, id, schema}` of one version.
fn describe(store: &Store, subject: &str, version: Version) -> Value {
    let schema = store
        .read(|s| s.schema(version.id))
        .map(|schema| schema.text.clone())
        .unwrap_or_default();
    json!({
        "subject": subject,
        "version": version.version,
        "id": version.id,
        "schema": schema,
    })
}

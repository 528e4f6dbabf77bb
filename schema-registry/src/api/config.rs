//! `/config…` (compatibility levels) and `/compatibility/…` (dry-run checks).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, Flags, SchemaRequest, Shared, body};
use crate::compat::CompatibilityLevel;
use crate::store::VersionRef;

/// `PUT /config…` body; Confluent calls the field `compatibility`.
#[derive(Debug, Deserialize)]
struct LevelRequest {
    #[serde(alias = "compatibilityLevel")]
    compatibility: String,
}

fn level(bytes: &Bytes) -> Result<CompatibilityLevel, ApiError> {
    let request: LevelRequest = body(bytes)?;
    request
        .compatibility
        .parse()
        .map_err(|e: crate::compat::InvalidLevel| ApiError::invalid_level(e.to_string()))
}

fn shown(level: CompatibilityLevel) -> Json<Value> {
    Json(json!({ "compatibilityLevel": level }))
}

/// `GET /config`: the global level.
pub async fn global(State(store): State<Shared>) -> Json<Value> {
    shown(store.read(|s| s.global_level()).unwrap_or_default())
}

/// `PUT /config`: sets the global level.
pub async fn put_global(
    State(store): State<Shared>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let level = level(&bytes)?;
    store.set_level(None, Some(level)).await?;
    Ok(Json(json!({ "compatibility": level })))
}

/// `DELETE /config`: resets the global level to BACKWARD; returns the old one.
pub async fn delete_global(State(store): State<Shared>) -> Result<Json<Value>, ApiError> {
    let old = store.read(|s| s.global_level()).unwrap_or_default();
    store.set_level(None, None).await?;
    Ok(shown(old))
}

/// `GET /config/{subject}`: the subject's own level (40408 if none, unless `defaultToGlobal`).
pub async fn subject(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    Query(flags): Query<Flags>,
) -> Result<Json<Value>, ApiError> {
    let (own, global) = store.read(|s| (s.subject_level(&subject), s.global_level()));
    match (own, flags.default_to_global) {
        (Some(level), _) => Ok(shown(level)),
        (None, true) => Ok(shown(global.unwrap_or_default())),
        (None, false) => Err(ApiError::subject_level_not_found(&subject)),
    }
}

/// `PUT /config/{subject}`: sets the subject's level.
pub async fn put_subject(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let level = level(&bytes)?;
    store.set_level(Some(&subject), Some(level)).await?;
    Ok(Json(json!({ "compatibility": level })))
}

/// `DELETE /config/{subject}`: clears the subject's level; returns the old one.
pub async fn delete_subject(
    State(store): State<Shared>,
    Path(subject): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let old = store
        .read(|s| s.subject_level(&subject))
        .ok_or_else(|| ApiError::subject_level_not_found(&subject))?;
    store.set_level(Some(&subject), None).await?;
    Ok(shown(old))
}

fn verdict(messages: Vec<String>, verbose: bool) -> Json<Value> {
    if messages.is_empty() && !verbose {
        Json(json!({ "is_compatible": true }))
    } else {
        Json(json!({ "is_compatible": messages.is_empty(), "messages": messages }))
    }
}

/// `POST /compatibility/subjects/{subject}/versions`: against every version the level covers.
pub async fn compatible_with_all(
    State(store): State<Shared>,
    Path(subject): Path<String>,
    Query(flags): Query<Flags>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let schema = SchemaRequest::parse(&bytes)?;
    Ok(verdict(store.check(&subject, &schema), flags.verbose))
}

/// `POST /compatibility/subjects/{subject}/versions/{version}`: against one version.
pub async fn compatible_with_version(
    State(store): State<Shared>,
    Path((subject, version)): Path<(String, String)>,
    Query(flags): Query<Flags>,
    bytes: Bytes,
) -> Result<Json<Value>, ApiError> {
    let version = VersionRef::parse(&version)?;
    let schema = SchemaRequest::parse(&bytes)?;
    if version == VersionRef::Latest && store.read(|s| s.versions(&subject, false).is_empty()) {
        return Ok(verdict(Vec::new(), flags.verbose));
    }
    let found = store.version(&subject, version, false)?;
    Ok(verdict(
        store.check_against(&subject, &schema, found),
        flags.verbose,
    ))
}

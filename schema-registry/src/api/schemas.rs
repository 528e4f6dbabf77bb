//! `/schemas/ids/{id}…`: schemas by global id.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde_json::{Value, json};

use super::{ApiError, Flags, Shared};
use crate::schema::AvroSchema;

fn find(store: &Shared, id: &str) -> Result<(u32, Arc<AvroSchema>), ApiError> {
    id.parse::<u32>()
        .ok()
        .and_then(|n| Some((n, store.read(|s| s.schema(n))?)))
        .ok_or_else(|| ApiError::schema_id_not_found(id))
}

/// `GET /schemas/ids/{id}`: `{"schema": "…"}`.
pub async fn by_id(
    State(store): State<Shared>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (_, schema) = find(&store, &id)?;
    Ok(Json(json!({ "schema": schema.text })))
}

/// `GET /schemas/ids/{id}/schema`: the schema itself.
pub async fn raw_by_id(
    State(store): State<Shared>,
    Path(id): Path<String>,
) -> Result<String, ApiError> {
    Ok(find(&store, &id)?.1.text.clone())
}

/// `GET /schemas/ids/{id}/versions`: `[{"subject": …, "version": …}]`.
pub async fn versions(
    State(store): State<Shared>,
    Path(id): Path<String>,
    Query(flags): Query<Flags>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let (id, _) = find(&store, &id)?;
    let uses = store.read(|s| s.uses_of(id, flags.deleted));
    Ok(Json(
        uses.into_iter()
            .map(|(subject, version)| json!({"subject": subject, "version": version}))
            .collect(),
    ))
}

/// `GET /schemas/ids/{id}/subjects`: the subjects using the schema.
pub async fn subjects(
    State(store): State<Shared>,
    Path(id): Path<String>,
    Query(flags): Query<Flags>,
) -> Result<Json<Vec<String>>, ApiError> {
    let (id, _) = find(&store, &id)?;
    let mut subjects: Vec<String> = store
        .read(|s| s.uses_of(id, flags.deleted))
        .into_iter()
        .map(|(subject, _)| subject)
        .collect();
    subjects.dedup();
    Ok(Json(subjects))
}

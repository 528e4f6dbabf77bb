//! The Confluent Schema Registry REST subset, as axum routes.

mod config;
mod error;
mod schemas;
mod subjects;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use error::ApiError;

use crate::schema::{AVRO, AvroSchema};
use crate::store::Store;

/// The media type of every reply.
pub const MEDIA_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// Shared handler state.
type Shared = Arc<Store>;

/// The routes of the registry over `store`.
pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(async || "{}"))
        .route("/schemas/types", get(async || r#"["AVRO"]"#))
        .route("/subjects", get(subjects::list))
        .route(
            "/subjects/{subject}",
            post(subjects::lookup).delete(subjects::delete),
        )
        .route(
            "/subjects/{subject}/versions",
            get(subjects::versions).post(subjects::register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(subjects::version).delete(subjects::delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(subjects::raw_schema),
        )
        .route("/schemas/ids/{id}", get(schemas::by_id))
        .route("/schemas/ids/{id}/schema", get(schemas::raw_by_id))
        .route("/schemas/ids/{id}/versions", get(schemas::versions))
        .route("/schemas/ids/{id}/subjects", get(schemas::subjects))
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(config::compatible_with_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(config::compatible_with_version),
        )
        .route(
            "/config",
            get(config::global)
                .put(config::put_global)
                .delete(config::delete_global),
        )
        .route(
            "/config/{subject}",
            get(config::subject)
                .put(config::put_subject)
                .delete(config::delete_subject),
        )
        .layer(axum::middleware::map_response(media_type))
        .with_state(store)
}

/// Marks every reply as `application/vnd.schemaregistry.v1+json`.
async fn media_type(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(MEDIA_TYPE));
    response
}

/// Query flags the endpoints understand; unknown ones are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Flags {
    /// Include soft-deleted subjects and versions.
    deleted: bool,
    /// Delete permanently (after a soft delete).
    permanent: bool,
    /// `GET /config/{subject}`: fall back to the global level.
    default_to_global: bool,
    /// Compatibility checks: always list messages.
    verbose: bool,
}

/// Parses a JSON request body, whatever its declared content type
/// (`application/vnd.schemaregistry.v1+json`, `application/json`,
/// `application/octet-stream`, …).
fn body<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The body of a registration, lookup or compatibility check.
#[derive(Debug, Deserialize)]
struct SchemaRequest {
    schema: String,
    #[serde(rename = "schemaType", default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<serde_json::Value>,
}

impl SchemaRequest {
    /// Parses the body and its Avro schema.
    fn parse(bytes: &Bytes) -> Result<AvroSchema, ApiError> {
        let request: SchemaRequest = body(bytes)?;
        if let Some(kind) = request.schema_type.as_deref()
            && !kind.eq_ignore_ascii_case(AVRO)
        {
            return Err(ApiError::invalid_schema(format!(
                "Schema type '{kind}' is not supported; this registry only accepts AVRO"
            )));
        }
        if !request.references.is_empty() {
            return Err(ApiError::invalid_schema(
                "Schema references are not supported by this registry",
            ));
        }
        AvroSchema::parse(&request.schema).map_err(ApiError::invalid_schema)
    }
}

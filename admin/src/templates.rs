//! Template versions: upload (validated, immutable) and read the latest.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use moneta_domain::{ContractTemplate, TemplateDocument};
use moneta_problem::Problem;

use crate::AdminState;
use crate::handlers::Item;

/// `PUT /v1/admin/templates/{name}/versions/{version}`: uploads a version's
/// YAML; it must validate and name this name and version.
pub async fn upload(
    State(state): State<AdminState>,
    Path((name, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, Problem> {
    let version = parse_version(&version)?;
    let yaml = std::str::from_utf8(&body)
        .map_err(|_| Problem::malformed("the template must be UTF-8 YAML"))?;
    let document = TemplateDocument::parse(yaml).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            "Invalid template",
            e.to_string(),
        )
    })?;
    if document.name != name || document.version != version {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_template",
            "Invalid template",
            format!(
                "the document is {} v{}, the URL says {name} v{version}",
                document.name, document.version
            ),
        ));
    }
    // The latest version is the highest one, whatever the upload order.
    let versions = state
        .registry
        .find::<ContractTemplate>("name", &name)
        .await?;
    let latest = versions.iter().all(|v| v.entity.version < version);
    let template = ContractTemplate::new(
        &name,
        version,
        &document.description,
        state.now(),
        latest,
        yaml,
    );
    let revision = state.registry.create(&template).await?;
    if latest {
        // Older versions stop being the latest.
        for mut older in versions {
            if older.entity.is_latest {
                older.entity.is_latest = false;
                state.registry.update(&older.entity, older.revision).await?;
            }
        }
    }
    tracing::info!(%name, version, "template uploaded");
    Ok((
        StatusCode::CREATED,
        Json(Item {
            revision,
            entity: template,
        }),
    )
        .into_response())
}

/// `GET /v1/admin/templates/{name}/latest`: the highest version.
pub async fn latest(
    State(state): State<AdminState>,
    Path(name): Path<String>,
) -> Result<Json<Item<ContractTemplate>>, Problem> {
    let versions = state
        .registry
        .find::<ContractTemplate>("name", &name)
        .await?;
    versions
        .into_iter()
        .max_by_key(|v| v.entity.version)
        .map(|v| Json(Item::from(v)))
        .ok_or_else(|| Problem::not_found(format!("no template named {name}")))
}

/// `GET /v1/admin/templates/{name}/versions/{version}`.
pub async fn version(
    State(state): State<AdminState>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Item<ContractTemplate>>, Problem> {
    let version = parse_version(&version)?;
    state
        .registry
        .get::<ContractTemplate>(&ContractTemplate::key(&name, version))
        .await?
        .map(|v| Json(Item::from(v)))
        .ok_or_else(|| Problem::not_found(format!("no template {name} v{version}")))
}

fn parse_version(text: &str) -> Result<u32, Problem> {
    text.parse().map_err(|_| {
        Problem::malformed(format!(
            "template version {text:?} is not a positive integer"
        ))
    })
}

//! RFC 9457 problem details: every error the admin API returns, each with a
//! stable machine-readable `code`.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use moneta_state::{RegistryError, StoreError};
use serde::Serialize;

/// An error response: `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A URI naming the problem type (`urn:moneta:problem:<code>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed summary of the problem type.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence.
    pub detail: String,
    /// Stable code (`snake_case`), documented in the OpenAPI document.
    pub code: &'static str,
}

impl Problem {
    /// A problem with this status, code, title and detail.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind: format!("urn:moneta:problem:{code}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            code,
        }
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "send `Authorization: Bearer <admin token>`",
        )
    }

    /// 400 `malformed_request`.
    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_request",
            "Malformed request",
            detail,
        )
    }

    /// 422 `invalid_entity`.
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_entity",
            "Invalid entity",
            detail,
        )
    }

    /// 404 `not_found`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found", detail)
    }

    /// 409 `invalid_transition`.
    pub fn transition(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            "Status change not allowed",
            detail,
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body,
        )
            .into_response()
    }
}

impl From<RegistryError> for Problem {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::Store(StoreError::Conflict {
                found: 0, kind, id, ..
            }) => Problem::not_found(format!("{kind} {id} does not exist")),
            RegistryError::Store(StoreError::Conflict {
                kind,
                id,
                expected,
                found,
            }) => {
                let (code, title) = match expected {
                    moneta_state::Expect::Absent => ("already_exists", "Already exists"),
                    moneta_state::Expect::Revision(_) => ("revision_conflict", "Revision conflict"),
                };
                Problem::new(
                    StatusCode::CONFLICT,
                    code,
                    title,
                    format!("{kind} {id} is at revision {found}"),
                )
            }
            RegistryError::Store(StoreError::NotFound { kind, id }) => {
                Problem::not_found(format!("{kind} {id} does not exist"))
            }
            other => {
                tracing::error!(error = %other, "state store failure");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "the state store failed; see the server log",
                )
            }
        }
    }
}

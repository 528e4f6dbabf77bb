//! RFC 9457 problem details: the one error response of every HTTP API (the
//! admin API, the ingest edge), each with a stable machine-readable `code`.
//! [`Problem`] is the response, [`ensure_problem`] the middleware that turns
//! any other error response into one, and `From<RegistryError>` maps the
//! state store's errors (a missing entity, a revision conflict, a failure).

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

/// Middleware (`axum::middleware::map_response`): turns any error response
/// that is not already problem+json — an extractor's rejection, a 405 from
/// the router — into one, so every error of an API is RFC 9457 with a `code`.
pub async fn ensure_problem(response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let (code, title) = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => {
            ("malformed_request", "Malformed request")
        }
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Payload too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported media type"),
        s if s.is_server_error() => ("internal", "Internal error"),
        _ => ("malformed_request", "Malformed request"),
    };
    let detail = match text.trim() {
        // A server error's text may describe internals: not shown.
        _ if status.is_server_error() => "the request could not be completed; retry later".into(),
        "" => status.canonical_reason().unwrap_or("error").to_owned(),
        t => t.chars().take(300).collect(),
    };
    let mut problem = Problem::new(status, code, title, detail).into_response();
    // Keep headers such as `Allow` on a 405.
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().append(name.clone(), value.clone());
        }
    }
    problem
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn through(status: StatusCode, media: Option<&str>, body: &str) -> (Response, String) {
        let mut response = (status, body.to_owned()).into_response();
        response.headers_mut().remove(header::CONTENT_TYPE);
        if let Some(media) = media {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, media.parse().expect("media type"));
        }
        response
            .headers_mut()
            .insert(header::ALLOW, "GET,HEAD".parse().expect("allow"));
        let out = ensure_problem(response).await;
        let (parts, body) = out.into_parts();
        let bytes = axum::body::to_bytes(body, 8192).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (Response::from_parts(parts, axum::body::Body::empty()), text)
    }

    #[tokio::test]
    async fn plain_errors_become_problems_and_the_rest_is_untouched() {
        let (response, body) = through(StatusCode::OK, Some("text/plain"), "ok").await;
        assert_eq!((response.status(), body.as_str()), (StatusCode::OK, "ok"));

        let (response, body) = through(
            StatusCode::BAD_REQUEST,
            Some("text/plain"),
            "Invalid URL: bad",
        )
        .await;
        let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(problem["code"], "malformed_request");
        assert_eq!(problem["status"], 400);
        assert_eq!(problem["detail"], "Invalid URL: bad");

        let (response, body) = through(StatusCode::METHOD_NOT_ALLOWED, None, "").await;
        let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(problem["code"], "method_not_allowed");
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");

        let (_, body) = through(
            StatusCode::INTERNAL_SERVER_ERROR,
            Some("text/plain"),
            "db password=hunter2",
        )
        .await;
        let problem: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(problem["code"], "internal");
        assert!(!body.contains("hunter2"), "{body}");

        let already = Problem::not_found("x");
        let (_, body) = through(
            StatusCode::NOT_FOUND,
            Some("application/problem+json"),
            &serde_json::to_string(&already).expect("json"),
        )
        .await;
        assert_eq!(body, serde_json::to_string(&already).expect("json"));
    }
}

//! Operator authentication: bearer tokens compared in constant time, and
//! the operator each request is made by.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use moneta_problem::Problem;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tracing::Instrument;

use crate::AdminState;

/// The name of the operator who presents the shared `admin.token`.
pub const SHARED_OPERATOR: &str = "admin";

/// The operators' shared bearer token; never printed.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token; an empty token disables access entirely.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// Whether `presented` is this token (constant time in its content).
    pub fn matches(&self, presented: &str) -> bool {
        !self.0.is_empty() && bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// The operator who made a request: `created_by` of what it creates and
/// the `operator` of every audit line it causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator(pub String);

/// Everyone who may call the admin API: the shared token (operator
/// [`SHARED_OPERATOR`]) and named operators, each known by the SHA-256 of
/// its token (`[admin.operators]`), so the configuration holds no secret.
#[derive(Clone, Debug, Default)]
pub struct Operators {
    shared: Option<AdminToken>,
    named: Vec<(String, [u8; 32])>,
}

/// A named operator's token digest is not `sha256:` and 64 hex digits.
#[derive(Debug, thiserror::Error)]
#[error("admin.operators.{0}: the token digest must be \"sha256:\" followed by 64 hex digits")]
pub struct InvalidDigest(pub String);

impl From<AdminToken> for Operators {
    fn from(token: AdminToken) -> Self {
        Self {
            shared: Some(token),
            named: Vec::new(),
        }
    }
}

impl Operators {
    /// Adds operator `name`, whose token hashes to `digest` (`sha256:<hex>`).
    pub fn with_named(mut self, name: &str, digest: &str) -> Result<Self, InvalidDigest> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64)
            .ok_or_else(|| InvalidDigest(name.to_owned()))?;
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|_| InvalidDigest(name.to_owned()))?;
        }
        self.named.push((name.to_owned(), bytes));
        Ok(self)
    }

    /// The operator `presented` belongs to, if any.
    pub fn identify(&self, presented: &str) -> Option<Operator> {
        if self.shared.as_ref().is_some_and(|t| t.matches(presented)) {
            return Some(Operator(SHARED_OPERATOR.to_owned()));
        }
        if presented.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.named
            .iter()
            .find(|(_, known)| bool::from(known.ct_eq(&digest)))
            .map(|(name, _)| Operator(name.clone()))
    }
}

/// `sha256:<hex>` of a token: what `[admin.operators]` holds for it.
pub fn token_digest(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Middleware: refuses any request without an operator's bearer token;
/// otherwise runs it as that [`Operator`] (a request extension, and the
/// `operator` field of its span, so every log line it causes names them).
pub async fn require_token(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Response {
    let operator = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|token| state.operators.identify(token));
    match operator {
        Some(operator) => {
            let span = tracing::info_span!("admin", operator = %operator.0);
            request.extensions_mut().insert(operator);
            next.run(request).instrument(span).await
        }
        None => Problem::unauthorized().into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_exact_token_and_never_prints_it() {
        let token = AdminToken::new("s3cret-token");
        assert!(token.matches("s3cret-token"));
        assert!(!token.matches("s3cret-tokem"));
        assert!(!token.matches("s3cret"));
        assert!(!AdminToken::new("").matches(""));
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[test]
    fn named_operators_are_known_by_their_tokens_digest() {
        let operators = Operators::from(AdminToken::new("shared"))
            .with_named("alice", &token_digest("alice-token"))
            .expect("digest")
            .with_named("bob", &token_digest("bob-token"))
            .expect("digest");
        assert_eq!(operators.identify("shared"), Some(Operator("admin".into())));
        assert_eq!(
            operators.identify("alice-token"),
            Some(Operator("alice".into()))
        );
        assert_eq!(
            operators.identify("bob-token"),
            Some(Operator("bob".into()))
        );
        assert_eq!(operators.identify("carol-token"), None);
        assert_eq!(operators.identify(""), None);
        assert!(!format!("{operators:?}").contains("alice-token"));
        assert!(Operators::default().with_named("x", "sha256:zz").is_err());
        assert!(
            Operators::default()
                .with_named("x", &"0".repeat(64))
                .is_err()
        );
    }
}

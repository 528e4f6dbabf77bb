//! Errors for HTTP message signatures and ed25519 helpers.

/// Why a signature could not be produced, parsed or verified.
///
/// Messages may name components, labels and parameters, never key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// `Signature-Input` or `Signature` is not a valid structured field.
    #[error("malformed signature header: {0}")]
    MalformedHeader(String),
    /// No signature was present, or a label has no matching value.
    #[error("missing signature: {0}")]
    MissingSignature(String),
    /// A covered component (or its parameters) is not supported.
    #[error("unsupported component: {0}")]
    UnsupportedComponent(String),
    /// A component required by policy is not covered by the signature.
    #[error("missing component: {0}")]
    MissingComponent(String),
    /// A covered HTTP field or derived value is absent from the message.
    #[error("covered component absent from message: {0}")]
    AbsentField(String),
    /// The `alg` parameter names something other than `ed25519`.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A signature value is not 64 bytes of valid base64.
    #[error("invalid signature encoding")]
    InvalidSignatureEncoding,
    /// A public key is not 32 bytes of valid base64 or not a curve point.
    #[error("invalid public key")]
    InvalidKey,
    /// The signature's `created`/`expires` fall outside the accepted window.
    #[error("stale signature: {0}")]
    StaleSignature(&'static str),
}

impl SigError {
    /// Stable snake_case code for API error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedHeader(_) => "malformed_signature_header",
            Self::MissingSignature(_) => "missing_signature",
            Self::UnsupportedComponent(_) => "unsupported_component",
            Self::MissingComponent(_) => "missing_component",
            Self::AbsentField(_) => "absent_field",
            Self::UnsupportedAlgorithm(_) => "unsupported_algorithm",
            Self::BadSignature => "bad_signature",
            Self::InvalidSignatureEncoding => "invalid_signature_encoding",
            Self::InvalidKey => "invalid_key",
            Self::StaleSignature(_) => "stale_signature",
        }
    }
}

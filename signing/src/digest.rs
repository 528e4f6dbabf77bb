//! RFC 9530 `Content-Digest` fields (`sha-256`, `sha-512`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256, Sha512};

use crate::sfv::{self, BareItem, Member};

/// Why a `Content-Digest` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header is not an RFC 8941 dictionary of byte sequences.
    #[error("malformed content digest: {0}")]
    Malformed(String),
    /// Only algorithms other than `sha-256`/`sha-512` were present.
    #[error("unsupported content digest algorithm(s): {0}")]
    UnsupportedAlgorithm(String),
    /// A supported digest does not match the body.
    #[error("content digest mismatch ({0})")]
    Mismatch(&'static str),
}

impl DigestError {
    /// Stable snake_case code for API error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_digest",
            Self::UnsupportedAlgorithm(_) => "unsupported_digest_algorithm",
            Self::Mismatch(_) => "digest_mismatch",
        }
    }
}

/// Computes the `Content-Digest` header value `sha-256=:<base64>:` for `body`.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Checks a `Content-Digest` header value against `body`.
///
/// Every `sha-256`/`sha-512` member present must match; at least one must be
/// present. Unknown algorithms are ignored when a supported one is present.
pub fn verify_content_digest(header_value: &str, body: &[u8]) -> Result<(), DigestError> {
    let dict =
        sfv::parse_dictionary(header_value).map_err(|e| DigestError::Malformed(e.to_string()))?;
    let mut checked = 0usize;
    let mut unknown = Vec::new();
    for (alg, member) in &dict {
        let (name, expected): (&'static str, Vec<u8>) = match alg.as_str() {
            "sha-256" => ("sha-256", Sha256::digest(body).to_vec()),
            "sha-512" => ("sha-512", Sha512::digest(body).to_vec()),
            other => {
                unknown.push(other.to_owned());
                continue;
            }
        };
        let Member::Item(item) = member else {
            return Err(DigestError::Malformed(format!(
                "{name} is not a byte sequence"
            )));
        };
        let BareItem::ByteSeq(given) = &item.bare else {
            return Err(DigestError::Malformed(format!(
                "{name} is not a byte sequence"
            )));
        };
        if !constant_time_eq(given, &expected) {
            return Err(DigestError::Mismatch(name));
        }
        checked += 1;
    }
    match checked {
        0 if unknown.is_empty() => Err(DigestError::Malformed("no digest present".into())),
        0 => Err(DigestError::UnsupportedAlgorithm(unknown.join(", "))),
        _ => Ok(()),
    }
}

/// Compares two byte strings without an early exit on the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"{\"hello\": \"world\"}";

    #[test]
    fn rfc9530_known_value() {
        assert_eq!(
            content_digest(BODY),
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
        );
        assert_eq!(verify_content_digest(&content_digest(BODY), BODY), Ok(()));
    }

    #[test]
    fn rfc9421_sha512_value() {
        let header = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";
        assert_eq!(verify_content_digest(header, BODY), Ok(()));
        let both = format!("{}, {header}, unixsum=:AA==:", content_digest(BODY));
        assert_eq!(verify_content_digest(&both, BODY), Ok(()));
    }

    #[test]
    fn rejects_mismatch_malformed_and_unknown() {
        let header = content_digest(BODY);
        let err = verify_content_digest(&header, b"{\"hello\": \"World\"}");
        assert_eq!(err, Err(DigestError::Mismatch("sha-256")));
        assert_eq!(err.err().map(|e| e.code()), Some("digest_mismatch"));
        let err = verify_content_digest("md5=:AA==:", BODY).expect_err("unknown");
        assert_eq!(err.code(), "unsupported_digest_algorithm");
        for bad in [
            "",
            "sha-256",
            "sha-256=abc",
            "sha-256=:***:",
            "SHA-256=:AA==:",
        ] {
            let err = verify_content_digest(bad, BODY).expect_err(bad);
            assert_eq!(err.code(), "malformed_digest", "{bad}");
        }
        let err = verify_content_digest("sha-256=:AA==:", BODY).expect_err("short");
        assert_eq!(err.code(), "digest_mismatch");
    }
}

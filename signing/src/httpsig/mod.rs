//! RFC 9421 HTTP Message Signatures for requests, ed25519 only.
//!
//! Supported covered components: the derived components `@method`,
//! `@target-uri`, `@authority`, `@scheme`, `@request-target`, `@path` and
//! `@query`, plus any lowercase HTTP field name. Component parameters
//! (`;sf`, `;key`, `;bs`, `;req`, `;name`) are refused with
//! [`SigError::UnsupportedComponent`].

mod base;
mod components;
mod error;
mod params;
mod parse;
mod request;
mod sign;
#[cfg(test)]
mod tests;
mod verify;

pub use base::signature_base;
pub use error::SigError;
pub use params::SignatureParams;
pub use parse::{ParsedSignature, parse_signatures, parse_signatures_from_headers};
pub use request::RequestParts;
pub use sign::{SignedHeaders, sign_request};
pub use verify::{check_freshness, require_components, verify_request};

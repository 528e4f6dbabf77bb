//! Moneta signatures.
//!
//! - [`jcs`]: RFC 8785 JSON canonicalization, the byte form contracts are
//!   signed over.
//! - [`digest`]: RFC 9530 `Content-Digest` (`sha-256`, `sha-512`).
//! - [`httpsig`]: RFC 9421 HTTP message signatures for requests (ed25519).
//! - [`keys`]: Moneta's own key ring (active + retired keys, key files).
//! - [`verify_ed25519`] / [`sign_ed25519`]: plain ed25519 over base64 strings;
//!   [`public_key`]: a partner's public key, decoded once per process.
//!
//! Private keys never appear in `Debug`/`Display` output or error messages.

pub mod digest;
mod ed25519;
pub mod httpsig;
pub mod jcs;
pub mod keys;
mod public_keys;
mod sfv;

pub use digest::{DigestError, content_digest, verify_content_digest};
pub use ed25519::{sign_ed25519, verify_ed25519};
pub use ed25519_dalek::{Signature, SigningKey, VerifyingKey};
pub use httpsig::{
    ParsedSignature, RequestParts, SigError, SignatureParams, SignedHeaders, check_freshness,
    parse_signatures, parse_signatures_from_headers, require_components, sign_request,
    verify_request,
};
pub use jcs::{JcsError, canonicalize};
pub use keys::{KeyError, KeyRing, PublishedKey};
pub use public_keys::public_key;

//! TLS for Moneta's HTTP sides, in one place, with the `ring` provider only
//! (no aws-lc):
//!
//! - [`ServerTls`]: the `[ingest.tls]` / `[admin.tls]` settings (PEM paths;
//!   `client_ca` turns on mutual TLS), loaded by [`server_config`].
//! - [`serve`]: serves an axum [`Router`](axum::Router) over TLS with the
//!   same graceful shutdown as `axum::serve`; a failed handshake is logged
//!   at debug (peer and reason, never key material) and the listener goes on.
//! - [`client_config`]: system roots plus an optional PEM CA bundle (and an
//!   optional client identity), ALPN `h2` and `http/1.1`.
//! - [`install_crypto_provider`]: makes `ring` the process-wide provider
//!   reqwest's own TLS setup needs.
//!
//! Errors name files, never their contents; `Debug` of [`ServerTls`] shows
//! paths only.

mod load;
mod serve;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use load::{ClientIdentity, client_config, server_config};
pub use serve::serve;

/// `[ingest.tls]` / `[admin.tls]`: serve HTTPS instead of cleartext HTTP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTls {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM): when set, clients must present a certificate
    /// signed by one of them (mutual TLS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca: Option<PathBuf>,
}

/// TLS material could not be loaded or used. Messages name the file and
/// what is wrong, never the file's contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid PEM or holds nothing of the expected kind.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was expected or wrong.
        what: &'static str,
    },
    /// rustls refused the material or the settings.
    #[error("{context}: {source}")]
    Rustls {
        /// What was being set up.
        context: &'static str,
        /// rustls' error.
        #[source]
        source: rustls::Error,
    },
}

/// Installs `ring` as the process-wide rustls provider unless one is
/// installed already (idempotent). reqwest's built-in TLS setup
/// (`reqwest::Client::new()`) panics without one.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The `ring` provider every config here uses.
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}

/// ALPN protocols offered and accepted: HTTP/2, then HTTP/1.1.
fn alpn() -> Vec<Vec<u8>> {
    vec![b"h2".to_vec(), b"http/1.1".to_vec()]
}

//! Reading PEM files into rustls server and client configs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::{ServerTls, TlsError, alpn, provider};

/// A client certificate chain and key (PEM paths) for mutual TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// The private key (PEM).
    pub key: PathBuf,
}

/// The server config for `tls`: its certificate and key, ALPN `h2` and
/// `http/1.1`, and client certificates required when `client_ca` is set.
pub fn server_config(tls: &ServerTls) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certs(&tls.cert)?;
    let key = read_key(&tls.key)?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error("TLS protocol versions"))?;
    let builder = match &tls.client_ca {
        Some(ca) => {
            let roots = root_store(ca)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| TlsError::Rustls {
                    context: "client certificate verifier",
                    source: rustls::Error::General(e.to_string()),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(rustls_error("server certificate and key"))?;
    config.alpn_protocols = alpn();
    Ok(Arc::new(config))
}

/// A client config trusting the system roots plus the certificates in
/// `ca_bundle` (PEM), presenting `identity` when given; ALPN `h2` and
/// `http/1.1`. System roots that fail to load are skipped (logged at debug).
pub fn client_config(
    ca_bundle: Option<&Path>,
    identity: Option<&ClientIdentity>,
) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for error in &native.errors {
        tracing::debug!(%error, "a system root certificate could not be loaded");
    }
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_bundle {
        roots.extend(root_store(path)?.roots);
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(rustls_error("TLS protocol versions"))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(id) => builder
            .with_client_auth_cert(read_certs(&id.cert)?, read_key(&id.key)?)
            .map_err(rustls_error("client certificate and key"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn();
    Ok(config)
}

/// The CA certificates in `path` as a root store (at least one).
fn root_store(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path)? {
        roots.add(cert).map_err(rustls_error("CA certificate"))?;
    }
    Ok(roots)
}

/// Every certificate in the PEM file `path` (at least one).
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| pem_error(path, "not valid PEM"))?;
    if certs.is_empty() {
        return Err(pem_error(path, "no CERTIFICATE in the file"));
    }
    Ok(certs)
}

/// The first private key in the PEM file `path`. The parser's error is
/// dropped: it may quote a line of the key.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = zeroize::Zeroizing::new(read(path)?);
    PrivateKeyDer::from_pem_slice(&pem).map_err(|_| pem_error(path, "no valid PEM private key"))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn pem_error(path: &Path, what: &'static str) -> TlsError {
    TlsError::Pem {
        path: path.to_owned(),
        what,
    }
}

fn rustls_error(context: &'static str) -> impl FnOnce(rustls::Error) -> TlsError {
    move |source| TlsError::Rustls { context, source }
}

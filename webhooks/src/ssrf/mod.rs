//! Server-side request forgery guard for endpoint URLs.
//!
//! [`check`] accepts only `http`/`https` URLs, resolves the host once and
//! refuses it if *any* resolved address is forbidden by [`is_forbidden`].
//! The caller must connect to the returned addresses only (the
//! [`Deliverer`](crate::Deliverer) pins them in its DNS resolver), so a DNS
//! answer that changes between the check and the connection (rebinding)
//! cannot reach an internal address.

mod ip;
#[cfg(test)]
mod tests;

use std::net::{IpAddr, SocketAddr};

use reqwest::Url;
use url::Host;

pub use ip::is_forbidden;

/// Which internal address classes an endpoint may resolve to. Both default
/// to `false`; link-local, unspecified, multicast and broadcast addresses are
/// refused regardless.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SsrfPolicy {
    /// Permit loopback (127.0.0.0/8, ::1) — for tests and local receivers.
    pub allow_loopback: bool,
    /// Permit private ranges (RFC 1918, CGNAT 100.64.0.0/10, fc00::/7).
    pub allow_private: bool,
}

/// An endpoint that passed the check: where it may be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTarget {
    /// `http` or `https`.
    pub scheme: String,
    /// The host as written in the normalized URL (domain or IP literal,
    /// IPv6 in brackets).
    pub host: String,
    /// Whether `host` is an IP literal (no DNS involved).
    pub is_ip_literal: bool,
    /// The port connected to.
    pub port: u16,
    /// The vetted addresses; connect to these only.
    pub addrs: Vec<SocketAddr>,
}

/// Why an endpoint URL was refused or could not be checked. Messages name
/// the host at most, never the full URL (which may carry tokens).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// The URL does not parse.
    #[error("endpoint URL is invalid")]
    InvalidUrl,
    /// The scheme is not `http` or `https`.
    #[error("endpoint URL scheme `{0}` is not allowed (http or https only)")]
    Scheme(String),
    /// The URL has no host.
    #[error("endpoint URL has no host")]
    NoHost,
    /// DNS resolution failed (possibly transient).
    #[error("resolving {host} failed: {reason}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        reason: String,
    },
    /// DNS returned no addresses.
    #[error("{host} resolved to no addresses")]
    NoAddresses {
        /// The host name.
        host: String,
    },
    /// The host is or resolves to a forbidden address.
    #[error("{host} resolves to forbidden address {ip}")]
    Forbidden {
        /// The host name.
        host: String,
        /// The offending address.
        ip: IpAddr,
    },
}

impl SsrfError {
    /// Whether retrying later could succeed (DNS trouble), as opposed to a
    /// refusal that stands until the endpoint or policy changes.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Resolve { .. } | Self::NoAddresses { .. })
    }
}

/// Parses, resolves and vets `url` under `policy`.
pub async fn check(url: &str, policy: &SsrfPolicy) -> Result<ResolvedTarget, SsrfError> {
    let parsed = Url::parse(url).map_err(|_| SsrfError::InvalidUrl)?;
    let scheme = parsed.scheme();
    if scheme != "http" && scheme != "https" {
        return Err(SsrfError::Scheme(scheme.to_owned()));
    }
    let port = parsed.port_or_known_default().ok_or(SsrfError::NoHost)?;
    let host_str = parsed.host_str().ok_or(SsrfError::NoHost)?.to_owned();
    let (addrs, is_ip_literal) = match parsed.host().ok_or(SsrfError::NoHost)? {
        Host::Ipv4(ip) => (vec![SocketAddr::new(ip.into(), port)], true),
        Host::Ipv6(ip) => (vec![SocketAddr::new(ip.into(), port)], true),
        Host::Domain(domain) => (resolve(domain, port).await?, false),
    };
    if addrs.is_empty() {
        return Err(SsrfError::NoAddresses { host: host_str });
    }
    if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip(), policy)) {
        return Err(SsrfError::Forbidden {
            host: host_str,
            ip: bad.ip(),
        });
    }
    Ok(ResolvedTarget {
        scheme: scheme.to_owned(),
        host: host_str,
        is_ip_literal,
        port,
        addrs,
    })
}

async fn resolve(domain: &str, port: u16) -> Result<Vec<SocketAddr>, SsrfError> {
    let mut addrs: Vec<SocketAddr> = tokio::net::lookup_host((domain, port))
        .await
        .map_err(|e| SsrfError::Resolve {
            host: domain.to_owned(),
            reason: e.to_string(),
        })?
        .collect();
    addrs.dedup();
    Ok(addrs)
}

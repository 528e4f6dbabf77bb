//! A DNS resolver that answers only with addresses the SSRF check vetted.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Host → vetted addresses, filled by each attempt's SSRF check just before
/// the request. Unknown hosts fail to resolve, so the client never performs
/// a DNS lookup of its own (no rebinding window). Entries are replaced on
/// every attempt and bounded by the number of distinct endpoint hosts.
#[derive(Debug, Default)]
pub(super) struct PinnedResolver {
    pins: Mutex<HashMap<String, Vec<SocketAddr>>>,
}

impl PinnedResolver {
    /// Pins `host` to `addrs` (replacing earlier pins).
    pub(super) fn pin(&self, host: &str, addrs: &[SocketAddr]) {
        self.lock()
            .insert(host.to_ascii_lowercase(), addrs.to_vec());
    }

    /// The pinned addresses for `host`.
    pub(super) fn lookup(&self, host: &str) -> Option<Vec<SocketAddr>> {
        self.lock().get(&host.to_ascii_lowercase()).cloned()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<SocketAddr>>> {
        self.pins.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let found = self.lookup(name.as_str());
        Box::pin(async move {
            match found {
                Some(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                None => Err("host was not vetted by the SSRF check".into()),
            }
        })
    }
}

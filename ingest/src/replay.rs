//! Request signatures already used inside the freshness window: a request
//! presented twice is refused the second time.
//!
//! Kept in memory per edge instance: a signature is only acceptable for
//! `±max_clock_skew_s` around its `created`, so entries expire with it. A
//! replay to another instance (or after a restart) still never doubles an
//! effect: event ids and `Idempotency-Key`s are checked in the state store.

use std::collections::HashMap;
use std::sync::Mutex;

/// Signatures seen, with the time after which each may be forgotten.
#[derive(Debug, Default)]
pub struct ReplayCache {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashMap<Vec<u8>, i64>,
    prune_at: usize,
}

impl ReplayCache {
    /// Records `signature` until `expires_at`; `false` if it was already seen.
    pub fn first_use(&self, signature: &[u8], now: i64, expires_at: i64) -> bool {
        let Ok(mut inner) = self.inner.lock() else {
            return false;
        };
        if inner.seen.len() >= inner.prune_at {
            inner.seen.retain(|_, until| *until >= now);
            inner.prune_at = (inner.seen.len() * 2).max(4096);
        }
        match inner.seen.get(signature) {
            Some(until) if *until >= now => false,
            _ => {
                inner.seen.insert(signature.to_vec(), expires_at);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_second_use_until_expiry() {
        let cache = ReplayCache::default();
        assert!(cache.first_use(b"sig", 100, 400));
        assert!(!cache.first_use(b"sig", 200, 500));
        assert!(cache.first_use(b"other", 200, 500));
        assert!(cache.first_use(b"sig", 401, 700));
    }
}

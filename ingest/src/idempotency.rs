//! `Idempotency-Key` (IETF httpapi draft): the first response to a key is
//! stored and replayed for `idempotency_ttl_s`; the same key with another
//! request is 422; the same key while the first request is unfinished is
//! 409. Keys are scoped per partner and kept in the state store, so every
//! edge instance agrees.

use std::sync::Arc;

use axum::http::StatusCode;
use moneta_domain::Kind;
use moneta_problem::Problem;
use moneta_state::{Expect, StateStore, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::internal;

/// Longest accepted key.
const MAX_KEY_LEN: usize = 255;

/// A stored key: in flight, or completed with its response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    /// SHA-256 of method, path and body.
    fingerprint: String,
    /// When the first request arrived, Unix seconds.
    created_at: i64,
    /// The stored response, once complete.
    response: Option<StoredResponse>,
}

/// A response to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: String,
    /// Body.
    pub body: String,
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Claim {
    /// Process it; then [`Idempotency::complete`] or [`Idempotency::release`].
    Proceed(Ticket),
    /// Send this stored response again.
    Replay(StoredResponse),
}

/// A claimed key, to complete or release.
#[derive(Debug)]
pub struct Ticket {
    id: String,
    revision: u64,
    entry: Entry,
}

/// Idempotency keys on a state store.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn StateStore>,
    ttl_s: i64,
    in_flight_timeout_s: i64,
}

impl Idempotency {
    /// Keys on `store`, replayed for `ttl_s`, held in flight at most `in_flight_timeout_s`.
    pub fn new(store: Arc<dyn StateStore>, ttl_s: i64, in_flight_timeout_s: i64) -> Self {
        Self {
            store,
            ttl_s,
            in_flight_timeout_s,
        }
    }

    /// Claims `key` for `partner`'s request (`method`, `path`, `body`).
    pub async fn claim(
        &self,
        partner: &str,
        key: &str,
        request: (&str, &str, &[u8]),
        now: i64,
    ) -> Result<Claim, Problem> {
        if key.is_empty() || key.len() > MAX_KEY_LEN || !key.is_ascii() {
            return Err(Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "Invalid Idempotency-Key",
                format!("Idempotency-Key must be 1-{MAX_KEY_LEN} ASCII characters"),
            ));
        }
        let id = format!("{partner}/{key}");
        let fingerprint = fingerprint(request);
        let fresh = Entry {
            fingerprint: fingerprint.clone(),
            created_at: now,
            response: None,
        };
        loop {
            let current = self
                .store
                .get(Kind::IdempotencyKey, &id)
                .await
                .map_err(|e| internal(&e))?;
            let expect = match &current {
                None => Expect::Absent,
                Some(stored) => {
                    let entry: Option<Entry> = serde_json::from_slice(&stored.body).ok();
                    match entry {
                        Some(entry) if now - entry.created_at < self.ttl_s => {
                            if entry.fingerprint != fingerprint {
                                return Err(Problem::new(
                                    StatusCode::UNPROCESSABLE_ENTITY,
                                    "idempotency_key_reused",
                                    "Idempotency-Key reused",
                                    "this Idempotency-Key was used for a different request",
                                ));
                            }
                            if let Some(response) = entry.response {
                                return Ok(Claim::Replay(response));
                            }
                            if now - entry.created_at < self.in_flight_timeout_s {
                                return Err(Problem::new(
                                    StatusCode::CONFLICT,
                                    "idempotency_key_in_flight",
                                    "Request in progress",
                                    "a request with this Idempotency-Key is still being processed",
                                ));
                            }
                            Expect::Revision(stored.revision)
                        }
                        _ => Expect::Revision(stored.revision),
                    }
                }
            };
            match self.write(&id, &fresh, expect).await {
                Ok(revision) => {
                    return Ok(Claim::Proceed(Ticket {
                        id,
                        revision,
                        entry: fresh,
                    }));
                }
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(internal(&e)),
            }
        }
    }

    async fn write(&self, id: &str, entry: &Entry, expect: Expect) -> Result<u64, StoreError> {
        let body = serde_json::to_vec(entry).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.store
            .put(Kind::IdempotencyKey, id, &body, &[], expect)
            .await
    }

    /// Stores the response to replay.
    pub async fn complete(&self, ticket: Ticket, response: StoredResponse) -> Result<(), Problem> {
        let entry = Entry {
            response: Some(response),
            ..ticket.entry
        };
        self.write(&ticket.id, &entry, Expect::Revision(ticket.revision))
            .await
            .map(|_| ())
            .map_err(|e| internal(&e))
    }

    /// Frees the key after a failure worth retrying (5xx).
    pub async fn release(&self, ticket: Ticket) {
        let expired = Entry {
            created_at: i64::MIN / 2,
            ..ticket.entry
        };
        if let Err(e) = self
            .write(&ticket.id, &expired, Expect::Revision(ticket.revision))
            .await
        {
            tracing::warn!(error = %e, "could not release an Idempotency-Key");
        }
    }
}

fn fingerprint((method, path, body): (&str, &str, &[u8])) -> String {
    let mut hash = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), body] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moneta_state::EmbeddedStore;

    fn keys(dir: &std::path::Path) -> Idempotency {
        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir).expect("store"));
        Idempotency::new(store, 86_400, 60)
    }

    fn stored() -> StoredResponse {
        StoredResponse {
            status: 202,
            content_type: "application/json".into(),
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn in_flight_conflict_replay_reuse_and_expiry() {
        let dir = tempfile::tempdir().expect("dir");
        let keys = keys(dir.path());
        let request = ("POST", "/v1/events/disputes", b"{}".as_slice());
        let Claim::Proceed(ticket) = keys.claim("p", "k", request, 1_000).await.expect("claim")
        else {
            panic!("first claim proceeds");
        };
        let busy = keys
            .claim("p", "k", request, 1_010)
            .await
            .expect_err("in flight");
        assert_eq!((busy.status, busy.code), (409, "idempotency_key_in_flight"));
        let other = keys.claim("p", "k", ("POST", "/x", b"{1}"), 1_010).await;
        assert_eq!(other.expect_err("reused").code, "idempotency_key_reused");
        assert!(
            matches!(
                keys.claim("q", "k", request, 1_010).await,
                Ok(Claim::Proceed(_))
            ),
            "keys are scoped per partner"
        );
        keys.complete(ticket, stored()).await.expect("complete");
        match keys.claim("p", "k", request, 2_000).await.expect("replay") {
            Claim::Replay(response) => assert_eq!(response, stored()),
            Claim::Proceed(_) => panic!("a completed key replays"),
        }
        assert!(
            matches!(
                keys.claim("p", "k", request, 1_000 + 86_400).await,
                Ok(Claim::Proceed(_))
            ),
            "after 24 h the key is free again"
        );
    }

    #[tokio::test]
    async fn an_abandoned_claim_is_taken_over_and_a_released_one_is_free() {
        let dir = tempfile::tempdir().expect("dir");
        let keys = keys(dir.path());
        let request = ("POST", "/v1/events/disputes", b"{}".as_slice());
        let Claim::Proceed(_) = keys.claim("p", "k", request, 1_000).await.expect("claim") else {
            panic!("proceeds");
        };
        let Claim::Proceed(ticket) = keys
            .claim("p", "k", request, 1_061)
            .await
            .expect("take over")
        else {
            panic!("an edge that died mid-request does not hold the key forever");
        };
        keys.release(ticket).await;
        assert!(matches!(
            keys.claim("p", "k", request, 1_062).await,
            Ok(Claim::Proceed(_))
        ));
    }
}

//! `Idempotency-Key` (IETF httpapi draft): the first response to a key is
//! stored and replayed for `idempotency_ttl_s`; the same key with another
//! request is 422; the same key while the first request is unfinished is
//! 409. Keys are scoped per partner and kept in the state store, so every
//! edge instance agrees.
//!
//! A claim names the edge instance that made it (a random id per process).
//! It holds the key only while that instance is alive: an instance renews a
//! lease in the store every second ([`Idempotency::renew_lease`]); a claim
//! whose instance's lease is older than `claim_lease_s` is taken over, and
//! a claim of this instance whose request is no longer running (the client
//! went away and the handler was dropped) is taken over at once. So after a
//! crash a retry goes through within `claim_lease_s`, not
//! `in_flight_timeout_s` (which stays the upper bound on any claim).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

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
    /// The edge instance processing it (absent in claims of older edges).
    #[serde(default)]
    owner: Option<String>,
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

/// A claimed key, to complete or release; dropping it (the request was
/// abandoned) lets this instance's next request with the key take it over.
#[derive(Debug)]
pub struct Ticket {
    id: String,
    revision: u64,
    entry: Entry,
    _hold: Hold,
}

/// Where an instance's lease is kept: in the keys' table, under an id no
/// key has (key ids are `partner/key`, never starting with NUL).
const LEASE_PREFIX: &str = "\u{0}edge-instance/";

/// A lease record: the instance was alive at `renewed_at`.
#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    /// Unix seconds.
    renewed_at: i64,
}

/// This process: its instance id and the keys its running requests hold.
#[derive(Debug)]
struct Instance {
    id: String,
    running: Mutex<HashSet<String>>,
}

impl Instance {
    fn running(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A key held by a running request of this process; released on drop.
#[derive(Debug)]
struct Hold {
    instance: Arc<Instance>,
    id: String,
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.instance.running().remove(&self.id);
    }
}

/// Idempotency keys on a state store.
#[derive(Clone)]
pub struct Idempotency {
    store: Arc<dyn StateStore>,
    ttl_s: i64,
    in_flight_timeout_s: i64,
    lease_s: i64,
    instance: Arc<Instance>,
}

impl Idempotency {
    /// Keys on `store`, replayed for `ttl_s`, held in flight at most
    /// `in_flight_timeout_s`, and no longer than `lease_s` after the
    /// instance holding them stopped renewing its lease.
    pub fn new(
        store: Arc<dyn StateStore>,
        ttl_s: i64,
        in_flight_timeout_s: i64,
        lease_s: i64,
    ) -> Self {
        let id: [u8; 16] = rand::random();
        Self {
            store,
            ttl_s,
            in_flight_timeout_s,
            lease_s,
            instance: Arc::new(Instance {
                id: id.iter().map(|b| format!("{b:02x}")).collect(),
                running: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Records that this instance is alive at `now` (Unix seconds).
    pub async fn renew_lease(&self, now: i64) -> Result<(), StoreError> {
        renew(self.store.as_ref(), &self.instance.id, now).await
    }

    /// Renews this instance's lease every second (a third of `lease_s` at
    /// most) on the current Tokio runtime, until the keys are dropped.
    pub fn spawn_heartbeat(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: Idempotency-Key leases are not renewed");
            return;
        };
        let every = Duration::from_millis(u64::try_from(self.lease_s * 1000 / 3).unwrap_or(0))
            .clamp(Duration::from_millis(100), Duration::from_secs(1));
        let instance: Weak<Instance> = Arc::downgrade(&self.instance);
        let store = self.store.clone();
        runtime.spawn(async move {
            loop {
                let Some(live) = instance.upgrade() else {
                    return;
                };
                if let Err(error) = renew(store.as_ref(), &live.id, crate::now_s()).await {
                    tracing::warn!(%error, "could not renew the edge's Idempotency-Key lease");
                }
                drop(live);
                tokio::time::sleep(every).await;
            }
        });
    }

    /// Whether the request that claimed `entry` (as `id`) may still be running.
    async fn held(&self, id: &str, entry: &Entry, now: i64) -> Result<bool, Problem> {
        if now - entry.created_at >= self.in_flight_timeout_s {
            return Ok(false);
        }
        let Some(owner) = entry.owner.as_deref() else {
            return Ok(true);
        };
        if owner == self.instance.id {
            return Ok(self.instance.running().contains(id));
        }
        let lease = self
            .store
            .get(Kind::IdempotencyKey, &format!("{LEASE_PREFIX}{owner}"))
            .await
            .map_err(|e| internal(&e))?;
        // No (readable) lease: the instance never renewed one, it is gone.
        Ok(lease
            .and_then(|l| serde_json::from_slice::<Lease>(&l.body).ok())
            .is_some_and(|l| now.saturating_sub(l.renewed_at) <= self.lease_s))
    }

    /// Marks `id` held by a running request of this process; `None` if one already does.
    fn hold(&self, id: &str) -> Option<Hold> {
        self.instance.running().insert(id.to_owned()).then(|| Hold {
            instance: self.instance.clone(),
            id: id.to_owned(),
        })
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
            owner: Some(self.instance.id.clone()),
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
                            if self.held(&id, &entry, now).await? {
                                return Err(in_flight());
                            }
                            Expect::Revision(stored.revision)
                        }
                        _ => Expect::Revision(stored.revision),
                    }
                }
            };
            let hold = self.hold(&id).ok_or_else(in_flight)?;
            match self.write(&id, &fresh, expect).await {
                Ok(revision) => {
                    return Ok(Claim::Proceed(Ticket {
                        id,
                        revision,
                        entry: fresh,
                        _hold: hold,
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

/// Writes `instance`'s lease record as renewed at `now`.
async fn renew(store: &dyn StateStore, instance: &str, now: i64) -> Result<(), StoreError> {
    let id = format!("{LEASE_PREFIX}{instance}");
    let body = serde_json::to_vec(&Lease { renewed_at: now })
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let expect = match store.get(Kind::IdempotencyKey, &id).await? {
        Some(stored) => Expect::Revision(stored.revision),
        None => Expect::Absent,
    };
    store
        .put(Kind::IdempotencyKey, &id, &body, &[], expect)
        .await
        .map(|_| ())
}

fn in_flight() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_flight",
        "Request in progress",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    )
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
        Idempotency::new(store, 86_400, 60, 5)
    }

    fn on(store: &Arc<dyn StateStore>) -> Idempotency {
        Idempotency::new(store.clone(), 86_400, 60, 5)
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

    #[tokio::test]
    async fn a_dead_instances_claim_is_taken_over_once_its_lease_is_stale() {
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
        let (dead, retry) = (on(&store), on(&store));
        let request = ("POST", "/v1/events/disputes", b"{}".as_slice());
        dead.renew_lease(1_000).await.expect("lease");
        // The claim is never completed nor released: the process is killed.
        let Claim::Proceed(_held_forever) =
            dead.claim("p", "k", request, 1_000).await.expect("claim")
        else {
            panic!("first claim proceeds");
        };
        retry.renew_lease(1_004).await.expect("lease");
        let busy = retry
            .claim("p", "k", request, 1_004)
            .await
            .expect_err("busy");
        assert_eq!(busy.code, "idempotency_key_in_flight", "the lease is fresh");
        let never_renewed = on(&store);
        let Claim::Proceed(_also_held) = never_renewed
            .claim("p", "other", request, 1_004)
            .await
            .expect("claim")
        else {
            panic!("first claim proceeds");
        };
        assert!(
            matches!(
                retry.claim("p", "other", request, 1_005).await,
                Ok(Claim::Proceed(_))
            ),
            "an instance without a lease holds nothing"
        );
        assert!(
            matches!(
                retry.claim("p", "k", request, 1_006).await,
                Ok(Claim::Proceed(_))
            ),
            "6 s after the dead instance's last renewal its claim is taken over, \
             long before in_flight_timeout_s (60 s)"
        );
    }

    #[tokio::test]
    async fn a_live_instances_running_claim_still_answers_409() {
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
        let (live, other) = (on(&store), on(&store));
        let request = ("POST", "/v1/events/disputes", b"{}".as_slice());
        let Claim::Proceed(ticket) = live.claim("p", "k", request, 1_000).await.expect("claim")
        else {
            panic!("first claim proceeds");
        };
        for now in [1_000, 1_010, 1_030, 1_059] {
            live.renew_lease(now).await.expect("lease");
            for keys in [&live, &other] {
                let busy = keys.claim("p", "k", request, now).await.expect_err("busy");
                assert_eq!(busy.code, "idempotency_key_in_flight", "at {now}");
            }
        }
        drop(ticket);
        assert!(
            matches!(
                live.claim("p", "k", request, 1_059).await,
                Ok(Claim::Proceed(_))
            ),
            "a request this instance no longer runs (its handler was dropped) holds nothing"
        );
    }
}

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
//!
//! Keys and leases leave the store once they can no longer matter: every
//! record carries the bucket of `BUCKET_S` seconds in which it expires (an
//! index entry), and a sweep ([`Idempotency::sweep`], every `BUCKET_S` on
//! each edge) deletes the records of each bucket that has passed, at the
//! revision it found, so a key claimed again meanwhile stays. A cursor
//! record keeps the last bucket swept; the first sweep on a store without
//! one reads every key once (keys written before expiry buckets existed).

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

/// Keys expire in buckets of this many seconds.
const BUCKET_S: i64 = 10;
/// The index entry naming the bucket a record expires in.
const EXPIRES: &str = "expires";
/// The sweep's cursor record, in the keys' table (no key starts with NUL).
const SWEEP_ID: &str = "\u{0}sweep";
/// Most buckets one sweep deletes (an hour's); after a long stop the next
/// sweeps catch up.
const MAX_BUCKETS_PER_SWEEP: i64 = 360;
/// Records read per page by the first sweep's full scan.
const SCAN_PAGE: usize = 1_000;
/// Deletes between two yields to the runtime.
const YIELD_EVERY: usize = 100;

/// The sweep's cursor: every bucket up to `through` is deleted.
#[derive(Debug, Serialize, Deserialize)]
struct Sweep {
    through: i64,
}

/// The bucket of a record expiring at `at` (Unix seconds), as its index value.
fn bucket_of(at: i64) -> i64 {
    at.div_euclid(BUCKET_S)
}

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
        let expires = self.lease_expiry(now);
        renew(self.store.as_ref(), &self.instance.id, now, expires).await
    }

    /// When a lease renewed at `renewed_at` can no longer matter: no claim
    /// it could hold is in flight any more.
    fn lease_expiry(&self, renewed_at: i64) -> i64 {
        renewed_at + self.lease_s + self.in_flight_timeout_s
    }

    /// When a key claimed at `created_at` can no longer matter: neither
    /// replayed (`ttl_s`) nor held (`in_flight_timeout_s`).
    fn expiry_of(&self, created_at: i64) -> i64 {
        created_at.saturating_add(self.ttl_s.max(self.in_flight_timeout_s))
    }

    /// Deletes the keys and leases whose bucket passed before `now` (Unix
    /// seconds); returns how many it deleted.
    pub async fn sweep(&self, now: i64) -> Result<usize, StoreError> {
        let last = bucket_of(now) - 1;
        let cursor = self.store.get(Kind::IdempotencyKey, SWEEP_ID).await?;
        let mut deleted = 0;
        let (from, expect) = match &cursor {
            Some(stored) => {
                let swept = serde_json::from_slice::<Sweep>(&stored.body)
                    .map_err(|e| StoreError::Backend(format!("sweep cursor: {e}")))?;
                (swept.through + 1, Expect::Revision(stored.revision))
            }
            None => {
                deleted += self.sweep_all(now).await?;
                (last + 1, Expect::Absent)
            }
        };
        let through = last.min(from + MAX_BUCKETS_PER_SWEEP - 1);
        for bucket in from..=through {
            let expired = self
                .store
                .lookup(Kind::IdempotencyKey, EXPIRES, &bucket.to_string())
                .await?;
            for (n, stored) in expired.into_iter().enumerate() {
                if self
                    .store
                    .delete(Kind::IdempotencyKey, &stored.id, stored.revision)
                    .await?
                {
                    deleted += 1;
                }
                if n % YIELD_EVERY == YIELD_EVERY - 1 {
                    // Deletes may run on this thread: let requests through.
                    tokio::task::yield_now().await;
                }
            }
        }
        if through >= from || cursor.is_none() {
            let body = serde_json::to_vec(&Sweep { through })
                .map_err(|e| StoreError::Backend(e.to_string()))?;
            match self
                .store
                .put(Kind::IdempotencyKey, SWEEP_ID, &body, &[], expect)
                .await
            {
                // Another edge swept the same buckets at the same time.
                Ok(_) | Err(StoreError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// Reads every key and lease once and deletes those expired at `now`.
    async fn sweep_all(&self, now: i64) -> Result<usize, StoreError> {
        let mut deleted = 0;
        let mut after: Option<String> = None;
        loop {
            let page = self
                .store
                .list(Kind::IdempotencyKey, after.as_deref(), SCAN_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(deleted);
            };
            after = Some(last.id.clone());
            for stored in &page {
                let expires = if let Ok(entry) = serde_json::from_slice::<Entry>(&stored.body) {
                    self.expiry_of(entry.created_at)
                } else if let Ok(lease) = serde_json::from_slice::<Lease>(&stored.body) {
                    self.lease_expiry(lease.renewed_at)
                } else {
                    continue;
                };
                if expires <= now
                    && self
                        .store
                        .delete(Kind::IdempotencyKey, &stored.id, stored.revision)
                        .await?
                {
                    deleted += 1;
                }
            }
            tokio::task::yield_now().await;
        }
    }

    /// Sweeps expired keys every `BUCKET_S` seconds on the current Tokio
    /// runtime, until the keys are dropped.
    pub fn spawn_sweeper(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: expired Idempotency-Keys are not deleted");
            return;
        };
        let instance: Weak<Instance> = Arc::downgrade(&self.instance);
        let keys = self.clone();
        runtime.spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(BUCKET_S.unsigned_abs()));
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                if instance.upgrade().is_none() {
                    return;
                }
                match keys.sweep(crate::now_s()).await {
                    Ok(0) => {}
                    Ok(deleted) => tracing::debug!(deleted, "expired Idempotency-Keys deleted"),
                    Err(error) => {
                        tracing::warn!(%error, "could not delete expired Idempotency-Keys")
                    }
                }
            }
        });
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
        let keep = self.lease_expiry(0);
        runtime.spawn(async move {
            loop {
                let Some(live) = instance.upgrade() else {
                    return;
                };
                let now = crate::now_s();
                if let Err(error) = renew(store.as_ref(), &live.id, now, now + keep).await {
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
            match self.write(&id, &fresh, self.expiry_of(now), expect).await {
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

    /// Writes `entry` as `id`, to be deleted once `expires` (Unix seconds) passed.
    async fn write(
        &self,
        id: &str,
        entry: &Entry,
        expires: i64,
        expect: Expect,
    ) -> Result<u64, StoreError> {
        let body = serde_json::to_vec(entry).map_err(|e| StoreError::Backend(e.to_string()))?;
        let bucket = [(EXPIRES, bucket_of(expires).to_string())];
        self.store
            .put(Kind::IdempotencyKey, id, &body, &bucket, expect)
            .await
    }

    /// Stores the response to replay.
    pub async fn complete(&self, ticket: Ticket, response: StoredResponse) -> Result<(), Problem> {
        let entry = Entry {
            response: Some(response),
            ..ticket.entry
        };
        let expires = self.expiry_of(entry.created_at);
        self.write(
            &ticket.id,
            &entry,
            expires,
            Expect::Revision(ticket.revision),
        )
        .await
        .map(|_| ())
        .map_err(|e| internal(&e))
    }

    /// Frees the key after a failure worth retrying (5xx).
    pub async fn release(&self, ticket: Ticket) {
        // Free now; deleted with the bucket of the time it is released.
        let expires = crate::now_s().max(ticket.entry.created_at);
        let expired = Entry {
            created_at: i64::MIN / 2,
            ..ticket.entry
        };
        if let Err(e) = self
            .write(
                &ticket.id,
                &expired,
                expires,
                Expect::Revision(ticket.revision),
            )
            .await
        {
            tracing::warn!(error = %e, "could not release an Idempotency-Key");
        }
    }
}

/// Writes `instance`'s lease record as renewed at `now`, to be deleted
/// once `expires` passed.
async fn renew(
    store: &dyn StateStore,
    instance: &str,
    now: i64,
    expires: i64,
) -> Result<(), StoreError> {
    let id = format!("{LEASE_PREFIX}{instance}");
    let body = serde_json::to_vec(&Lease { renewed_at: now })
        .map_err(|e| StoreError::Backend(e.to_string()))?;
    let expect = match store.get(Kind::IdempotencyKey, &id).await? {
        Some(stored) => Expect::Revision(stored.revision),
        None => Expect::Absent,
    };
    let bucket = [(EXPIRES, bucket_of(expires).to_string())];
    store
        .put(Kind::IdempotencyKey, &id, &body, &bucket, expect)
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

    #[tokio::test]
    async fn expired_keys_and_leases_leave_the_store_and_live_ones_stay() {
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
        // Replayed for 100 s, held in flight for 60 s at most, leases of 5 s.
        let keys = Idempotency::new(store.clone(), 100, 60, 5);
        let request = ("POST", "/v1/events/disputes", b"{}".as_slice());
        // A key written before keys carried their expiry (no index entry).
        let older = serde_json::to_vec(&Entry {
            fingerprint: "f".into(),
            created_at: 900,
            owner: None,
            response: Some(stored()),
        })
        .expect("json");
        store
            .put(Kind::IdempotencyKey, "p/older", &older, &[], Expect::Absent)
            .await
            .expect("older key");
        keys.renew_lease(1_000).await.expect("lease");
        let Claim::Proceed(first) = keys
            .claim("p", "first", request, 1_000)
            .await
            .expect("claim")
        else {
            panic!("proceeds");
        };
        keys.complete(first, stored()).await.expect("complete");
        let Claim::Proceed(second) = keys
            .claim("p", "second", request, 1_050)
            .await
            .expect("claim")
        else {
            panic!("proceeds");
        };
        let present = |id: &'static str| {
            let store = store.clone();
            async move {
                store
                    .get(Kind::IdempotencyKey, id)
                    .await
                    .expect("get")
                    .is_some()
            }
        };

        // The first sweep reads every key once: only the older one expired.
        assert_eq!(keys.sweep(1_050).await.expect("sweep"), 1);
        assert!(!present("p/older").await);
        assert!(present("p/first").await && present("p/second").await);
        assert!(matches!(
            keys.claim("p", "first", request, 1_099)
                .await
                .expect("replay"),
            Claim::Replay(_)
        ));
        // The lease (renewed at 1,000, useless from 1,000 + 5 + 60) goes;
        // the first key, whose bucket has not passed, stays.
        let lease = format!("{LEASE_PREFIX}{}", keys.instance.id);
        assert!(
            store
                .get(Kind::IdempotencyKey, &lease)
                .await
                .expect("get")
                .is_some()
        );
        assert_eq!(keys.sweep(1_099).await.expect("sweep"), 1);
        assert!(
            store
                .get(Kind::IdempotencyKey, &lease)
                .await
                .expect("get")
                .is_none()
        );
        assert!(present("p/first").await);
        // Once its bucket passed (expires 1,100: bucket [1,100, 1,110)), the
        // first key goes; the second (expires 1,150) stays.
        assert_eq!(keys.sweep(1_110).await.expect("sweep"), 1);
        assert!(!present("p/first").await);
        assert!(present("p/second").await);

        // A key claimed again before its bucket is swept moves to a later one.
        drop(second);
        let Claim::Proceed(again) = keys
            .claim("p", "second", request, 1_150)
            .await
            .expect("claim")
        else {
            panic!("expired keys are free");
        };
        keys.complete(again, stored()).await.expect("complete");
        assert_eq!(keys.sweep(1_160).await.expect("sweep"), 0);
        assert!(
            present("p/second").await,
            "claimed again at 1,150, it expires at 1,250"
        );
        assert_eq!(keys.sweep(1_260).await.expect("sweep"), 1);
        assert!(!present("p/second").await);
        // Only the cursor is left.
        let left = store
            .list(Kind::IdempotencyKey, None, 10)
            .await
            .expect("list");
        assert_eq!(
            left.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
            [SWEEP_ID]
        );
    }

    #[tokio::test]
    async fn after_a_long_stop_the_sweeps_catch_up_bucket_by_bucket() {
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
        let keys = Idempotency::new(store.clone(), 100, 60, 5);
        let request = ("POST", "/v1/events/disputes", b"{}".as_slice());
        assert_eq!(keys.sweep(1_000).await.expect("first sweep"), 0);
        for (key, at) in [("early", 1_000), ("late", 5_000)] {
            let Claim::Proceed(ticket) = keys.claim("p", key, request, at).await.expect("claim")
            else {
                panic!("proceeds");
            };
            keys.complete(ticket, stored()).await.expect("complete");
        }
        // No sweep for 9,000 s: 900 buckets passed, more than one sweep takes.
        assert_eq!(keys.sweep(10_000).await.expect("sweep"), 1, "the early key");
        assert_eq!(
            keys.sweep(10_000).await.expect("sweep"),
            1,
            "then the late one"
        );
        assert!(
            store
                .get(Kind::IdempotencyKey, "p/late")
                .await
                .expect("get")
                .is_none()
        );
        assert_eq!(keys.sweep(10_000).await.expect("sweep"), 0);
    }
}

//! The state store: one async trait every backend implements.
//!
//! Registry records are JSON documents with a revision and named secondary
//! indexes; contracts are versioned documents changed only by
//! [`StateStore::apply_contract`], a compare-and-set keyed by event id.

use std::sync::Arc;

use async_trait::async_trait;
use moneta_domain::Kind;
use serde::{Deserialize, Serialize};

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Primary key.
    pub id: String,
    /// 1 when created, +1 on every write (for contracts: the contract version).
    pub revision: u64,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// What a write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Nothing: the write creates the record.
    Absent,
    /// The record at exactly this revision.
    Revision(u64),
}

/// Where a contract can be found by [`StateStore::search_contracts`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractKeys {
    /// The Membership Organization party.
    pub mo_id: String,
    /// The publisher party.
    pub publisher_id: String,
    /// The mPass, if the contract concerns one.
    pub mpass_id: Option<String>,
    /// Contract type, e.g. `subscription_charge`.
    pub contract_type: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl ContractKeys {
    /// The search-index entries of a contract, `(field, value)`: one per
    /// searchable field, and one under `all` for searches by time alone.
    /// Every backend indexes exactly these.
    pub fn search_entries(&self) -> Vec<(&'static str, String)> {
        let mut entries = vec![
            ("all", String::new()),
            ("mo", self.mo_id.clone()),
            ("publisher", self.publisher_id.clone()),
            ("type", self.contract_type.clone()),
        ];
        if let Some(mpass) = &self.mpass_id {
            entries.push(("mpass", mpass.clone()));
        }
        entries
    }
}

/// One event applied to one contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractWrite {
    /// The contract.
    pub contract_id: String,
    /// The event's id: applying it again returns the first result.
    pub event_id: String,
    /// The version the event was computed against; 0 for a new contract.
    pub expected_version: u64,
    /// The contract's JSON at `expected_version + 1`.
    pub body: Vec<u8>,
    /// Its search keys.
    pub keys: ContractKeys,
}

/// What [`StateStore::apply_contract`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContractApplied {
    /// The event was applied; the contract is now at `version`.
    Applied {
        /// New version.
        version: u64,
    },
    /// The event had been applied before, giving `version`; nothing changed.
    AlreadyApplied {
        /// Version the event produced the first time.
        version: u64,
    },
    /// The contract is no longer at the expected version.
    Conflict {
        /// Its current version (0 if it does not exist).
        current: u64,
    },
}

/// A contract search; every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractQuery {
    /// Party MO.
    pub mo_id: Option<String>,
    /// Party publisher.
    pub publisher_id: Option<String>,
    /// The mPass concerned.
    pub mpass_id: Option<String>,
    /// Contract type.
    pub contract_type: Option<String>,
    /// Created at or after (Unix seconds).
    pub created_from: Option<i64>,
    /// Created before (Unix seconds).
    pub created_until: Option<i64>,
    /// Most results returned (0 = 100).
    pub limit: usize,
    /// Only contracts after this position of the result order
    /// (`created_at`, then id): where the previous page ended.
    pub after: Option<(i64, String)>,
}

impl ContractQuery {
    /// Whether `keys` matches every given field.
    pub fn matches(&self, keys: &ContractKeys) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == have)
        };
        eq(&self.mo_id, Some(&keys.mo_id))
            && eq(&self.publisher_id, Some(&keys.publisher_id))
            && eq(&self.mpass_id, keys.mpass_id.as_deref())
            && eq(&self.contract_type, Some(&keys.contract_type))
            && self.created_from.is_none_or(|from| keys.created_at >= from)
            && self
                .created_until
                .is_none_or(|until| keys.created_at < until)
    }

    /// Whether a contract created at `created_at` with `id` comes after
    /// [`ContractQuery::after`] (always, without one).
    pub fn is_after(&self, created_at: i64, id: &str) -> bool {
        self.after
            .as_ref()
            .is_none_or(|(at, after)| (created_at, id) > (*at, after.as_str()))
    }

    /// The first `created_at` to scan: [`ContractQuery::created_from`], or
    /// the cursor's, whichever is later.
    pub fn scan_from(&self) -> i64 {
        let from = self.created_from.unwrap_or(i64::MIN);
        self.after.as_ref().map_or(from, |(at, _)| from.max(*at))
    }

    /// The most selective search-index entry this query can scan.
    pub fn scan_entry(&self) -> (&'static str, String) {
        let fields = [
            ("mpass", &self.mpass_id),
            ("mo", &self.mo_id),
            ("publisher", &self.publisher_id),
            ("type", &self.contract_type),
        ];
        fields
            .into_iter()
            .find_map(|(name, value)| value.as_ref().map(|v| (name, v.clone())))
            .unwrap_or(("all", String::new()))
    }

    /// The result limit, with 0 meaning the default of 100.
    pub fn effective_limit(&self) -> usize {
        if self.limit == 0 { 100 } else { self.limit }
    }
}

/// Errors of a state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record was not at the expected revision.
    #[error("{kind} {id}: expected {expected:?}, found revision {found}")]
    Conflict {
        /// Table.
        kind: &'static str,
        /// Record.
        id: String,
        /// What the write expected.
        expected: Expect,
        /// Current revision, 0 if absent.
        found: u64,
    },
    /// The record does not exist.
    #[error("{kind} {id} not found")]
    NotFound {
        /// Table.
        kind: &'static str,
        /// Record.
        id: String,
    },
    /// The store is held by another process (an embedded store is opened
    /// by one process at a time).
    #[error("state store {0} is in use by another process")]
    InUse(String),
    /// The backend failed (I/O, network, corrupt data).
    #[error("state backend: {0}")]
    Backend(String),
}

/// The state store every backend implements, with identical behaviour.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// Writes a record and its index entries if it is as `expect`ed;
    /// returns the new revision.
    async fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &[u8],
        indexes: &[(&'static str, String)],
        expect: Expect,
    ) -> Result<u64, StoreError>;

    /// Reads one record.
    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError>;

    /// Removes a record and its index entries if it is at exactly
    /// `revision`; `false` (nothing removed) if it is absent or at another
    /// revision. A record created again under the same id starts over at
    /// revision 1 and must not reuse an index entry (name and value) of the
    /// removed one: the CQL backend orders index writes by revision. How
    /// expired operational records (Idempotency-Keys) leave the store.
    async fn delete(&self, kind: Kind, id: &str, revision: u64) -> Result<bool, StoreError>;

    /// Every record of `kind` whose index `index` has `value`, by id.
    async fn lookup(&self, kind: Kind, index: &str, value: &str)
    -> Result<Vec<Stored>, StoreError>;

    /// Records of `kind` with ids after `after`, in id order, at most `limit`.
    async fn list(
        &self,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError>;

    /// Reads one contract; `revision` is its version.
    async fn get_contract(&self, id: &str) -> Result<Option<Stored>, StoreError>;

    /// Applies one event to a contract: compare-and-set on the version,
    /// idempotent by event id.
    async fn apply_contract(&self, write: ContractWrite) -> Result<ContractApplied, StoreError>;

    /// Contracts matching `query`, oldest first.
    async fn search_contracts(&self, query: &ContractQuery) -> Result<Vec<Stored>, StoreError>;

    /// Writes a record at exactly `revision`, whatever is there, replacing
    /// its index entries: how `moneta state rebuild` restores a record with
    /// its original revision. Not for normal writes (no compare-and-set).
    async fn restore(
        &self,
        kind: Kind,
        id: &str,
        revision: u64,
        body: &[u8],
        indexes: &[(&'static str, String)],
    ) -> Result<(), StoreError>;

    /// The events applied to a contract and the version each produced,
    /// by event id.
    async fn contract_events(&self, contract_id: &str) -> Result<Vec<(String, u64)>, StoreError>;

    /// Makes every write that returned before this call durable, through
    /// any handle on the same store. On a deferred handle it fails if any
    /// of that handle's writes since its last flush were lost (the
    /// transaction holding them failed): its caller redoes them.
    async fn flush(&self) -> Result<(), StoreError>;

    /// A handle on the same data whose writes may return before they are
    /// durable: they are visible at once and durable after the next
    /// [`StateStore::flush`]. A crash loses only a suffix of such writes,
    /// never one followed by a durable write. What the processor runtime
    /// gives stages, flushing the same handle once per batch before it
    /// commits offsets.
    /// The handle may work on the calling thread, blocking it: use it from
    /// threads that may block (the runtime's processor threads), not from
    /// async workers. Backends whose writes are durable when acknowledged
    /// return a plain handle.
    fn deferred(&self) -> Arc<dyn StateStore>;

    /// A deferred handle (see [`StateStore::deferred`]) for async callers:
    /// its calls never block the calling thread. What the ingest edge
    /// writes through, flushing it on a timer.
    fn deferred_async(&self) -> Arc<dyn StateStore>;
}

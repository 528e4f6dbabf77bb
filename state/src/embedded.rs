//! The embedded backend: every table in one redb file (see the effect
//! ledger's module for why redb). Writes go into one shared redb
//! transaction ([`crate::group_commit`]), committed when a handle flushes
//! or a plain handle's write must be durable: a stage's whole batch is one
//! commit, and writes made at the same time share one fsync. A record, its
//! index entries and a contract's event id land together or not at all,
//! even under SIGKILL; one writer at a time makes the compare-and-set exact.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use moneta_domain::Kind;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use crate::group_commit::{GroupCommit, View};
use crate::store::{
    ContractApplied, ContractKeys, ContractQuery, ContractWrite, Expect, StateStore, StoreError,
    Stored,
};

/// A versioned document: (revision, body, side data as JSON).
type Versioned<'a> = (u64, &'a [u8], &'a [u8]);

/// (kind, id) → (revision, body, index entries as JSON).
const DOCS: TableDefinition<(&str, &str), Versioned> = TableDefinition::new("docs");
/// (kind, index, value, id) → ().
const INDEX: TableDefinition<(&str, &str, &str, &str), ()> = TableDefinition::new("index");
/// contract id → (version, body, search keys as JSON).
const CONTRACTS: TableDefinition<&str, Versioned> = TableDefinition::new("contracts");
/// (contract id, event id) → version the event produced.
const CONTRACT_EVENTS: TableDefinition<(&str, &str), u64> = TableDefinition::new("contract_events");
/// (field, value, created_at, contract id) → ().
const CONTRACT_INDEX: TableDefinition<(&str, &str, i64, &str), ()> =
    TableDefinition::new("contract_index");

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// The page cache of a store opened with [`EmbeddedStore::open`]: redb's default.
pub const DEFAULT_CACHE_BYTES: usize = 1 << 30;

/// The embedded, crash-safe state store.
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    /// For a deferred handle ([`StateStore::deferred`]): the first
    /// transaction it wrote into since its last flush (0: none). `None` for
    /// a plain handle, whose writes are durable when they return.
    unflushed: Option<Arc<AtomicU64>>,
    /// Whether calls run on the calling thread (a deferred handle for
    /// threads that may block) rather than on the blocking pool.
    on_caller: bool,
}

/// The database and its group commit, shared by every handle.
struct Shared {
    commits: GroupCommit,
    db: Database,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Writes never flushed are lost, as a crash would lose them.
        self.commits.close();
    }
}

impl EmbeddedStore {
    /// Opens (or creates) `state.redb` in `dir`, with redb's default page
    /// cache (1 GiB).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// Opens (or creates) `state.redb` in `dir` with a page cache of
    /// `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let path = dir.join("state.redb");
        let db = crate::redb_file::create(&path, cache_bytes).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => {
                StoreError::InUse(path.display().to_string())
            }
            other => backend(other),
        })?;
        let txn = db.begin_write().map_err(backend)?;
        txn.open_table(DOCS).map_err(backend)?;
        txn.open_table(INDEX).map_err(backend)?;
        txn.open_table(CONTRACTS).map_err(backend)?;
        txn.open_table(CONTRACT_EVENTS).map_err(backend)?;
        txn.open_table(CONTRACT_INDEX).map_err(backend)?;
        txn.commit().map_err(backend)?;
        Ok(Self {
            shared: Arc::new(Shared {
                commits: GroupCommit::default(),
                db,
            }),
            unflushed: None,
            on_caller: false,
        })
    }

    /// Runs blocking redb work: off the async worker threads, or on the
    /// calling thread for a deferred handle (whose callers are threads that
    /// may block, see [`StateStore::deferred`]): a hop to the blocking pool
    /// per call is most of a read's cost, and more when the CPU is busy.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Shared, Option<&AtomicU64>) -> Result<T, StoreError> + Send + 'static,
    {
        if self.on_caller {
            return work(&self.shared, self.unflushed.as_deref());
        }
        let (shared, unflushed) = (Arc::clone(&self.shared), self.unflushed.clone());
        tokio::task::spawn_blocking(move || work(&shared, unflushed.as_deref()))
            .await
            .map_err(backend)?
    }

    /// Runs a write in the shared open transaction. A plain handle then
    /// waits until it is durable; a deferred one notes the transaction for
    /// its next flush.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError> + Send + 'static,
    {
        // A deferred async handle's write waits for no disk: run it here
        // when it need not wait for another thread either (a hop to the
        // blocking pool costs more than most writes).
        let work = match (&self.unflushed, self.on_caller) {
            (Some(first), false) => match self.shared.commits.try_write(&self.shared.db, work) {
                Ok(written) => {
                    let (value, number) = written?;
                    note_unflushed(first, number);
                    return Ok(value);
                }
                Err(work) => work,
            },
            _ => work,
        };
        self.blocking(move |shared, unflushed| {
            let (value, number) = shared.commits.write(&shared.db, work)?;
            match unflushed {
                Some(first) => note_unflushed(first, number),
                None => {
                    shared.commits.wait_durable(&shared.db, number)?;
                    if shared.commits.lost_between(number, number) {
                        return Err(lost());
                    }
                }
            }
            Ok(value)
        })
        .await
    }

    /// Runs a read on what every write so far left.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(View<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.blocking(move |shared, _| shared.commits.read(&shared.db, work))
            .await
    }

    /// A read of a few records ([`EmbeddedStore::read`]), run on the
    /// calling thread when no other thread holds the store's state: no hop
    /// to the blocking pool for a point read.
    async fn read_point<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(View<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        match self.shared.commits.try_read(&self.shared.db, work) {
            Ok(read) => read,
            Err(work) => self.read(work).await,
        }
    }
}

/// Notes that a deferred handle wrote into transaction `number`, keeping
/// the first one since its last flush.
fn note_unflushed(first: &AtomicU64, number: u64) {
    let _ = first.compare_exchange(0, number, Ordering::SeqCst, Ordering::SeqCst);
}

/// The error for writes whose transaction failed after they returned.
fn lost() -> StoreError {
    StoreError::Backend("writes were lost: the transaction holding them failed".to_owned())
}

/// Opens tables in whichever transaction a [`View`] holds, then evaluates
/// `$body` with them (the same code for both kinds of table).
macro_rules! with_tables {
    ($view:expr, [$($name:ident = $def:expr),+], $body:expr) => {
        match $view {
            View::Open(txn) => {
                $(let $name = txn.open_table($def).map_err(backend)?;)+
                $body
            }
            View::Snapshot(txn) => {
                $(let $name = txn.open_table($def).map_err(backend)?;)+
                $body
            }
        }
    };
}

#[async_trait]
impl StateStore for EmbeddedStore {
    async fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &[u8],
        indexes: &[(&'static str, String)],
        expect: Expect,
    ) -> Result<u64, StoreError> {
        let (id, body) = (id.to_owned(), body.to_vec());
        let entries = owned_entries(indexes);
        let kind = kind.as_str();
        let key = id.clone();
        let written = self
            .write(move |txn| {
                let encoded = serde_json::to_vec(&entries).map_err(backend)?;
                let mut docs = txn.open_table(DOCS).map_err(backend)?;
                let mut index = txn.open_table(INDEX).map_err(backend)?;
                let current = docs.get((kind, id.as_str())).map_err(backend)?.map(|g| {
                    let (revision, _, old) = g.value();
                    (revision, old.to_vec())
                });
                let found = current.as_ref().map_or(0, |(r, _)| *r);
                let ok = match expect {
                    Expect::Absent => current.is_none(),
                    Expect::Revision(r) => current.is_some() && found == r,
                };
                if !ok {
                    return Ok(Err(found));
                }
                if let Some((_, old)) = current {
                    remove_entries(&mut index, kind, &id, &old)?;
                }
                for (name, value) in &entries {
                    index
                        .insert((kind, name.as_str(), value.as_str(), id.as_str()), ())
                        .map_err(backend)?;
                }
                let revision = found + 1;
                docs.insert(
                    (kind, id.as_str()),
                    (revision, body.as_slice(), encoded.as_slice()),
                )
                .map_err(backend)?;
                Ok(Ok(revision))
            })
            .await?;
        written.map_err(|found| StoreError::Conflict {
            kind,
            id: key,
            expected: expect,
            found,
        })
    }

    async fn restore(
        &self,
        kind: Kind,
        id: &str,
        revision: u64,
        body: &[u8],
        indexes: &[(&'static str, String)],
    ) -> Result<(), StoreError> {
        let (id, body) = (id.to_owned(), body.to_vec());
        let entries = owned_entries(indexes);
        self.write(move |txn| {
            let kind = kind.as_str();
            let encoded = serde_json::to_vec(&entries).map_err(backend)?;
            let mut docs = txn.open_table(DOCS).map_err(backend)?;
            let mut index = txn.open_table(INDEX).map_err(backend)?;
            let old = docs
                .get((kind, id.as_str()))
                .map_err(backend)?
                .map(|g| g.value().2.to_vec());
            if let Some(old) = old {
                remove_entries(&mut index, kind, &id, &old)?;
            }
            for (name, value) in &entries {
                index
                    .insert((kind, name.as_str(), value.as_str(), id.as_str()), ())
                    .map_err(backend)?;
            }
            docs.insert(
                (kind, id.as_str()),
                (revision, body.as_slice(), encoded.as_slice()),
            )
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete(&self, kind: Kind, id: &str, revision: u64) -> Result<bool, StoreError> {
        let id = id.to_owned();
        let kind = kind.as_str();
        self.write(move |txn| {
            let mut docs = txn.open_table(DOCS).map_err(backend)?;
            let mut index = txn.open_table(INDEX).map_err(backend)?;
            let current = docs.get((kind, id.as_str())).map_err(backend)?.map(|g| {
                let (found, _, entries) = g.value();
                (found, entries.to_vec())
            });
            let Some((found, entries)) = current else {
                return Ok(false);
            };
            if found != revision {
                return Ok(false);
            }
            remove_entries(&mut index, kind, &id, &entries)?;
            docs.remove((kind, id.as_str())).map_err(backend)?;
            Ok(true)
        })
        .await
    }

    async fn contract_events(&self, contract_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let contract_id = contract_id.to_owned();
        self.read_point(move |view| {
            with_tables!(view, [events = CONTRACT_EVENTS], {
                let mut out = Vec::new();
                for entry in events
                    .range((contract_id.as_str(), "")..)
                    .map_err(backend)?
                {
                    let (key, version) = entry.map_err(backend)?;
                    let (contract, event) = key.value();
                    if contract != contract_id {
                        break;
                    }
                    out.push((event.to_owned(), version.value()));
                }
                Ok(out)
            })
        })
        .await
    }

    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError> {
        let id = id.to_owned();
        self.read_point(move |view| {
            with_tables!(view, [docs = DOCS], {
                let found = docs.get((kind.as_str(), id.as_str())).map_err(backend)?;
                Ok(found.map(|g| {
                    let (revision, body, _) = g.value();
                    Stored {
                        id: id.clone(),
                        revision,
                        body: body.to_vec(),
                    }
                }))
            })
        })
        .await
    }

    async fn lookup(
        &self,
        kind: Kind,
        index: &str,
        value: &str,
    ) -> Result<Vec<Stored>, StoreError> {
        let (index, value) = (index.to_owned(), value.to_owned());
        self.read(move |view| {
            let kind = kind.as_str();
            with_tables!(view, [entries = INDEX, docs = DOCS], {
                let mut out = Vec::new();
                for entry in entries
                    .range((kind, index.as_str(), value.as_str(), "")..)
                    .map_err(backend)?
                {
                    let (key, _) = entry.map_err(backend)?;
                    let (k, i, v, id) = key.value();
                    if (k, i, v) != (kind, index.as_str(), value.as_str()) {
                        break;
                    }
                    if let Some(g) = docs.get((kind, id)).map_err(backend)? {
                        let (revision, body, _) = g.value();
                        out.push(Stored {
                            id: id.to_owned(),
                            revision,
                            body: body.to_vec(),
                        });
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn list(
        &self,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let after = after.map(str::to_owned);
        self.read(move |view| {
            let kind = kind.as_str();
            let start = after.clone().unwrap_or_default();
            with_tables!(view, [docs = DOCS], {
                let mut out = Vec::new();
                for entry in docs.range((kind, start.as_str())..).map_err(backend)? {
                    let (key, value) = entry.map_err(backend)?;
                    let (k, id) = key.value();
                    if k != kind || out.len() >= limit {
                        break;
                    }
                    if after.as_deref() == Some(id) {
                        continue;
                    }
                    let (revision, body, _) = value.value();
                    out.push(Stored {
                        id: id.to_owned(),
                        revision,
                        body: body.to_vec(),
                    });
                }
                Ok(out)
            })
        })
        .await
    }

    async fn get_contract(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let id = id.to_owned();
        self.read_point(move |view| {
            with_tables!(view, [contracts = CONTRACTS], {
                let found = contracts.get(id.as_str()).map_err(backend)?;
                Ok(found.map(|g| {
                    let (version, body, _) = g.value();
                    Stored {
                        id: id.clone(),
                        revision: version,
                        body: body.to_vec(),
                    }
                }))
            })
        })
        .await
    }

    async fn apply_contract(&self, write: ContractWrite) -> Result<ContractApplied, StoreError> {
        self.write(move |txn| {
            let id = write.contract_id.as_str();
            let mut contracts = txn.open_table(CONTRACTS).map_err(backend)?;
            let mut events = txn.open_table(CONTRACT_EVENTS).map_err(backend)?;
            let mut index = txn.open_table(CONTRACT_INDEX).map_err(backend)?;
            if let Some(g) = events.get((id, write.event_id.as_str())).map_err(backend)? {
                return Ok(ContractApplied::AlreadyApplied { version: g.value() });
            }
            let current = contracts
                .get(id)
                .map_err(backend)?
                .map_or(0, |g| g.value().0);
            if current != write.expected_version {
                return Ok(ContractApplied::Conflict { current });
            }
            let version = current + 1;
            let keys = serde_json::to_vec(&write.keys).map_err(backend)?;
            contracts
                .insert(id, (version, write.body.as_slice(), keys.as_slice()))
                .map_err(backend)?;
            events
                .insert((id, write.event_id.as_str()), version)
                .map_err(backend)?;
            if current == 0 {
                // Search keys are fixed when the contract is created.
                for (field, value) in write.keys.search_entries() {
                    index
                        .insert((field, value.as_str(), write.keys.created_at, id), ())
                        .map_err(backend)?;
                }
            }
            Ok(ContractApplied::Applied { version })
        })
        .await
    }

    async fn search_contracts(&self, query: &ContractQuery) -> Result<Vec<Stored>, StoreError> {
        let query = query.clone();
        self.read(move |view| {
            let (field, value) = query.scan_entry();
            let from = query.scan_from();
            let start = match &query.after {
                Some((at, id)) if *at == from => id.as_str(),
                _ => "",
            };
            with_tables!(view, [index = CONTRACT_INDEX, contracts = CONTRACTS], {
                let mut out = Vec::new();
                for entry in index
                    .range((field, value.as_str(), from, start)..)
                    .map_err(backend)?
                {
                    let (key, _) = entry.map_err(backend)?;
                    let (f, v, created_at, id) = key.value();
                    let past_end = query.created_until.is_some_and(|until| created_at >= until);
                    if (f, v) != (field, value.as_str())
                        || past_end
                        || out.len() >= query.effective_limit()
                    {
                        break;
                    }
                    if !query.is_after(created_at, id) {
                        continue;
                    }
                    let Some(g) = contracts.get(id).map_err(backend)? else {
                        continue;
                    };
                    let (version, body, keys) = g.value();
                    let keys: ContractKeys = serde_json::from_slice(keys).map_err(backend)?;
                    if query.matches(&keys) {
                        out.push(Stored {
                            id: id.to_owned(),
                            revision: version,
                            body: body.to_vec(),
                        });
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        let unflushed = self.unflushed.clone();
        tokio::task::spawn_blocking(move || {
            let first = unflushed.map_or(0, |first| first.swap(0, Ordering::SeqCst));
            let number = shared.commits.seal()?;
            shared.commits.wait_durable(&shared.db, number)?;
            if first != 0 && shared.commits.lost_between(first, number) {
                return Err(lost());
            }
            Ok(())
        })
        .await
        .map_err(backend)?
    }

    fn deferred(&self) -> Arc<dyn StateStore> {
        Arc::new(Self {
            shared: Arc::clone(&self.shared),
            unflushed: Some(Arc::new(AtomicU64::new(0))),
            on_caller: true,
        })
    }

    fn deferred_async(&self) -> Arc<dyn StateStore> {
        Arc::new(Self {
            shared: Arc::clone(&self.shared),
            unflushed: Some(Arc::new(AtomicU64::new(0))),
            on_caller: false,
        })
    }
}

/// Index entries as owned pairs, to move into a blocking closure.
fn owned_entries(indexes: &[(&'static str, String)]) -> Vec<(String, String)> {
    indexes
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Removes a record's old index entries (stored as JSON beside it).
fn remove_entries(
    index: &mut redb::Table<'_, (&'static str, &'static str, &'static str, &'static str), ()>,
    kind: &str,
    id: &str,
    old: &[u8],
) -> Result<(), StoreError> {
    let old: Vec<(String, String)> = serde_json::from_slice(old).map_err(backend)?;
    for (name, value) in &old {
        index
            .remove((kind, name.as_str(), value.as_str(), id))
            .map_err(backend)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(contract: &str, event: &str) -> ContractWrite {
        ContractWrite {
            contract_id: contract.to_owned(),
            event_id: event.to_owned(),
            expected_version: 0,
            body: b"{}".to_vec(),
            keys: ContractKeys::default(),
        }
    }

    #[tokio::test]
    async fn a_deferred_handles_batch_is_one_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let store = EmbeddedStore::open(dir.path()).expect("store");
        let before = store.shared.commits.seal().expect("seal");
        let handle = store.deferred();
        for i in 0..50 {
            let id = format!("org-{i}");
            handle
                .put(Kind::Organization, &id, b"{}", &[], Expect::Absent)
                .await
                .expect("put");
            let applied = handle
                .apply_contract(write(&format!("c-{i}"), "e"))
                .await
                .expect("apply");
            assert_eq!(applied, ContractApplied::Applied { version: 1 });
        }
        handle.flush().await.expect("flush");
        let after = store.shared.commits.seal().expect("seal");
        assert_eq!(after - before, 1, "fifty records and contracts, one commit");
        let revision = store.put(Kind::Organization, "org-0", b"{}", &[], Expect::Revision(1));
        assert_eq!(revision.await.expect("plain write"), 2);
    }

    #[tokio::test]
    async fn a_deferred_handle_learns_its_writes_were_lost() {
        let dir = tempfile::tempdir().expect("dir");
        let store = EmbeddedStore::open(dir.path()).expect("store");
        let handle = store.deferred();
        handle
            .put(Kind::Organization, "org", b"{}", &[], Expect::Absent)
            .await
            .expect("put");
        // Another writer's write fails in the shared transaction.
        let shared = &store.shared;
        let failed = shared.commits.write(&shared.db, |_| {
            Err::<(), _>(StoreError::Backend("disk full".into()))
        });
        assert!(failed.is_err());
        assert!(
            store
                .get(Kind::Organization, "org")
                .await
                .expect("get")
                .is_none()
        );
        assert!(
            handle.flush().await.is_err(),
            "the handle must redo its writes"
        );
        handle
            .put(Kind::Organization, "org", b"{}", &[], Expect::Absent)
            .await
            .expect("redo");
        handle.flush().await.expect("then it flushes");
        store.flush().await.expect("a plain flush");
    }

    #[tokio::test]
    async fn a_deleted_record_leaves_no_index_entry_behind() {
        let dir = tempfile::tempdir().expect("dir");
        let store = EmbeddedStore::open(dir.path()).expect("store");
        let entries = [("expires", "17".to_owned()), ("owner", "a".to_owned())];
        let revision = store
            .put(Kind::IdempotencyKey, "p/k", b"{}", &entries, Expect::Absent)
            .await
            .expect("put");
        assert!(
            store
                .delete(Kind::IdempotencyKey, "p/k", revision)
                .await
                .expect("delete")
        );
        let left = store
            .read(|view| {
                with_tables!(view, [index = INDEX], {
                    Ok(index.iter().map_err(backend)?.count())
                })
            })
            .await
            .expect("read");
        assert_eq!(left, 0, "the index holds nothing of the deleted record");
    }
}

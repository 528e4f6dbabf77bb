//! The embedded backend: every table in one redb file (see the effect
//! ledger's module for why redb). A write is one redb transaction, so
//! records, their index entries and a contract's event id land together or
//! not at all, even under SIGKILL; redb serialises write transactions,
//! which makes the compare-and-set exact. Writes made at the same time
//! share one fsync ([`crate::group_commit`]).

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use moneta_domain::Kind;
use redb::{Database, ReadableTable, TableDefinition, WriteTransaction};

use crate::group_commit::GroupCommit;
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

/// The embedded, crash-safe state store.
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    /// Whether writes return before they are durable ([`StateStore::deferred`]).
    deferred: bool,
}

/// The database and its group commit, shared by every handle.
struct Shared {
    db: Database,
    commits: GroupCommit,
}

impl Shared {
    /// Commits `txn`; unless `deferred`, waits until it is durable.
    fn commit(&self, txn: WriteTransaction, deferred: bool) -> Result<(), StoreError> {
        let number = self.commits.commit(txn)?;
        self.durable(number, deferred)
    }

    /// For a write that changed nothing: unless `deferred`, waits until
    /// every write it may have observed is durable.
    fn settle(&self, deferred: bool) -> Result<(), StoreError> {
        self.durable(self.commits.written(), deferred)
    }

    fn durable(&self, number: u64, deferred: bool) -> Result<(), StoreError> {
        if deferred {
            return Ok(());
        }
        self.commits.wait_durable(&self.db, number)
    }
}

impl EmbeddedStore {
    /// Opens (or creates) `state.redb` in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let path = dir.join("state.redb");
        let db = crate::redb_file::create(&path).map_err(|e| match e {
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
                db,
                commits: GroupCommit::default(),
            }),
            deferred: false,
        })
    }

    /// Runs blocking redb work with this handle's durability: off the
    /// async worker threads, or on the calling thread for a deferred handle
    /// (whose callers are threads that may block, see
    /// [`StateStore::deferred`]): a hop to the blocking pool per call is
    /// most of a read's cost, and more when the CPU is busy.
    async fn blocking<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Database, Committer<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        let shared = Arc::clone(&self.shared);
        let deferred = self.deferred;
        if deferred {
            return work(
                &shared.db,
                Committer {
                    shared: &shared,
                    deferred,
                },
            );
        }
        tokio::task::spawn_blocking(move || {
            work(
                &shared.db,
                Committer {
                    shared: &shared,
                    deferred,
                },
            )
        })
        .await
        .map_err(backend)?
    }
}

/// How a write ends: committed or settled, with the handle's durability.
struct Committer<'a> {
    shared: &'a Shared,
    deferred: bool,
}

impl Committer<'_> {
    /// Commits `txn`.
    fn commit(&self, txn: WriteTransaction) -> Result<(), StoreError> {
        self.shared.commit(txn, self.deferred)
    }

    /// Ends a write that changed nothing: aborts `txn`, then waits as
    /// [`Shared::settle`] does.
    fn settle(&self, txn: WriteTransaction) -> Result<(), StoreError> {
        txn.abort().map_err(backend)?;
        self.shared.settle(self.deferred)
    }
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
        let entries: Vec<(String, String)> = indexes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.blocking(move |db, committer| {
            let kind = kind.as_str();
            let encoded = serde_json::to_vec(&entries).map_err(backend)?;
            let txn = db.begin_write().map_err(backend)?;
            let written = 'decide: {
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
                    break 'decide Err(found);
                }
                if let Some((_, old)) = current {
                    let old: Vec<(String, String)> =
                        serde_json::from_slice(&old).map_err(backend)?;
                    for (name, value) in &old {
                        index
                            .remove((kind, name.as_str(), value.as_str(), id.as_str()))
                            .map_err(backend)?;
                    }
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
                Ok(revision)
            };
            match written {
                Ok(revision) => {
                    committer.commit(txn)?;
                    Ok(revision)
                }
                Err(found) => {
                    committer.settle(txn)?;
                    Err(StoreError::Conflict {
                        kind,
                        id,
                        expected: expect,
                        found,
                    })
                }
            }
        })
        .await
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
        let entries: Vec<(String, String)> = indexes
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.blocking(move |db, committer| {
            let kind = kind.as_str();
            let encoded = serde_json::to_vec(&entries).map_err(backend)?;
            let txn = db.begin_write().map_err(backend)?;
            {
                let mut docs = txn.open_table(DOCS).map_err(backend)?;
                let mut index = txn.open_table(INDEX).map_err(backend)?;
                let old = docs
                    .get((kind, id.as_str()))
                    .map_err(backend)?
                    .map(|g| g.value().2.to_vec());
                if let Some(old) = old {
                    let old: Vec<(String, String)> =
                        serde_json::from_slice(&old).map_err(backend)?;
                    for (name, value) in &old {
                        index
                            .remove((kind, name.as_str(), value.as_str(), id.as_str()))
                            .map_err(backend)?;
                    }
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
            }
            committer.commit(txn)
        })
        .await
    }

    async fn contract_events(&self, contract_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let contract_id = contract_id.to_owned();
        self.blocking(move |db, _| {
            let txn = db.begin_read().map_err(backend)?;
            let events = txn.open_table(CONTRACT_EVENTS).map_err(backend)?;
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
        .await
    }

    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db, _| {
            let txn = db.begin_read().map_err(backend)?;
            let docs = txn.open_table(DOCS).map_err(backend)?;
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
        .await
    }

    async fn lookup(
        &self,
        kind: Kind,
        index: &str,
        value: &str,
    ) -> Result<Vec<Stored>, StoreError> {
        let (index, value) = (index.to_owned(), value.to_owned());
        self.blocking(move |db, _| {
            let kind = kind.as_str();
            let txn = db.begin_read().map_err(backend)?;
            let entries = txn.open_table(INDEX).map_err(backend)?;
            let docs = txn.open_table(DOCS).map_err(backend)?;
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
        .await
    }

    async fn list(
        &self,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let after = after.map(str::to_owned);
        self.blocking(move |db, _| {
            let kind = kind.as_str();
            let txn = db.begin_read().map_err(backend)?;
            let docs = txn.open_table(DOCS).map_err(backend)?;
            let start = after.clone().unwrap_or_default();
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
        .await
    }

    async fn get_contract(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let id = id.to_owned();
        self.blocking(move |db, _| {
            let txn = db.begin_read().map_err(backend)?;
            let contracts = txn.open_table(CONTRACTS).map_err(backend)?;
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
        .await
    }

    async fn apply_contract(&self, write: ContractWrite) -> Result<ContractApplied, StoreError> {
        self.blocking(move |db, committer| {
            let id = write.contract_id.as_str();
            let txn = db.begin_write().map_err(backend)?;
            let outcome = 'decide: {
                let mut contracts = txn.open_table(CONTRACTS).map_err(backend)?;
                let mut events = txn.open_table(CONTRACT_EVENTS).map_err(backend)?;
                let mut index = txn.open_table(CONTRACT_INDEX).map_err(backend)?;
                if let Some(g) = events.get((id, write.event_id.as_str())).map_err(backend)? {
                    break 'decide ContractApplied::AlreadyApplied { version: g.value() };
                }
                let current = contracts
                    .get(id)
                    .map_err(backend)?
                    .map_or(0, |g| g.value().0);
                if current != write.expected_version {
                    break 'decide ContractApplied::Conflict { current };
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
                ContractApplied::Applied { version }
            };
            match outcome {
                ContractApplied::Applied { .. } => committer.commit(txn)?,
                _ => committer.settle(txn)?,
            }
            Ok(outcome)
        })
        .await
    }

    async fn search_contracts(&self, query: &ContractQuery) -> Result<Vec<Stored>, StoreError> {
        let query = query.clone();
        self.blocking(move |db, _| {
            let (field, value) = query.scan_entry();
            let txn = db.begin_read().map_err(backend)?;
            let index = txn.open_table(CONTRACT_INDEX).map_err(backend)?;
            let contracts = txn.open_table(CONTRACTS).map_err(backend)?;
            let from = query.created_from.unwrap_or(i64::MIN);
            let mut out = Vec::new();
            for entry in index
                .range((field, value.as_str(), from, "")..)
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
        .await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let shared = Arc::clone(&self.shared);
        tokio::task::spawn_blocking(move || shared.settle(false))
            .await
            .map_err(backend)?
    }

    fn deferred(&self) -> Arc<dyn StateStore> {
        Arc::new(Self {
            shared: Arc::clone(&self.shared),
            deferred: true,
        })
    }
}

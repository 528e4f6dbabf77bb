//! [`ScyllaStore`]: the [`StateStore`] trait on ScyllaDB, with the scylla
//! driver 1.x. The design, and why it is correct without multi-table
//! transactions, is in the crate documentation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use moneta_domain::Kind;
use moneta_state::{
    ContractApplied, ContractKeys, ContractQuery, ContractWrite, Expect, StateStore, StoreError,
    Stored,
};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::query_result::QueryResult;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{CqlValue, Row};

use crate::schema::{self, SchemaStatement};

/// The only `docs_by_kind` bucket for now (see the schema).
const BUCKET: i32 = 0;
/// Rows fetched per page by the scans (lookups, listings, searches).
const PAGE_SIZE: i32 = 256;
/// Most partitions read by one `IN` query (ScyllaDB's default cap on
/// partition-key restrictions per query is 100).
const IN_CHUNK: usize = 100;
/// Attempts of one contract event whose lightweight transaction failed with
/// an uncertain outcome (timeout, lost connection).
const LWT_ATTEMPTS: usize = 3;

/// How one attempt at applying a contract event ended.
enum Attempt {
    /// With an answer.
    Done(ContractApplied),
    /// Its lightweight transaction failed; whether it applied is unknown.
    Uncertain(StoreError),
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A stored `bigint` revision or version as the trait's `u64`.
fn to_u64(value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Backend(format!("negative revision {value}")))
}

/// A revision or version as a CQL `bigint`.
fn to_i64(value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::Backend(format!("revision {value} out of range")))
}

/// The revision after `revision`.
fn next_revision(revision: u64) -> Result<u64, StoreError> {
    revision
        .checked_add(1)
        .ok_or_else(|| StoreError::Backend("revision overflow".into()))
}

/// The write timestamp of the `doc_index` entries of revision `revision`:
/// `2 * revision`. Entries are written before the revision's compare-and-set.
fn entry_timestamp(revision: u64) -> Result<i64, StoreError> {
    revision
        .checked_mul(2)
        .ok_or_else(|| StoreError::Backend(format!("revision {revision} out of range")))
        .and_then(to_i64)
}

/// The timestamp of the deletions that follow revision `revision`'s
/// compare-and-set (the previous revision's values it dropped):
/// `2 * revision - 1`, newer than every entry of older revisions, older
/// than every entry of this one and later ones.
fn removal_timestamp(revision: u64) -> Result<i64, StoreError> {
    entry_timestamp(revision).map(|ts| ts - 1)
}

/// The inclusive `created_at` range of a query, or `None` if it is empty.
fn created_range(query: &ContractQuery) -> Option<(i64, i64)> {
    let from = query.scan_from();
    let to = match query.created_until {
        Some(until) => until.checked_sub(1)?,
        None => i64::MAX,
    };
    (from <= to).then_some((from, to))
}

/// What a lightweight transaction answered: whether it applied, and the
/// value of `column` in the row it returned, if it returned that column
/// (`Some(None)`: returned as null, i.e. no row). ScyllaDB returns the old
/// row whether or not it applied; Cassandra returns only `[applied]` on
/// success, the condition's columns on a failed `IF col = ?` and the whole
/// row on a failed `IF NOT EXISTS`; so columns are found by name.
fn lwt_outcome(
    result: QueryResult,
    column: &str,
) -> Result<(bool, Option<Option<i64>>), StoreError> {
    let rows = result.into_rows_result().map_err(backend)?;
    let specs = rows.column_specs();
    let applied_at = specs
        .get_by_name("[applied]")
        .map(|(at, _)| at)
        .ok_or_else(|| StoreError::Backend("LWT result without [applied]".into()))?;
    let column_at = specs.get_by_name(column).map(|(at, _)| at);
    let row: Row = rows.first_row().map_err(backend)?;
    let applied = match row.columns.get(applied_at) {
        Some(Some(CqlValue::Boolean(applied))) => *applied,
        other => {
            return Err(StoreError::Backend(format!(
                "LWT [applied] is not a boolean: {other:?}"
            )));
        }
    };
    let value = match column_at.map(|at| row.columns.get(at).cloned().flatten()) {
        None => None,
        Some(None) => Some(None),
        Some(Some(CqlValue::BigInt(v))) => Some(Some(v)),
        Some(Some(other)) => {
            return Err(StoreError::Backend(format!(
                "LWT column {column} is not a bigint: {other:?}"
            )));
        }
    };
    Ok((applied, value))
}

/// One page after another of a paged query.
struct Pages<'a, V> {
    session: &'a Session,
    statement: &'a PreparedStatement,
    values: V,
    state: Option<PagingState>,
    done: bool,
}

impl<'a, V: SerializeRow + Send + Sync> Pages<'a, V> {
    fn new(session: &'a Session, statement: &'a PreparedStatement, values: V) -> Self {
        Self {
            session,
            statement,
            values,
            state: None,
            done: false,
        }
    }

    /// The next page's rows (possibly none), or `None` after the last page.
    async fn next<R>(&mut self) -> Result<Option<Vec<R>>, StoreError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        if self.done {
            return Ok(None);
        }
        let state = self.state.take().unwrap_or_else(PagingState::start);
        let (result, response) = self
            .session
            .execute_single_page(self.statement, &self.values, state)
            .await
            .map_err(backend)?;
        match response {
            PagingStateResponse::HasMorePages { state } => self.state = Some(state),
            PagingStateResponse::NoMorePages => self.done = true,
        }
        let rows = result.into_rows_result().map_err(backend)?;
        let page = rows
            .rows::<R>()
            .map_err(backend)?
            .collect::<Result<Vec<R>, _>>()
            .map_err(backend)?;
        Ok(Some(page))
    }
}

/// A `docs` row as read by lookups and listings.
struct Doc {
    revision: u64,
    body: Vec<u8>,
    indexes: Vec<(String, String)>,
}

/// A `contracts` row as read by searches.
struct Contract {
    version: u64,
    body: Vec<u8>,
    keys: ContractKeys,
    index_keys: ContractKeys,
}

/// Every statement, prepared once at [`ScyllaStore::connect`].
struct Statements {
    /// `docs` row by key.
    doc_get: PreparedStatement,
    /// `docs` revision and indexes by key.
    doc_state: PreparedStatement,
    /// `docs` rows of one kind by ids (`IN`).
    docs_get_many: PreparedStatement,
    /// LWT: create a record.
    doc_insert: PreparedStatement,
    /// LWT: update a record at a revision.
    doc_update: PreparedStatement,
    /// LWT: create a record at an explicit revision (restore).
    doc_restore_insert: PreparedStatement,
    /// LWT: overwrite an existing record at an explicit revision (restore).
    doc_restore_update: PreparedStatement,
    /// LWT: delete a record at a revision.
    doc_delete: PreparedStatement,
    /// List an id under its kind.
    listed_insert: PreparedStatement,
    /// Unlist an id.
    listed_delete: PreparedStatement,
    /// Ids of a kind, from the first.
    list_first: PreparedStatement,
    /// Ids of a kind after one.
    list_after: PreparedStatement,
    /// Add a lookup entry (with an explicit timestamp).
    entry_insert: PreparedStatement,
    /// Remove a lookup entry (with an explicit timestamp).
    entry_delete: PreparedStatement,
    /// Ids under one lookup value.
    entry_scan: PreparedStatement,
    /// A contract's version and body.
    contract_get: PreparedStatement,
    /// A contract's version and last event.
    contract_state: PreparedStatement,
    /// Contracts by ids (`IN`), with their keys.
    contracts_get_many: PreparedStatement,
    /// LWT: create a contract.
    contract_insert: PreparedStatement,
    /// LWT: update a contract at a version.
    contract_update: PreparedStatement,
    /// The version an event produced.
    event_get: PreparedStatement,
    /// Record the version an event produced.
    event_insert: PreparedStatement,
    /// Every event of one contract.
    event_scan: PreparedStatement,
    /// Add a contract search entry.
    field_insert: PreparedStatement,
    /// Contract ids under one search value, in a `created_at` range.
    field_scan: PreparedStatement,
}

/// How a prepared statement is configured.
#[derive(Clone, Copy)]
enum Mode {
    /// A plain read or write: safe to retry (writes carry fixed values or
    /// explicit timestamps).
    Idempotent,
    /// A scan, paged by [`PAGE_SIZE`].
    Scan,
    /// A lightweight transaction: never retried blindly, since a retry of one
    /// that applied reports a conflict.
    Lwt,
}

async fn prepare(
    session: &Session,
    cql: &str,
    mode: Mode,
) -> Result<PreparedStatement, StoreError> {
    let mut statement = session.prepare(cql).await.map_err(backend)?;
    match mode {
        Mode::Idempotent => statement.set_is_idempotent(true),
        Mode::Scan => {
            statement.set_is_idempotent(true);
            statement.set_page_size(PAGE_SIZE);
        }
        Mode::Lwt => statement.set_is_idempotent(false),
    }
    Ok(statement)
}

impl Statements {
    async fn prepare(s: &Session) -> Result<Self, StoreError> {
        use Mode::{Idempotent, Lwt, Scan};
        Ok(Self {
            doc_get: prepare(
                s,
                "SELECT revision, body FROM docs WHERE kind = ? AND id = ?",
                Idempotent,
            )
            .await?,
            doc_state: prepare(
                s,
                "SELECT revision, indexes FROM docs WHERE kind = ? AND id = ?",
                Idempotent,
            )
            .await?,
            docs_get_many: prepare(
                s,
                "SELECT id, revision, body, indexes FROM docs WHERE kind = ? AND id IN ?",
                Idempotent,
            )
            .await?,
            doc_insert: prepare(
                s,
                "INSERT INTO docs (kind, id, revision, body, indexes) VALUES (?, ?, 1, ?, ?) \
                 IF NOT EXISTS",
                Lwt,
            )
            .await?,
            doc_update: prepare(
                s,
                "UPDATE docs SET revision = ?, body = ?, indexes = ? WHERE kind = ? AND id = ? \
                 IF revision = ?",
                Lwt,
            )
            .await?,
            doc_restore_insert: prepare(
                s,
                "INSERT INTO docs (kind, id, revision, body, indexes) VALUES (?, ?, ?, ?, ?) \
                 IF NOT EXISTS",
                Lwt,
            )
            .await?,
            doc_restore_update: prepare(
                s,
                "UPDATE docs SET revision = ?, body = ?, indexes = ? WHERE kind = ? AND id = ? \
                 IF EXISTS",
                Lwt,
            )
            .await?,
            doc_delete: prepare(
                s,
                "DELETE FROM docs WHERE kind = ? AND id = ? IF revision = ?",
                Lwt,
            )
            .await?,
            listed_insert: prepare(
                s,
                "INSERT INTO docs_by_kind (kind, bucket, id) VALUES (?, ?, ?)",
                Idempotent,
            )
            .await?,
            listed_delete: prepare(
                s,
                "DELETE FROM docs_by_kind WHERE kind = ? AND bucket = ? AND id = ?",
                Idempotent,
            )
            .await?,
            list_first: prepare(
                s,
                "SELECT id FROM docs_by_kind WHERE kind = ? AND bucket = ?",
                Scan,
            )
            .await?,
            list_after: prepare(
                s,
                "SELECT id FROM docs_by_kind WHERE kind = ? AND bucket = ? AND id > ?",
                Scan,
            )
            .await?,
            entry_insert: prepare(
                s,
                "INSERT INTO doc_index (kind, index_name, value, id) VALUES (?, ?, ?, ?) \
                 USING TIMESTAMP ?",
                Idempotent,
            )
            .await?,
            entry_delete: prepare(
                s,
                "DELETE FROM doc_index USING TIMESTAMP ? \
                 WHERE kind = ? AND index_name = ? AND value = ? AND id = ?",
                Idempotent,
            )
            .await?,
            entry_scan: prepare(
                s,
                "SELECT id FROM doc_index WHERE kind = ? AND index_name = ? AND value = ?",
                Scan,
            )
            .await?,
            contract_get: prepare(
                s,
                "SELECT version, body FROM contracts WHERE id = ?",
                Idempotent,
            )
            .await?,
            contract_state: prepare(
                s,
                "SELECT version, last_event_id FROM contracts WHERE id = ?",
                Idempotent,
            )
            .await?,
            contracts_get_many: prepare(
                s,
                "SELECT id, version, body, keys, index_keys FROM contracts WHERE id IN ?",
                Idempotent,
            )
            .await?,
            contract_insert: prepare(
                s,
                "INSERT INTO contracts (id, version, body, keys, index_keys, last_event_id) \
                 VALUES (?, 1, ?, ?, ?, ?) IF NOT EXISTS",
                Lwt,
            )
            .await?,
            contract_update: prepare(
                s,
                "UPDATE contracts SET version = ?, body = ?, keys = ?, last_event_id = ? \
                 WHERE id = ? IF version = ?",
                Lwt,
            )
            .await?,
            event_get: prepare(
                s,
                "SELECT version FROM contract_events WHERE contract_id = ? AND event_id = ?",
                Idempotent,
            )
            .await?,
            event_insert: prepare(
                s,
                "INSERT INTO contract_events (contract_id, event_id, version) VALUES (?, ?, ?)",
                Idempotent,
            )
            .await?,
            event_scan: prepare(
                s,
                "SELECT event_id, version FROM contract_events WHERE contract_id = ?",
                Scan,
            )
            .await?,
            field_insert: prepare(
                s,
                "INSERT INTO contracts_by_field (field, value, created_at, id) \
                 VALUES (?, ?, ?, ?)",
                Idempotent,
            )
            .await?,
            field_scan: prepare(
                s,
                "SELECT created_at, id FROM contracts_by_field \
                 WHERE field = ? AND value = ? AND created_at >= ? AND created_at <= ?",
                Scan,
            )
            .await?,
        })
    }
}

/// The state store on ScyllaDB (or Apache Cassandra): cheap to clone, one
/// driver session and one set of prepared statements shared by the clones.
#[derive(Clone)]
pub struct ScyllaStore {
    session: Arc<Session>,
    statements: Arc<Statements>,
}

impl std::fmt::Debug for ScyllaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScyllaStore")
            .field("keyspace", &self.session.get_keyspace())
            .finish_non_exhaustive()
    }
}

impl ScyllaStore {
    /// Connects to the cluster through `nodes` (comma-separated
    /// `host:port`), creates `keyspace` and its tables if missing (the
    /// statements of `schemas/cql/moneta.cql`), switches to the keyspace and
    /// prepares every statement.
    ///
    /// `keyspace` must be lowercase ASCII letters, digits and `_`, starting
    /// with a letter; an existing keyspace keeps its replication settings.
    pub async fn connect(nodes: &str, keyspace: &str) -> Result<Self, StoreError> {
        let schema = schema::statements(keyspace)?;
        let nodes: Vec<&str> = nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        if nodes.is_empty() {
            return Err(StoreError::Backend("no ScyllaDB node address given".into()));
        }
        let session = SessionBuilder::new()
            .known_nodes(&nodes)
            .build()
            .await
            .map_err(backend)?;
        for statement in schema {
            match statement {
                // DDL waits for schema agreement (the driver's default).
                SchemaStatement::Cql(cql) => {
                    session.query_unpaged(cql, ()).await.map_err(backend)?;
                }
                SchemaStatement::Use => session
                    .use_keyspace(keyspace, false)
                    .await
                    .map_err(backend)?,
            }
        }
        let statements = Statements::prepare(&session).await?;
        Ok(Self {
            session: Arc::new(session),
            statements: Arc::new(statements),
        })
    }

    /// Drops `keyspace` and everything in it, if it exists (a rebuild
    /// target, before the rebuild writes into it afresh).
    pub async fn drop_keyspace(nodes: &str, keyspace: &str) -> Result<(), StoreError> {
        if !schema::valid_keyspace(keyspace) {
            return Err(StoreError::Backend(format!(
                "invalid keyspace name {keyspace:?}"
            )));
        }
        let nodes: Vec<&str> = nodes
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        let session = SessionBuilder::new()
            .known_nodes(&nodes)
            .build()
            .await
            .map_err(backend)?;
        session
            .query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), ())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn run(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<QueryResult, StoreError> {
        self.session
            .execute_unpaged(statement, values)
            .await
            .map_err(backend)
    }

    /// The first row of a single-partition read, if any.
    async fn first<R>(
        &self,
        statement: &PreparedStatement,
        values: impl SerializeRow,
    ) -> Result<Option<R>, StoreError>
    where
        R: for<'frame, 'metadata> DeserializeRow<'frame, 'metadata>,
    {
        let rows = self
            .run(statement, values)
            .await?
            .into_rows_result()
            .map_err(backend)?;
        rows.maybe_first_row::<R>().map_err(backend)
    }

    // ---- registry records ----

    /// A record's revision and index entries (what decides a write).
    async fn doc_state(
        &self,
        kind: &str,
        id: &str,
    ) -> Result<Option<(u64, Vec<(String, String)>)>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            self.first(&self.statements.doc_state, (kind, id)).await?;
        row.map(|(revision, indexes)| {
            Ok((
                to_u64(revision)?,
                serde_json::from_slice(&indexes).map_err(backend)?,
            ))
        })
        .transpose()
    }

    /// Records of `kind` by ids (missing ones absent from the map).
    async fn docs(&self, kind: &str, ids: &[String]) -> Result<HashMap<String, Doc>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        let unique: Vec<&String> = {
            let mut seen = HashSet::new();
            ids.iter().filter(|id| seen.insert(id.as_str())).collect()
        };
        for chunk in unique.chunks(IN_CHUNK) {
            let result = self
                .run(&self.statements.docs_get_many, (kind, chunk))
                .await?
                .into_rows_result()
                .map_err(backend)?;
            for row in result
                .rows::<(String, i64, Vec<u8>, Vec<u8>)>()
                .map_err(backend)?
            {
                let (id, revision, body, indexes) = row.map_err(backend)?;
                let doc = Doc {
                    revision: to_u64(revision)?,
                    body,
                    indexes: serde_json::from_slice(&indexes).map_err(backend)?,
                };
                found.insert(id, doc);
            }
        }
        Ok(found)
    }

    /// Writes the lookup entries of revision `revision`.
    async fn write_entries(
        &self,
        kind: &str,
        id: &str,
        entries: &[(String, String)],
        revision: u64,
    ) -> Result<(), StoreError> {
        let ts = entry_timestamp(revision)?;
        for (name, value) in entries {
            self.run(&self.statements.entry_insert, (kind, name, value, id, ts))
                .await?;
        }
        Ok(())
    }

    /// Lists `limit` records of `kind` from `pages` of ids, skipping ids
    /// whose record was never created.
    async fn list_pages<V: SerializeRow + Send + Sync>(
        &self,
        kind: &str,
        mut pages: Pages<'_, V>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(page) = pages.next::<(String,)>().await? else {
                break;
            };
            let ids: Vec<String> = page.into_iter().map(|(id,)| id).collect();
            let mut docs = self.docs(kind, &ids).await?;
            for id in ids {
                if out.len() >= limit {
                    break;
                }
                if let Some(doc) = docs.remove(&id) {
                    out.push(Stored {
                        id,
                        revision: doc.revision,
                        body: doc.body,
                    });
                }
            }
        }
        Ok(out)
    }

    // ---- contracts ----

    /// One attempt at [`StateStore::apply_contract`] (see the crate docs).
    async fn try_apply(&self, write: &ContractWrite) -> Result<Attempt, StoreError> {
        let st = &self.statements;
        let (id, event) = (write.contract_id.as_str(), write.event_id.as_str());
        // Fast path for replays: one plain read.
        if let Some(version) = self.event_version(id, event).await? {
            return Ok(Attempt::Done(ContractApplied::AlreadyApplied { version }));
        }
        let state = self.contract_state(id).await?;
        let current = state.as_ref().map_or(0, |(version, _)| *version);
        if current != write.expected_version {
            // Checked after reading the state: see the crate docs.
            return Ok(Attempt::Done(
                match self.already_applied(id, event, state.as_ref()).await? {
                    Some(version) => ContractApplied::AlreadyApplied { version },
                    None => ContractApplied::Conflict { current },
                },
            ));
        }
        if let Some((version, Some(last))) = &state {
            if last == event {
                self.record_event(id, event, *version).await?;
                return Ok(Attempt::Done(ContractApplied::AlreadyApplied {
                    version: *version,
                }));
            }
            // Make sure the event that produced `current` is recorded before
            // the version moves on, so a later replay of it is recognised.
            self.record_event(id, last, *version).await?;
        }
        let version = current
            .checked_add(1)
            .ok_or_else(|| StoreError::Backend("version overflow".into()))?;
        let keys = serde_json::to_vec(&write.keys).map_err(backend)?;
        let lwt = if current == 0 {
            // Search entries first: a created contract is always found.
            for (field, value) in write.keys.search_entries() {
                self.run(&st.field_insert, (field, value, write.keys.created_at, id))
                    .await?;
            }
            self.run(&st.contract_insert, (id, &write.body, &keys, &keys, event))
                .await
        } else {
            self.run(
                &st.contract_update,
                (
                    to_i64(version)?,
                    &write.body,
                    &keys,
                    event,
                    id,
                    to_i64(current)?,
                ),
            )
            .await
        };
        let result = match lwt {
            Ok(result) => result,
            // Timed out or lost: it may or may not have applied. Another
            // attempt finds out, since a replay is recognised.
            Err(error) => return Ok(Attempt::Uncertain(error)),
        };
        let (applied, _) = lwt_outcome(result, "version")?;
        if applied {
            self.record_event(id, event, version).await?;
            return Ok(Attempt::Done(ContractApplied::Applied { version }));
        }
        // Lost a race: to another event, or to a replay of this one.
        let state = self.contract_state(id).await?;
        let current = state.as_ref().map_or(0, |(version, _)| *version);
        Ok(Attempt::Done(
            match self.already_applied(id, event, state.as_ref()).await? {
                Some(version) => ContractApplied::AlreadyApplied { version },
                None => ContractApplied::Conflict { current },
            },
        ))
    }

    /// The version `event` produced on `contract`, if recorded.
    async fn event_version(&self, contract: &str, event: &str) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> = self
            .first(&self.statements.event_get, (contract, event))
            .await?;
        row.map(|(version,)| to_u64(version)).transpose()
    }

    /// Records that `event` produced `version` of `contract` (idempotent).
    async fn record_event(
        &self,
        contract: &str,
        event: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        self.run(
            &self.statements.event_insert,
            (contract, event, to_i64(version)?),
        )
        .await?;
        Ok(())
    }

    /// A contract's version and the event that produced it (what decides
    /// an event).
    async fn contract_state(&self, id: &str) -> Result<Option<(u64, Option<String>)>, StoreError> {
        let row: Option<(i64, Option<String>)> =
            self.first(&self.statements.contract_state, (id,)).await?;
        row.map(|(version, last)| Ok((to_u64(version)?, last)))
            .transpose()
    }

    /// Whether `event` was already applied to `contract`, given its state
    /// read just before (see the crate docs for why the order matters).
    async fn already_applied(
        &self,
        contract: &str,
        event: &str,
        state: Option<&(u64, Option<String>)>,
    ) -> Result<Option<u64>, StoreError> {
        if let Some((version, Some(last))) = state
            && last == event
        {
            // Its LWT committed; its event row may not have (a crash).
            self.record_event(contract, event, *version).await?;
            return Ok(Some(*version));
        }
        self.event_version(contract, event).await
    }

    /// Contracts by ids, with their keys (missing ones absent from the map).
    async fn contracts(&self, ids: &[String]) -> Result<HashMap<String, Contract>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        let unique: Vec<&String> = {
            let mut seen = HashSet::new();
            ids.iter().filter(|id| seen.insert(id.as_str())).collect()
        };
        for chunk in unique.chunks(IN_CHUNK) {
            let result = self
                .run(&self.statements.contracts_get_many, (chunk,))
                .await?
                .into_rows_result()
                .map_err(backend)?;
            for row in result
                .rows::<(String, i64, Vec<u8>, Vec<u8>, Vec<u8>)>()
                .map_err(backend)?
            {
                let (id, version, body, keys, index_keys) = row.map_err(backend)?;
                let contract = Contract {
                    version: to_u64(version)?,
                    body,
                    keys: serde_json::from_slice(&keys).map_err(backend)?,
                    index_keys: serde_json::from_slice(&index_keys).map_err(backend)?,
                };
                found.insert(id, contract);
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl StateStore for ScyllaStore {
    async fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &[u8],
        indexes: &[(&'static str, String)],
        expect: Expect,
    ) -> Result<u64, StoreError> {
        let kind_name = kind.as_str();
        let entries: Vec<(String, String)> = indexes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let encoded = serde_json::to_vec(&entries).map_err(backend)?;
        let conflict = |found| StoreError::Conflict {
            kind: kind_name,
            id: id.to_owned(),
            expected: expect,
            found,
        };
        let st = &self.statements;
        match expect {
            Expect::Absent => {
                // Entries and listing first: a created record is always found.
                self.write_entries(kind_name, id, &entries, 1).await?;
                self.run(&st.listed_insert, (kind_name, BUCKET, id)).await?;
                let result = self
                    .run(&st.doc_insert, (kind_name, id, body, &encoded))
                    .await?;
                let (applied, found) = lwt_outcome(result, "revision")?;
                if applied {
                    return Ok(1);
                }
                let found = match found {
                    Some(revision) => revision.map_or(Ok(0), to_u64)?,
                    None => self.doc_state(kind_name, id).await?.map_or(0, |(r, _)| r),
                };
                Err(conflict(found))
            }
            Expect::Revision(expected) => {
                // The row at `expected`, whose entries this write replaces:
                // revisions only grow, so the LWT below succeeding on
                // `revision = expected` means it replaced exactly this row.
                let Some((found, old)) = self.doc_state(kind_name, id).await? else {
                    return Err(conflict(0));
                };
                if found != expected {
                    return Err(conflict(found));
                }
                let next = next_revision(expected)?;
                self.write_entries(kind_name, id, &entries, next).await?;
                let result = self
                    .run(
                        &st.doc_update,
                        (
                            to_i64(next)?,
                            body,
                            &encoded,
                            kind_name,
                            id,
                            to_i64(expected)?,
                        ),
                    )
                    .await?;
                let (applied, found) = lwt_outcome(result, "revision")?;
                if !applied {
                    let found = match found {
                        Some(revision) => revision.map_or(Ok(0), to_u64)?,
                        None => self.doc_state(kind_name, id).await?.map_or(0, |(r, _)| r),
                    };
                    return Err(conflict(found));
                }
                let ts = removal_timestamp(next)?;
                for (name, value) in old.iter().filter(|entry| !entries.contains(entry)) {
                    self.run(&st.entry_delete, (ts, kind_name, name, value, id))
                        .await?;
                }
                Ok(next)
            }
        }
    }

    async fn delete(&self, kind: Kind, id: &str, revision: u64) -> Result<bool, StoreError> {
        let kind_name = kind.as_str();
        let st = &self.statements;
        // The entries to remove are those of the row at `revision`: the LWT
        // applying on `revision = r` proves it removed that very row.
        let Some((found, entries)) = self.doc_state(kind_name, id).await? else {
            return Ok(false);
        };
        if found != revision {
            return Ok(false);
        }
        let result = self
            .run(&st.doc_delete, (kind_name, id, to_i64(revision)?))
            .await?;
        let (applied, _) = lwt_outcome(result, "revision")?;
        if !applied {
            return Ok(false);
        }
        // Newer than every entry of revisions up to `revision`.
        let ts = removal_timestamp(next_revision(revision)?)?;
        for (name, value) in &entries {
            self.run(&st.entry_delete, (ts, kind_name, name, value, id))
                .await?;
        }
        // A record created again at this very moment may miss from `list`
        // (never from `get` or `lookup`); deleted kinds are not listed.
        self.run(&st.listed_delete, (kind_name, BUCKET, id)).await?;
        Ok(true)
    }

    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .first(&self.statements.doc_get, (kind.as_str(), id))
            .await?;
        row.map(|(revision, body)| {
            Ok(Stored {
                id: id.to_owned(),
                revision: to_u64(revision)?,
                body,
            })
        })
        .transpose()
    }

    async fn lookup(
        &self,
        kind: Kind,
        index: &str,
        value: &str,
    ) -> Result<Vec<Stored>, StoreError> {
        let kind_name = kind.as_str();
        let mut pages = Pages::new(
            &self.session,
            &self.statements.entry_scan,
            (kind_name, index, value),
        );
        let mut out = Vec::new();
        while let Some(page) = pages.next::<(String,)>().await? {
            let ids: Vec<String> = page.into_iter().map(|(id,)| id).collect();
            let mut docs = self.docs(kind_name, &ids).await?;
            for id in ids {
                let Some(doc) = docs.remove(&id) else {
                    continue;
                };
                // An entry is a hint: keep the record only if it still has
                // this value (a crash or a racing write can leave stale ones).
                if doc
                    .indexes
                    .iter()
                    .any(|(name, v)| name == index && v == value)
                {
                    out.push(Stored {
                        id,
                        revision: doc.revision,
                        body: doc.body,
                    });
                }
            }
        }
        Ok(out)
    }

    async fn list(
        &self,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let kind_name = kind.as_str();
        let st = &self.statements;
        match after {
            None => {
                let pages = Pages::new(&self.session, &st.list_first, (kind_name, BUCKET));
                self.list_pages(kind_name, pages, limit).await
            }
            Some(after) => {
                let pages = Pages::new(&self.session, &st.list_after, (kind_name, BUCKET, after));
                self.list_pages(kind_name, pages, limit).await
            }
        }
    }

    async fn get_contract(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self.first(&self.statements.contract_get, (id,)).await?;
        row.map(|(version, body)| {
            Ok(Stored {
                id: id.to_owned(),
                revision: to_u64(version)?,
                body,
            })
        })
        .transpose()
    }

    async fn apply_contract(&self, write: ContractWrite) -> Result<ContractApplied, StoreError> {
        let mut uncertain = None;
        for _ in 0..LWT_ATTEMPTS {
            match self.try_apply(&write).await? {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Uncertain(error) => uncertain = Some(error),
            }
        }
        Err(uncertain.unwrap_or_else(|| StoreError::Backend("no attempt made".into())))
    }

    async fn restore(
        &self,
        kind: Kind,
        id: &str,
        revision: u64,
        body: &[u8],
        indexes: &[(&'static str, String)],
    ) -> Result<(), StoreError> {
        let kind_name = kind.as_str();
        let entries: Vec<(String, String)> = indexes
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.clone()))
            .collect();
        let encoded = serde_json::to_vec(&entries).map_err(backend)?;
        let st = &self.statements;
        let old = self
            .doc_state(kind_name, id)
            .await?
            .map(|(_, old)| old)
            .unwrap_or_default();
        // As in `put`: entries and listing first, then the row (always by
        // LWT, never mixed with plain writes), then the dropped entries.
        self.write_entries(kind_name, id, &entries, revision)
            .await?;
        self.run(&st.listed_insert, (kind_name, BUCKET, id)).await?;
        let stored = to_i64(revision)?;
        let mut written = false;
        for _ in 0..LWT_ATTEMPTS {
            let result = self
                .run(
                    &st.doc_restore_insert,
                    (kind_name, id, stored, body, &encoded),
                )
                .await?;
            if lwt_outcome(result, "revision")?.0 {
                written = true;
                break;
            }
            let result = self
                .run(
                    &st.doc_restore_update,
                    (stored, body, &encoded, kind_name, id),
                )
                .await?;
            if lwt_outcome(result, "revision")?.0 {
                written = true;
                break;
            }
        }
        if !written {
            return Err(StoreError::Backend(format!(
                "{kind_name} {id}: restore raced with a delete {LWT_ATTEMPTS} times"
            )));
        }
        let ts = removal_timestamp(revision)?;
        for (name, value) in old.iter().filter(|entry| !entries.contains(entry)) {
            self.run(&st.entry_delete, (ts, kind_name, name, value, id))
                .await?;
        }
        Ok(())
    }

    async fn contract_events(&self, contract_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut pages = Pages::new(&self.session, &self.statements.event_scan, (contract_id,));
        let mut out = Vec::new();
        while let Some(page) = pages.next::<(String, i64)>().await? {
            for (event, version) in page {
                out.push((event, to_u64(version)?));
            }
        }
        // The last event counts even if its `contract_events` row was not
        // written yet (see `apply_contract`).
        if let Some((version, Some(event))) = self.contract_state(contract_id).await?
            && !out.iter().any(|(e, _)| *e == event)
        {
            out.push((event, version));
        }
        out.sort();
        Ok(out)
    }

    /// A write is durable when ScyllaDB acknowledges it (at the session's
    /// consistency), so there is nothing to flush.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Writes are durable when acknowledged: the same store.
    fn deferred(&self) -> Arc<dyn StateStore> {
        Arc::new(self.clone())
    }

    fn deferred_async(&self) -> Arc<dyn StateStore> {
        Arc::new(self.clone())
    }

    async fn search_contracts(&self, query: &ContractQuery) -> Result<Vec<Stored>, StoreError> {
        let Some((from, to)) = created_range(query) else {
            return Ok(Vec::new());
        };
        let (field, value) = query.scan_entry();
        let limit = query.effective_limit();
        let mut pages = Pages::new(
            &self.session,
            &self.statements.field_scan,
            (field, value.as_str(), from, to),
        );
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(page) = pages.next::<(i64, String)>().await? else {
                break;
            };
            let ids: Vec<String> = page.iter().map(|(_, id)| id.clone()).collect();
            let mut contracts = self.contracts(&ids).await?;
            for (created_at, id) in page {
                if out.len() >= limit {
                    break;
                }
                // Rows of the cursor's second up to the cursor itself.
                if !query.is_after(created_at, &id) {
                    continue;
                }
                // Only the entries written from the creation keys count (a
                // failed creation can leave others), then the query decides
                // on the current keys, as in the embedded store.
                let keep = contracts.get(&id).is_some_and(|contract| {
                    created_at == contract.index_keys.created_at
                        && contract
                            .index_keys
                            .search_entries()
                            .iter()
                            .any(|(f, v)| *f == field && *v == value)
                        && query.matches(&contract.keys)
                });
                if let Some(contract) = contracts.remove(&id).filter(|_| keep) {
                    out.push(Stored {
                        id,
                        revision: contract.version,
                        body: contract.body,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_order_entries_and_removals() {
        // A removal after revision n beats every entry of revisions < n and
        // loses to every entry of revisions >= n.
        for n in 1..50u64 {
            let removal = removal_timestamp(n).expect("ts");
            for m in 1..50u64 {
                let entry = entry_timestamp(m).expect("ts");
                assert_eq!(removal > entry, m < n, "n={n} m={m}");
                assert_ne!(removal, entry);
            }
        }
        assert!(entry_timestamp(u64::MAX).is_err());
    }

    #[test]
    fn created_range_is_inclusive_and_handles_bounds() {
        let q = |from, until| ContractQuery {
            created_from: from,
            created_until: until,
            ..Default::default()
        };
        assert_eq!(created_range(&q(None, None)), Some((i64::MIN, i64::MAX)));
        assert_eq!(created_range(&q(Some(10), Some(30))), Some((10, 29)));
        assert_eq!(created_range(&q(Some(10), Some(10))), None);
        assert_eq!(created_range(&q(None, Some(i64::MIN))), None);
    }

    #[test]
    fn scans_pick_the_most_selective_field() {
        let mut q = ContractQuery {
            contract_type: Some("t".into()),
            publisher_id: Some("p".into()),
            ..Default::default()
        };
        assert_eq!(q.scan_entry(), ("publisher", "p".into()));
        q.mpass_id = Some("m".into());
        assert_eq!(q.scan_entry(), ("mpass", "m".into()));
        assert_eq!(
            ContractQuery::default().scan_entry(),
            ("all", String::new())
        );
    }
}

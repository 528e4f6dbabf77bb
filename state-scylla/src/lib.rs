//! Moneta's ScyllaDB state backend: [`ScyllaStore`] implements
//! [`moneta_state::StateStore`] with the `scylla` driver 1.x, and passes the
//! same [`moneta_state::conformance`] suite as the embedded (redb) store.
//!
//! # Schema
//!
//! `schemas/cql/moneta.cql`, compiled in ([`schema`]) and run by
//! [`ScyllaStore::connect`] (every statement is `IF NOT EXISTS`):
//!
//! | table | key | holds |
//! | --- | --- | --- |
//! | `docs` | `((kind, id))` | revision, JSON body, the record's index entries (JSON) |
//! | `docs_by_kind` | `((kind, bucket), id)` | ids of a kind, in id order, for `list` |
//! | `doc_index` | `((kind, index_name, value), id)` | every registry lookup |
//! | `contracts` | `(id)` | version, body, current and creation keys, last event id |
//! | `contract_events` | `((contract_id), event_id)` | the version each event produced |
//! | `contracts_by_field` | `((field, value), created_at, id)` | contract search |
//!
//! `docs` is keyed by `(kind, id)`, not partitioned by kind: a partition per
//! kind would be hot, and Paxos state is per partition, so every
//! compare-and-set of a kind would contend with every other. Ordered listing
//! comes from `docs_by_kind`, whose `bucket` is always 0 for now (a kind's
//! ids fit one partition; bucketing by hash later means merging N ordered
//! buckets on listing).
//!
//! # Compare-and-set: lightweight transactions
//!
//! Registry writes and contract events are both compare-and-sets, so both
//! use lightweight transactions (LWT): `INSERT … IF NOT EXISTS` to create,
//! `UPDATE … IF revision = ?` (`IF version = ?`) to update. Only LWTs write
//! `docs` and `contracts`, which keeps Paxos and plain writes off the same
//! cells. A failed LWT answers with the current row (ScyllaDB always returns
//! the old row; Cassandra returns the condition's columns, or the whole row
//! for `IF NOT EXISTS`), so the current revision for
//! [`moneta_state::StoreError::Conflict`] is found by column name, 0 if
//! absent or null, with a plain read as the fallback.
//!
//! Consistency: the driver's defaults, `LOCAL_QUORUM` for reads and writes
//! and `LOCAL_SERIAL` for the LWTs' Paxos rounds. The reads that decide a
//! write (a record's revision, a contract's version) are plain
//! `LOCAL_QUORUM` reads, not Paxos reads: an LWT commits at `LOCAL_QUORUM`,
//! so they see every committed one, and one still in flight is finished by
//! the next LWT's Paxos round before that evaluates its condition. A stale
//! read can therefore only make an LWT fail (→ `Conflict`, re-read) or
//! answer `Conflict` early, never let a wrong write through; and it spares
//! a Paxos round per write on the hot path. LWTs on `docs` are not marked
//! idempotent (a retry of one that applied would report a conflict); every
//! other statement is.
//!
//! A registry write whose LWT fails with an uncertain outcome (a timeout)
//! fails with `Backend`; retrying it may report `Conflict` with the revision
//! it wrote itself. A contract event is idempotent by event id, so
//! `apply_contract` retries such an attempt itself (up to 3 attempts): the
//! next attempt recognises the event if it applied, and otherwise applies
//! it (a proposal left in flight is finished by, or superseded by, the next
//! Paxos round, so it cannot apply twice).
//!
//! # Index maintenance is not atomic, and stays correct
//!
//! A ScyllaDB write touches one partition atomically; a record and its index
//! entries live in several. So:
//!
//! - **Entries are hints, the `docs` row is the truth.** A lookup re-reads
//!   every record it finds and keeps it only if the record's stored
//!   `indexes` still contain that `(index, value)`: a stale entry (crash
//!   between the LWT and the clean-up, a failed write's entries) never
//!   returns a wrong record.
//! - **Entries are written before the LWT**, so a committed record is never
//!   missing from a lookup (nor, for a new record, from `docs_by_kind`): a
//!   crash before the LWT only leaves stale hints behind.
//! - **Old values are removed after the LWT**, and only those the new
//!   revision dropped; the old values are those of the row at the expected
//!   revision, read before the LWT: the LWT applying on `revision = r`
//!   proves it replaced that very row.
//! - **Entry writes carry timestamps derived from the revision**, not the
//!   clock: the entries of revision `n` are written `USING TIMESTAMP 2n`,
//!   the removals after revision `n` `USING TIMESTAMP 2n - 1`. A removal thus
//!   beats every entry of the revisions before `n` and loses to every entry
//!   of `n` and later, whatever order the writes reach the cluster in: a
//!   slow writer's clean-up can never delete the entry a later revision
//!   re-added. (Without it, last-write-wins by arrival could.)
//!
//! A listing skips ids whose record was never created (or was deleted) and
//! keeps reading until it has `limit` records or runs out. Deletion
//! ([`moneta_state::StateStore::delete`], only for operational records such
//! as expired Idempotency-Keys) is an LWT `DELETE … IF revision = r`, then
//! the removal of the row's entries `USING TIMESTAMP 2(r + 1) - 1` and of its
//! listing.
//!
//! # Contract events: idempotent by event id, across crashes
//!
//! [`moneta_state::StateStore::apply_contract`]:
//!
//! 1. reads `contract_events` for (contract, event): found → `AlreadyApplied`
//!    (no Paxos round for the common replay);
//! 2. reads the contract's version and `last_event_id`. If the version is
//!    not the expected one, it checks whether the event was applied
//!    (`last_event_id`, then `contract_events` again) → else
//!    `Conflict { current }`;
//! 3. records the event of the current version in `contract_events`
//!    (idempotent), and for a new contract writes its `contracts_by_field`
//!    entries;
//! 4. runs the LWT, which also sets `last_event_id`; applied → records the
//!    event, `Applied`; not applied → re-reads as in step 2 (a racing replay
//!    of the same event gives `AlreadyApplied`, anything else `Conflict`).
//!
//! A crash between the LWT and the event row leaves the event in the row's
//! `last_event_id`, so its replay is still `AlreadyApplied`; and step 3
//! records it before any later event can move the version on. Hence: if an
//! event produced version `k` and the state read in step 2 shows version
//! `v`, either `v == k` and `last_event_id` names it, or `v > k` and its row
//! was written before the LWT to `k + 1`, i.e. before step 2's read, so the
//! `contract_events` read that follows it finds the row.
//!
//! # Contract search
//!
//! Like the embedded store: the most selective field given (mpass, mo,
//! publisher, type, else `all`) picks the `contracts_by_field` partition, a
//! `created_at` range narrows it, every contract found is read back and
//! filtered by [`moneta_state::ContractQuery::matches`] on its current keys,
//! up to [`moneta_state::ContractQuery::effective_limit`], oldest first. The
//! entries are written once, from the keys at creation (kept as
//! `index_keys`): an entry that is not one of those (a failed creation's) is
//! skipped, so results are exactly the embedded store's.
//!
//! Reads of several records or contracts use `IN` on the partition key, at
//! most 100 keys per query.

pub mod schema;
mod store;

pub use store::ScyllaStore;

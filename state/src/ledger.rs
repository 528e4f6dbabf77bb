//! The idempotent effect ledger, on redb.
//!
//! Why redb: it is a single-file, copy-on-write B-tree whose commits are
//! atomic and fsync'd (`Durability::Immediate`), so a SIGKILL mid-write leaves
//! either the old or the new state, never a torn one; it is pure Rust, builds
//! fast and needs no background compaction. fjall (an LSM tree) would suit a
//! far larger, write-heavier data set than an effect ledger, at the cost of
//! more moving parts.

use std::path::Path;

use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

/// An effect ledger's page cache: its working set is the latest effects.
const CACHE_BYTES: usize = 64 << 20;

/// Effect id → effect value, one row per effect ever applied.
const EFFECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("effects");
/// Counters kept in the same transactions as the effects they count.
const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("counters");
/// Counter of effects applied for the first time.
const APPLIED: &str = "applied";
/// Counter of effects recognised as already applied.
const DUPLICATES: &str = "duplicates";

/// Errors of the state store.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The store could not be opened, read or written.
    #[error("state store {operation} failed: {source}")]
    Store {
        /// What was being done.
        operation: &'static str,
        /// The underlying redb error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

fn store_err<E>(operation: &'static str) -> impl FnOnce(E) -> StateError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| StateError::Store {
        operation,
        source: Box::new(e),
    }
}

/// One idempotent effect: applying the same id twice changes nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// Deterministic id: the same input always yields the same id.
    pub id: String,
    /// What the effect records.
    pub value: Vec<u8>,
}

/// What one [`EffectLedger::apply`] call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Effects applied for the first time.
    pub new: u64,
    /// Effects recognised as already applied, and skipped.
    pub duplicates: u64,
}

/// The embedded, crash-safe ledger of applied effects.
#[derive(Debug)]
pub struct EffectLedger {
    db: Database,
}

impl EffectLedger {
    /// Opens (or creates) the ledger in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(store_err("create directory"))?;
        let db = crate::redb_file::create(&dir.join("effects.redb"), CACHE_BYTES)
            .map_err(store_err("open"))?;
        let txn = db.begin_write().map_err(store_err("begin"))?;
        txn.open_table(EFFECTS).map_err(store_err("open table"))?;
        txn.open_table(COUNTERS).map_err(store_err("open table"))?;
        txn.commit().map_err(store_err("commit"))?;
        Ok(Self { db })
    }

    /// Applies every effect not applied before, in one durable transaction.
    pub fn apply(&self, effects: &[Effect]) -> Result<Applied, StateError> {
        if effects.is_empty() {
            return Ok(Applied::default());
        }
        let mut applied = Applied::default();
        let txn = self.db.begin_write().map_err(store_err("begin"))?;
        {
            let mut table = txn.open_table(EFFECTS).map_err(store_err("open table"))?;
            for effect in effects {
                let known = table
                    .get(effect.id.as_str())
                    .map_err(store_err("read"))?
                    .is_some();
                if known {
                    applied.duplicates += 1;
                } else {
                    table
                        .insert(effect.id.as_str(), effect.value.as_slice())
                        .map_err(store_err("write"))?;
                    applied.new += 1;
                }
            }
            let mut counters = txn.open_table(COUNTERS).map_err(store_err("open table"))?;
            for (name, delta) in [(APPLIED, applied.new), (DUPLICATES, applied.duplicates)] {
                let current = counters
                    .get(name)
                    .map_err(store_err("read"))?
                    .map(|v| v.value())
                    .unwrap_or(0);
                counters
                    .insert(name, current + delta)
                    .map_err(store_err("write"))?;
            }
        }
        txn.commit().map_err(store_err("commit"))?;
        Ok(applied)
    }

    /// Whether the effect with this id has been applied.
    pub fn contains(&self, id: &str) -> Result<bool, StateError> {
        let txn = self.db.begin_read().map_err(store_err("begin"))?;
        let table = txn.open_table(EFFECTS).map_err(store_err("open table"))?;
        Ok(table.get(id).map_err(store_err("read"))?.is_some())
    }

    /// Totals over the ledger's whole life: effects applied once, duplicates skipped.
    pub fn totals(&self) -> Result<Applied, StateError> {
        let txn = self.db.begin_read().map_err(store_err("begin"))?;
        let counters = txn.open_table(COUNTERS).map_err(store_err("open table"))?;
        let read = |name| -> Result<u64, StateError> {
            Ok(counters
                .get(name)
                .map_err(store_err("read"))?
                .map(|v| v.value())
                .unwrap_or(0))
        };
        Ok(Applied {
            new: read(APPLIED)?,
            duplicates: read(DUPLICATES)?,
        })
    }

    /// Number of distinct effects in the ledger.
    pub fn len(&self) -> Result<u64, StateError> {
        let txn = self.db.begin_read().map_err(store_err("begin"))?;
        let table = txn.open_table(EFFECTS).map_err(store_err("open table"))?;
        table.len().map_err(store_err("read"))
    }

    /// Whether no effect has been applied yet.
    pub fn is_empty(&self) -> Result<bool, StateError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effect(id: &str) -> Effect {
        Effect {
            id: id.to_owned(),
            value: id.as_bytes().to_vec(),
        }
    }

    #[test]
    fn applies_each_id_once_across_calls_and_reopens() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let ledger = EffectLedger::open(dir.path()).expect("open");
            let first = ledger.apply(&[effect("a"), effect("b")]).expect("apply");
            assert_eq!(
                first,
                Applied {
                    new: 2,
                    duplicates: 0
                }
            );
            let again = ledger.apply(&[effect("b"), effect("c")]).expect("apply");
            assert_eq!(
                again,
                Applied {
                    new: 1,
                    duplicates: 1
                }
            );
        }
        let ledger = EffectLedger::open(dir.path()).expect("reopen");
        assert_eq!(ledger.apply(&[effect("a")]).expect("apply").duplicates, 1);
        assert_eq!(
            ledger.totals().expect("totals"),
            Applied {
                new: 3,
                duplicates: 2
            }
        );
        assert_eq!(ledger.len().expect("len"), 3);
        assert!(ledger.contains("c").expect("contains"));
        assert!(!ledger.contains("d").expect("contains"));
    }

    #[test]
    fn a_duplicate_inside_one_batch_counts_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ledger = EffectLedger::open(dir.path()).expect("open");
        let applied = ledger.apply(&[effect("x"), effect("x")]).expect("apply");
        assert_eq!(
            applied,
            Applied {
                new: 1,
                duplicates: 1
            }
        );
    }
}

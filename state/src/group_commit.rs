//! Group commit for the embedded store: many writes, one transaction, one
//! fsync.
//!
//! Writes go into one open redb write transaction, shared by every handle
//! on the database, and readers read through it, so a write is visible at
//! once. Sealing commits the open transaction without waiting for the disk;
//! making writes durable seals, then runs one empty durable commit, which
//! persists every commit before it; writers waiting at the same time share
//! it. A stage's batch of writes is therefore one redb commit instead of one
//! per write. redb commits are serialised, so what survives a crash is
//! always a prefix of the commit order: a durable write implies every write
//! before it is durable too.
//!
//! Transactions are numbered in commit order; the open one has the number
//! it will commit as. A transaction that fails loses every write in it: its
//! number is recorded as lost, so a handle that wrote into it learns so
//! when it flushes (and its caller redoes those writes).

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, TryLockError};

use redb::{Database, Durability, ReadTransaction, WriteTransaction};

use crate::store::StoreError;

/// The open transaction and how far commits and durability have got.
#[derive(Default)]
struct State {
    /// The transaction writes go into; `None` between commits.
    open: Option<WriteTransaction>,
    /// Transactions sealed (committed, or lost) so far: the open one is
    /// number `written + 1`.
    written: u64,
    /// Transactions known to be durable.
    durable: u64,
    /// Whether a durable commit holds redb's writer.
    syncing: bool,
    /// Writers waiting for a durable commit to end: the next one waits for
    /// them to write first, so a stream of durable writes cannot starve a
    /// writer that does not wait for the disk.
    waiting: usize,
    /// Transactions whose writes were lost.
    lost: BTreeSet<u64>,
}

/// What a read sees: the open transaction, or a snapshot when none is open.
pub(crate) enum View<'a> {
    /// Through the open write transaction: every write so far.
    Open(&'a WriteTransaction),
    /// A read snapshot of what is committed.
    Snapshot(ReadTransaction),
}

/// The shared group-commit state of one database.
#[derive(Default)]
pub(crate) struct GroupCommit {
    state: Mutex<State>,
    changed: Condvar,
}

impl GroupCommit {
    /// Runs `work` inside the open transaction (beginning one if none is
    /// open); returns its result and the transaction's number. If `work`
    /// fails, the transaction is aborted and every write in it lost.
    pub fn write<T>(
        &self,
        db: &Database,
        work: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<(T, u64), StoreError> {
        let mut state = self.lock();
        let waited = state.open.is_none() && state.syncing;
        if waited {
            state.waiting += 1;
            while state.open.is_none() && state.syncing {
                state = self.wait(state);
            }
            state.waiting -= 1;
            // A durable commit may be waiting for this writer.
            self.changed.notify_all();
        }
        Self::write_locked(&mut state, db, work)
    }

    /// [`GroupCommit::write`] when it need not wait (no other thread holds
    /// the state, no durable commit holds redb's writer): what an async
    /// caller runs on its own thread. `Err(work)` when it would wait.
    pub fn try_write<T, F>(&self, db: &Database, work: F) -> Result<Result<(T, u64), StoreError>, F>
    where
        F: FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    {
        let Some(mut state) = self.try_lock() else {
            return Err(work);
        };
        if state.open.is_none() && state.syncing {
            return Err(work);
        }
        Ok(Self::write_locked(&mut state, db, work))
    }

    /// Runs `work` in the open transaction, beginning one if none is open.
    fn write_locked<T>(
        state: &mut State,
        db: &Database,
        work: impl FnOnce(&WriteTransaction) -> Result<T, StoreError>,
    ) -> Result<(T, u64), StoreError> {
        let txn = match state.open.take() {
            Some(txn) => txn,
            None => db.begin_write().map_err(backend)?,
        };
        let number = state.written + 1;
        match work(&txn) {
            Ok(value) => {
                state.open = Some(txn);
                Ok((value, number))
            }
            Err(error) => {
                // A write that failed part way may have changed the
                // transaction: nothing in it can be trusted.
                drop(txn.abort());
                state.written = number;
                state.lost.insert(number);
                Err(error)
            }
        }
    }

    /// Runs `work` on what every write so far left: through the open
    /// transaction if there is one, else on a snapshot.
    pub fn read<T>(
        &self,
        db: &Database,
        work: impl FnOnce(View<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let state = self.lock();
        if let Some(txn) = &state.open {
            return work(View::Open(txn));
        }
        drop(state);
        work(View::Snapshot(db.begin_read().map_err(backend)?))
    }

    /// [`GroupCommit::read`] when no other thread holds the state (a commit
    /// may): what an async caller runs on its own thread. `Err(work)` when
    /// it would wait.
    pub fn try_read<T, F>(&self, db: &Database, work: F) -> Result<Result<T, StoreError>, F>
    where
        F: FnOnce(View<'_>) -> Result<T, StoreError>,
    {
        let Some(state) = self.try_lock() else {
            return Err(work);
        };
        if let Some(txn) = &state.open {
            return Ok(work(View::Open(txn)));
        }
        drop(state);
        Ok(db
            .begin_read()
            .map_err(backend)
            .and_then(|txn| work(View::Snapshot(txn))))
    }

    /// Commits the open transaction, if any, without waiting for the disk;
    /// returns the number of the latest transaction.
    pub fn seal(&self) -> Result<u64, StoreError> {
        let mut state = self.lock();
        Self::seal_locked(&mut state)?;
        Ok(state.written)
    }

    /// Whether a transaction numbered `from` to `to` lost its writes.
    pub fn lost_between(&self, from: u64, to: u64) -> bool {
        from <= to && self.lock().lost.range(from..=to).next().is_some()
    }

    /// Returns once transaction `number` (and every one before it) is
    /// durable, running the durable commit itself if none is under way.
    pub fn wait_durable(&self, db: &Database, number: u64) -> Result<(), StoreError> {
        let mut state = self.lock();
        loop {
            if state.durable >= number {
                return Ok(());
            }
            if state.syncing || state.waiting > 0 {
                state = self.wait(state);
                continue;
            }
            Self::seal_locked(&mut state)?;
            let mut txn = db.begin_write().map_err(backend)?;
            txn.set_durability(Durability::Immediate);
            state.syncing = true;
            let target = state.written;
            drop(state);
            // The empty commit persists every commit before it.
            let result = txn.commit().map_err(backend);
            state = self.lock();
            state.syncing = false;
            if result.is_ok() {
                state.durable = state.durable.max(target);
            }
            self.changed.notify_all();
            result?;
        }
    }

    /// Aborts the open transaction: used when the database closes, so its
    /// writes (never flushed) are lost as a crash would lose them.
    pub fn close(&self) {
        if let Some(txn) = self.lock().open.take() {
            drop(txn.abort());
        }
    }

    fn seal_locked(state: &mut State) -> Result<(), StoreError> {
        let Some(mut txn) = state.open.take() else {
            return Ok(());
        };
        txn.set_durability(Durability::None);
        state.written += 1;
        let result = txn.commit().map_err(backend);
        if result.is_err() {
            state.lost.insert(state.written);
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The state, unless another thread holds it.
    fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        match self.state.try_lock() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

#[cfg(test)]
mod tests {
    use redb::{ReadableTable, TableDefinition};

    use super::*;

    const T: TableDefinition<&str, u64> = TableDefinition::new("t");

    fn database(dir: &std::path::Path) -> Database {
        Database::create(dir.join("db.redb")).expect("database")
    }

    fn put(commits: &GroupCommit, db: &Database, key: &str) -> Result<u64, StoreError> {
        commits
            .write(db, |txn| {
                txn.open_table(T)
                    .map_err(backend)?
                    .insert(key, 1)
                    .map_err(backend)?;
                Ok(())
            })
            .map(|((), number)| number)
    }

    fn present(commits: &GroupCommit, db: &Database, key: &str) -> bool {
        commits
            .read(db, |view| match view {
                View::Open(txn) => Ok(txn
                    .open_table(T)
                    .map_err(backend)?
                    .get(key)
                    .map_err(backend)?
                    .is_some()),
                View::Snapshot(txn) => Ok(match txn.open_table(T) {
                    Ok(table) => table.get(key).map_err(backend)?.is_some(),
                    Err(redb::TableError::TableDoesNotExist(_)) => false,
                    Err(e) => return Err(backend(e)),
                }),
            })
            .expect("read")
    }

    #[test]
    fn writes_share_one_transaction_until_sealed() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(dir.path());
        let commits = GroupCommit::default();
        let numbers: Vec<u64> = (0..100)
            .map(|i| put(&commits, &db, &format!("k{i}")).expect("write"))
            .collect();
        assert!(
            numbers.iter().all(|n| *n == 1),
            "one transaction: {numbers:?}"
        );
        assert!(present(&commits, &db, "k99"), "visible before the commit");
        assert_eq!(commits.seal().expect("seal"), 1);
        commits.wait_durable(&db, 1).expect("durable");
        assert!(present(&commits, &db, "k0"), "visible after it");
        assert_eq!(put(&commits, &db, "next").expect("write"), 2);
    }

    #[test]
    fn a_failed_write_loses_its_transaction_and_says_so() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(dir.path());
        let commits = GroupCommit::default();
        let first = put(&commits, &db, "before").expect("write");
        let failed = commits.write(&db, |txn| {
            txn.open_table(T)
                .map_err(backend)?
                .insert("half", 1)
                .map_err(backend)?;
            Err::<(), _>(StoreError::Backend("disk full".into()))
        });
        assert!(failed.is_err());
        assert!(
            commits.lost_between(first, first),
            "the shared writes are lost"
        );
        assert!(!present(&commits, &db, "before"));
        assert!(!present(&commits, &db, "half"));
        let next = put(&commits, &db, "after").expect("write");
        assert!(next > first, "a lost number is never reused");
        let sealed = commits.seal().expect("seal");
        commits.wait_durable(&db, sealed).expect("durable");
        assert!(!commits.lost_between(next, sealed));
        assert!(present(&commits, &db, "after"));
    }

    #[test]
    fn durable_waits_share_one_commit() {
        let dir = tempfile::tempdir().expect("dir");
        let db = std::sync::Arc::new(database(dir.path()));
        let commits = std::sync::Arc::new(GroupCommit::default());
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (db, commits) = (db.clone(), commits.clone());
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let n = put(&commits, &db, &format!("{w}-{i}")).expect("write");
                        commits.wait_durable(&db, n).expect("durable");
                        assert!(!commits.lost_between(n, n));
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().expect("writer");
        }
        let state = commits.lock();
        assert!(state.durable >= state.written && state.written <= 400);
        assert!(state.lost.is_empty());
    }

    #[test]
    fn the_non_waiting_paths_step_aside_rather_than_wait() {
        let dir = tempfile::tempdir().expect("dir");
        let db = database(dir.path());
        let commits = GroupCommit::default();
        put(&commits, &db, "k").expect("write");
        commits.seal().expect("seal");
        let write = |txn: &WriteTransaction| -> Result<(), StoreError> {
            txn.open_table(T)
                .map_err(backend)?
                .insert("fast", 1)
                .map_err(backend)?;
            Ok(())
        };
        // A durable commit holds redb's writer: a write would wait.
        commits.lock().syncing = true;
        assert!(commits.try_write(&db, write).is_err());
        assert!(
            commits.try_read(&db, |_| Ok(())).is_ok(),
            "a read need not wait for it"
        );
        commits.lock().syncing = false;
        // Another thread holds the state: both step aside.
        let held = commits.lock();
        std::thread::scope(|s| {
            s.spawn(|| {
                assert!(commits.try_write(&db, write).is_err());
                assert!(commits.try_read(&db, |_| Ok(())).is_err());
            });
        });
        drop(held);
        let (_, number) = commits
            .try_write(&db, write)
            .unwrap_or_else(|_| panic!("nothing to wait for"))
            .expect("write");
        assert_eq!(number, 2, "into the next transaction like any write");
        assert!(present(&commits, &db, "fast"));
    }
}

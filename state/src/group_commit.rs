//! Group commit for the embedded store: many writes, one fsync.
//!
//! Every write is a non-durable redb commit (visible to readers at once),
//! numbered in commit order. Making writes durable is one empty durable
//! commit, which persists every commit before it; writers waiting at the
//! same time share it. redb commits are serialised, so what survives a
//! crash is always a prefix of the commit order: a durable write implies
//! every write before it is durable too.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use redb::{Database, Durability};

use crate::store::StoreError;

/// Commit numbers: how far writes and durability have got.
#[derive(Debug, Default)]
struct Progress {
    /// Writes committed (non-durably) so far.
    written: u64,
    /// Writes known to be durable.
    durable: u64,
    /// Whether a durable commit is under way.
    flushing: bool,
}

/// The shared group-commit state of one database.
#[derive(Debug, Default)]
pub(crate) struct GroupCommit {
    progress: Mutex<Progress>,
    done: Condvar,
}

impl GroupCommit {
    /// Commits `txn` without waiting for the disk; returns its number.
    pub fn commit(&self, mut txn: redb::WriteTransaction) -> Result<u64, StoreError> {
        txn.set_durability(Durability::None);
        txn.commit().map_err(backend)?;
        let mut progress = self.lock();
        progress.written += 1;
        Ok(progress.written)
    }

    /// The number of the latest write committed.
    pub fn written(&self) -> u64 {
        self.lock().written
    }

    /// Returns once write `number` (and every write before it) is durable,
    /// running the durable commit itself if none is under way.
    pub fn wait_durable(&self, db: &Database, number: u64) -> Result<(), StoreError> {
        let mut progress = self.lock();
        loop {
            if progress.durable >= number {
                return Ok(());
            }
            if progress.flushing {
                progress = self
                    .done
                    .wait(progress)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            progress.flushing = true;
            let target = progress.written;
            drop(progress);
            let result = durable_commit(db);
            progress = self.lock();
            progress.flushing = false;
            if result.is_ok() {
                progress.durable = progress.durable.max(target);
            }
            self.done.notify_all();
            result?;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An empty durable commit: persists every non-durable commit before it.
fn durable_commit(db: &Database) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(backend)?;
    txn.set_durability(Durability::Immediate);
    txn.commit().map_err(backend)
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Backend(e.to_string())
}

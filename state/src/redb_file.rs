//! Opening redb files so that a crash while one is being created leaves
//! either no file or a complete one.
//!
//! redb sizes a new file before it writes the header; a process killed in
//! between leaves a file that every later open refuses ("invalid data").
//! New files are therefore built under a temporary name and renamed into
//! place once complete.

use std::fs::File;
use std::path::{Path, PathBuf};

use redb::{Database, DatabaseError, StorageError};

/// Opens the database at `path` with a page cache of `cache_bytes`,
/// creating it atomically if it is missing.
pub(crate) fn create(path: &Path, cache_bytes: usize) -> Result<Database, DatabaseError> {
    if !path.exists() {
        let partial = partial_path(path);
        // Left over from a crash during an earlier creation: never complete.
        if let Err(e) = std::fs::remove_file(&partial)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(io(e));
        }
        drop(Database::create(&partial)?);
        File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(io)?;
        std::fs::rename(&partial, path).map_err(io)?;
        if let Some(dir) = path.parent() {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
    }
    redb::Builder::new()
        .set_cache_size(cache_bytes)
        .create(path)
}

/// Where a new database is built before it is renamed to `path`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn io(e: std::io::Error) -> DatabaseError {
    DatabaseError::Storage(StorageError::Io(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

    #[test]
    fn a_partial_file_from_a_crashed_creation_is_discarded() -> Result {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state.redb");
        // What a crash between sizing the file and writing its header leaves.
        std::fs::write(partial_path(&path), vec![0u8; 4096])?;
        drop(create(&path, 1 << 20)?);
        assert!(!partial_path(&path).exists());
        // The complete file opens again and keeps what was written.
        let table: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("t");
        let db = create(&path, 1 << 20)?;
        let txn = db.begin_write()?;
        txn.open_table(table)?.insert("k", 1)?;
        txn.commit()?;
        drop(db);
        let db = create(&path, 1 << 20)?;
        let read = db.begin_read()?;
        let value = read.open_table(table)?.get("k")?.map(|v| v.value());
        assert_eq!(value, Some(1));
        Ok(())
    }

    #[test]
    fn redb_refuses_a_file_without_its_header() -> Result {
        // Why creation goes through a temporary name: such a file never
        // opens again.
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state.redb");
        std::fs::write(&path, vec![0u8; 4096])?;
        assert!(Database::create(&path).is_err());
        Ok(())
    }
}

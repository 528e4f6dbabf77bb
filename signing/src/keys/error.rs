//! Key ring errors; they never include key material or file content.

use std::path::PathBuf;

/// Why a key ring could not be loaded, created or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line of the key file is invalid (content is not echoed).
    #[error("malformed key entry on line {line}: {reason}")]
    Malformed {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// No `active` entry was found.
    #[error("no active key")]
    NoActiveKey,
    /// A key id is empty, too long or uses characters outside `[A-Za-z0-9._:-]`.
    #[error("invalid key id (expected 1-128 characters of [A-Za-z0-9._:-])")]
    InvalidKeyId,
    /// The new key id is already used in the ring.
    #[error("key id already in use")]
    KeyIdInUse,
    /// The environment variable is unset or not valid unicode.
    #[error("environment variable {0} is not set or not unicode")]
    EnvMissing(String),
}

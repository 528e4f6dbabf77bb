//! Loading, generating and rotating key files.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand_core::OsRng;
use zeroize::Zeroizing;

use super::{KeyError, KeyRing, format};

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl KeyRing {
    /// Loads a key ring from a key file (format in the module docs).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io_error(path))?);
        format::parse(&text)
    }

    /// Loads a key ring from the key-file text held in environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        let text =
            Zeroizing::new(std::env::var(var).map_err(|_| KeyError::EnvMissing(var.to_owned()))?);
        format::parse(&text)
    }

    /// Parses key-file text (format in the module docs).
    pub fn from_text(text: &str) -> Result<Self, KeyError> {
        format::parse(text)
    }

    /// Creates a new key file (mode 0600) with a fresh random active key.
    ///
    /// Fails if the file already exists.
    pub fn generate_file(path: impl AsRef<Path>, key_id: &str) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let ring = Self::new(key_id, SigningKey::generate(&mut OsRng))?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        let file = open_private(&mut options, path)?;
        write_all(file, path, &format::render(&ring))?;
        Ok(ring)
    }

    /// Retires the file's active key and adds a fresh active key `new_key_id`.
    ///
    /// The file is replaced atomically (written to `<path>.tmp`, then renamed).
    pub fn rotate_file(path: impl AsRef<Path>, new_key_id: &str) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let old = Self::from_file(path)?;
        format::check_key_id(new_key_id)?;
        if old.contains(new_key_id) {
            return Err(KeyError::KeyIdInUse);
        }
        let mut retired = vec![(old.active_id.clone(), old.active.verifying_key())];
        retired.extend(old.retired.iter().cloned());
        let ring = Self {
            active_id: new_key_id.to_owned(),
            active: SigningKey::generate(&mut OsRng),
            retired,
        };
        let tmp = tmp_path(path);
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        let file = open_private(&mut options, &tmp)?;
        write_all(file, &tmp, &format::render(&ring))?;
        std::fs::rename(&tmp, path).map_err(io_error(path))?;
        Ok(ring)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Opens with mode 0600 (also forcing it on a pre-existing file).
fn open_private(options: &mut OpenOptions, path: &Path) -> Result<File, KeyError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        let file = options.open(path).map_err(io_error(path))?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io_error(path))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        options.open(path).map_err(io_error(path))
    }
}

fn write_all(mut file: File, path: &Path, text: &str) -> Result<(), KeyError> {
    file.write_all(text.as_bytes()).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

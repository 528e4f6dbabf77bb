//! The optional `SASL_SSL` client listener of a local node: TLS with a PEM
//! certificate chain and key, and SASL/SCRAM users created when the storage
//! is formatted (`StorageTool format --add-scram`). The inter-broker and
//! controller listeners stay `PLAINTEXT`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::BrokerError;

/// The listener's name in `listeners` and in `listener.name.<name>.…` keys.
pub(crate) const LISTENER: &str = "SASL_SSL";
/// The SCRAM mechanisms the listener accepts; every user gets both.
pub const SCRAM_MECHANISMS: [&str; 2] = ["SCRAM-SHA-256", "SCRAM-SHA-512"];
/// The file in the node's directory holding the key and the certificate
/// chain, the PEM keystore Kafka reads (`ssl.keystore.location`).
const KEYSTORE: &str = "keystore.pem";

/// A `SASL_SSL` client listener: TLS, then a SCRAM login.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslSslListener {
    /// `host:port` it listens on (and advertises).
    pub listen: String,
    /// PEM file of the server certificate, then any intermediates.
    pub certificate: PathBuf,
    /// PEM file of the certificate's unencrypted PKCS#8 private key.
    pub key: PathBuf,
    /// SCRAM users, name → password, created when the storage is formatted.
    pub users: BTreeMap<String, String>,
}

impl std::fmt::Debug for SaslSslListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslSslListener")
            .field("listen", &self.listen)
            .field("certificate", &self.certificate)
            .field("key", &self.key)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl SaslSslListener {
    /// Refuses user names and passwords `--add-scram` cannot carry (a comma
    /// ends a field there) and missing certificate or key files; no error
    /// names a password.
    pub fn check(&self) -> Result<(), BrokerError> {
        let bad = |reason: String| BrokerError::SaslSsl(reason);
        if self.users.is_empty() {
            return Err(bad("no SCRAM user: set broker.scram_users".into()));
        }
        for (name, password) in &self.users {
            if name.is_empty() || name.contains([',', '=', '[', ']', '"']) || name.trim() != name {
                return Err(bad(format!(
                    "SCRAM user name {name:?} is empty or holds one of , = [ ] \" or spaces around it"
                )));
            }
            if password.is_empty() || password.contains(',') || password.trim() != password {
                return Err(bad(format!(
                    "the password of SCRAM user {name:?} is empty, holds a comma or has spaces around it"
                )));
            }
        }
        for (setting, path) in [
            ("broker.tls_certificate", &self.certificate),
            ("broker.tls_key", &self.key),
        ] {
            if !path.is_file() {
                return Err(bad(format!("{setting} ({}) is not a file", path.display())));
            }
        }
        Ok(())
    }

    /// The `server.properties` entries of the listener, its keystore in `dir`.
    pub(crate) fn properties(&self, dir: &Path) -> Vec<(String, String)> {
        let prefix = format!("listener.name.{}", LISTENER.to_ascii_lowercase());
        let mut entries = vec![
            (format!("{prefix}.ssl.keystore.type"), "PEM".to_owned()),
            (
                format!("{prefix}.ssl.keystore.location"),
                dir.join(KEYSTORE).display().to_string(),
            ),
            (
                format!("{prefix}.sasl.enabled.mechanisms"),
                SCRAM_MECHANISMS.join(","),
            ),
        ];
        for mechanism in SCRAM_MECHANISMS {
            entries.push((
                format!(
                    "{prefix}.{}.sasl.jaas.config",
                    mechanism.to_ascii_lowercase()
                ),
                "org.apache.kafka.common.security.scram.ScramLoginModule required;".to_owned(),
            ));
        }
        entries
    }

    /// Writes the PEM keystore (key, then chain) into `dir`, readable by
    /// its owner only.
    pub(crate) fn write_keystore(&self, dir: &Path) -> Result<(), BrokerError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let read =
            |path: &PathBuf| std::fs::read_to_string(path).map_err(|e| BrokerError::io(path, e));
        let text = format!(
            "{}\n{}\n",
            read(&self.key)?.trim(),
            read(&self.certificate)?.trim()
        );
        let path = dir.join(KEYSTORE);
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| BrokerError::io(&path, e))?;
        file.write_all(text.as_bytes())
            .map_err(|e| BrokerError::io(&path, e))
    }

    /// The `--add-scram` arguments of `StorageTool format`: every user
    /// under every mechanism. They hold the passwords: never log them.
    pub(crate) fn format_arguments(&self) -> Vec<String> {
        let mut args = Vec::new();
        for mechanism in SCRAM_MECHANISMS {
            for (name, password) in &self.users {
                args.push("--add-scram".to_owned());
                args.push(format!("{mechanism}=[name={name},password=\"{password}\"]"));
            }
        }
        args
    }

    /// `text` with every password replaced by `***`, for errors that quote
    /// the format command's output.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.users.values().fold(text.to_owned(), |text, password| {
            text.replace(password.as_str(), "***")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(password: &str) -> SaslSslListener {
        SaslSslListener {
            listen: "127.0.0.1:9094".into(),
            certificate: "/nonexistent/cert.pem".into(),
            key: "/nonexistent/key.pem".into(),
            users: [("alice".to_owned(), password.to_owned())].into(),
        }
    }

    #[test]
    fn every_user_gets_both_mechanisms_and_debug_hides_the_passwords() {
        let listener = listener("pa=ss\"word");
        let args = listener.format_arguments();
        assert_eq!(
            args,
            [
                "--add-scram",
                "SCRAM-SHA-256=[name=alice,password=\"pa=ss\"word\"]",
                "--add-scram",
                "SCRAM-SHA-512=[name=alice,password=\"pa=ss\"word\"]",
            ]
        );
        assert!(!format!("{listener:?}").contains("pa=ss"));
        assert_eq!(listener.redact("bad pa=ss\"word here"), "bad *** here");
    }

    #[test]
    fn refuses_passwords_add_scram_cannot_carry_without_naming_them() {
        for password in ["", "a,b", " padded"] {
            let error = listener(password).check().expect_err(password).to_string();
            assert!(error.contains("alice"), "{error}");
            if !password.trim().is_empty() {
                assert!(!error.contains(password.trim()), "{error}");
            }
        }
        let error = listener("fine").check().expect_err("no files").to_string();
        assert!(error.contains("broker.tls_certificate"), "{error}");
    }

    #[test]
    fn the_listener_uses_a_pem_keystore_and_scram() {
        let entries: BTreeMap<_, _> = listener("x")
            .properties(Path::new("/b"))
            .into_iter()
            .collect();
        assert_eq!(entries["listener.name.sasl_ssl.ssl.keystore.type"], "PEM");
        assert_eq!(
            entries["listener.name.sasl_ssl.ssl.keystore.location"],
            "/b/keystore.pem"
        );
        assert_eq!(
            entries["listener.name.sasl_ssl.sasl.enabled.mechanisms"],
            "SCRAM-SHA-256,SCRAM-SHA-512"
        );
        assert_eq!(
            entries["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"],
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        );
    }
}

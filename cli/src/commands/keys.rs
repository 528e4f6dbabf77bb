//! `moneta signing-key …`: Moneta's countersigning keys.
//!
//! Rotation keeps the old key as `retired`: it stays published at
//! `GET /v1/keys`, so every signature made with it keeps verifying, and
//! partners change nothing. Restart the processes to sign with the new key.

use std::process::ExitCode;

use clap::Subcommand;
use moneta_signing::KeyRing;
use moneta_topology::Config;

/// `moneta signing-key …`.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create the key file with a new active key (refuses to overwrite).
    Generate {
        /// The new key's id.
        #[arg(long, default_value = "moneta-1")]
        id: String,
    },
    /// Make a new key active; the current one becomes retired (still published).
    Rotate {
        /// The new key's id.
        #[arg(long)]
        id: String,
    },
    /// Show the public keys (what `GET /v1/keys` publishes).
    Show,
}

/// Runs `moneta signing-key …` on `signing.key_file`.
pub fn execute(config: &Config, command: KeyCommand) -> anyhow::Result<ExitCode> {
    let path = &config.signing.key_file;
    let ring = match command {
        KeyCommand::Generate { id } => KeyRing::generate_file(path, &id)?,
        KeyCommand::Rotate { id } => KeyRing::rotate_file(path, &id)?,
        KeyCommand::Show => KeyRing::from_file(path)?,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&serde_json::json!({"keys": ring.published()}))?
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_the_old_key_published_and_verifying() {
        let dir = tempfile::tempdir().expect("dir");
        let mut config = Config::default();
        config.signing.key_file = dir.path().join("signing.key");
        execute(&config, KeyCommand::Generate { id: "k1".into() }).expect("generate");
        let before = KeyRing::from_file(&config.signing.key_file).expect("ring");
        let (kid, signature) = before.sign(b"terms");
        execute(&config, KeyCommand::Rotate { id: "k2".into() }).expect("rotate");
        let after = KeyRing::from_file(&config.signing.key_file).expect("ring");
        assert_eq!(after.active_id(), "k2");
        let old = after.verifying_key(&kid).expect("k1 still published");
        assert!(old.verify_strict(b"terms", &signature).is_ok());
        let published: Vec<_> = after
            .published()
            .into_iter()
            .map(|k| (k.kid, k.status))
            .collect();
        assert!(
            published.contains(&("k1".into(), "retired".into())),
            "{published:?}"
        );
    }
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, Verifier as _};

use super::*;

const SEED: [u8; 32] = [42u8; 32];

fn seed_b64() -> String {
    STANDARD.encode(SEED)
}

fn public_b64(seed: [u8; 32]) -> String {
    STANDARD.encode(SigningKey::from_bytes(&seed).verifying_key().as_bytes())
}

fn sample_text() -> String {
    format!(
        "# comment\n\nactive k-2 {}\nretired k-1 {}\n",
        seed_b64(),
        public_b64([1u8; 32])
    )
}

#[test]
fn parses_signs_and_publishes() {
    let ring = KeyRing::from_text(&sample_text()).expect("parses");
    assert_eq!(ring.active_id(), "k-2");
    let (kid, sig) = ring.sign(b"contract");
    assert_eq!(kid, "k-2");
    let key = ring.verifying_key("k-2").expect("active key");
    assert!(key.verify_strict(b"contract", &sig).is_ok());
    assert!(ring.verifying_key("k-1").is_some());
    assert!(ring.verifying_key("nope").is_none());

    let published = ring.published();
    assert_eq!(published.len(), 2);
    assert_eq!(published[0].kid, "k-2");
    assert_eq!(published[0].status, "active");
    assert_eq!(published[0].alg, "ed25519");
    assert_eq!(published[0].public_key, public_b64(SEED));
    assert_eq!(published[1].status, "retired");
    let json = serde_json::to_value(&published[1]).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({"kid": "k-1", "alg": "ed25519", "public_key": public_b64([1u8; 32]), "status": "retired"})
    );
}

#[test]
fn env_style_separators_and_missing_var() {
    let text = format!(
        "active a {};retired b {}",
        seed_b64(),
        public_b64([3u8; 32])
    );
    let ring = KeyRing::from_text(&text).expect("parses");
    assert_eq!(ring.published().len(), 2);
    let err = KeyRing::from_env("MONETA_SIGNING_TEST_SURELY_UNSET_VAR").expect_err("unset");
    assert!(matches!(err, KeyError::EnvMissing(_)));
}

#[test]
fn rejects_bad_files_without_echoing_secrets() {
    let seed = seed_b64();
    let bad = [
        format!("active k {seed} extra"),
        format!("active {seed}"),
        format!("active {seed} k"),
        format!("actve k {seed}"),
        format!("active k {}", &seed[..20]),
        format!("active k {seed}\nactive j {seed}"),
        format!("active k {seed}\nretired k {}", public_b64([1u8; 32])),
        format!("retired k {seed}x"),
        "# nothing".to_owned(),
    ];
    for text in &bad {
        let err = KeyRing::from_text(text).expect_err(text);
        let message = err.to_string();
        assert!(!message.contains(&seed), "{message}");
        assert!(!message.contains(&seed[..12]), "{message}");
        assert!(!format!("{err:?}").contains(&seed[..12]));
    }
    let err = KeyRing::from_text(&format!("\nactive k {seed} extra")).expect_err("bad");
    assert_eq!(
        err.to_string().split(':').next(),
        Some("malformed key entry on line 2")
    );
}

#[test]
fn debug_shows_ids_and_public_keys_only() {
    let ring = KeyRing::from_text(&sample_text()).expect("parses");
    let debug = format!("{ring:?}");
    assert!(debug.contains("k-2") && debug.contains("k-1"));
    assert!(debug.contains(&public_b64(SEED)));
    assert!(!debug.contains(&seed_b64()));
    assert!(!debug.contains(&seed_b64()[..12]));
    assert!(!format!("{ring:#?}").contains(&seed_b64()[..12]));
}

#[test]
fn generate_then_rotate_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("keys.txt");
    let generated = KeyRing::generate_file(&path, "moneta-1").expect("generates");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let loaded = KeyRing::from_file(&path).expect("loads");
    assert_eq!(loaded.published(), generated.published());
    let (_, sig) = loaded.sign(b"m");
    assert!(
        generated
            .verifying_key("moneta-1")
            .expect("key")
            .verify(b"m", &sig)
            .is_ok()
    );

    assert!(
        KeyRing::generate_file(&path, "moneta-1").is_err(),
        "no overwrite"
    );
    assert!(matches!(
        KeyRing::rotate_file(&path, "moneta-1"),
        Err(KeyError::KeyIdInUse)
    ));
    assert!(matches!(
        KeyRing::rotate_file(&path, "bad id"),
        Err(KeyError::InvalidKeyId)
    ));

    let rotated = KeyRing::rotate_file(&path, "moneta-2").expect("rotates");
    assert_eq!(rotated.active_id(), "moneta-2");
    let published = rotated.published();
    assert_eq!(published[1].kid, "moneta-1");
    assert_eq!(published[1].status, "retired");
    assert_eq!(published[1].public_key, generated.published()[0].public_key);
    let reloaded = KeyRing::from_file(&path).expect("loads");
    assert_eq!(reloaded.published(), published);

    let again = KeyRing::rotate_file(&path, "moneta-3").expect("rotates");
    let kids: Vec<String> = again.published().into_iter().map(|p| p.kid).collect();
    assert_eq!(kids, ["moneta-3", "moneta-2", "moneta-1"]);
    assert!(!path.with_extension("txt.tmp").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn missing_file_error_names_path() {
    let err = KeyRing::from_file("/nonexistent/moneta/keys.txt").expect_err("missing");
    assert!(err.to_string().contains("/nonexistent/moneta/keys.txt"));
}

#[test]
fn constructors_validate_ids() {
    let key = SigningKey::from_bytes(&SEED);
    assert!(matches!(
        KeyRing::new("", key.clone()),
        Err(KeyError::InvalidKeyId)
    ));
    let ring = KeyRing::new("a", key.clone()).expect("ok");
    assert!(matches!(
        ring.clone().with_retired("a", key.verifying_key()),
        Err(KeyError::KeyIdInUse)
    ));
    let ring = ring.with_retired("b", key.verifying_key()).expect("ok");
    assert_eq!(ring.published().len(), 2);
    assert_eq!(ring.active_key().to_bytes(), SEED);
}

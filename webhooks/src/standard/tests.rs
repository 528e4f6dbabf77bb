#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, SigningKey, Verifier as _};
use moneta_signing::KeyRing;

use super::*;

/// The published Standard Webhooks / Svix test vector.
const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TS: i64 = 1_614_265_330;
const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SPEC_V1: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn spec_msg() -> WebhookMessage<'static> {
    WebhookMessage {
        id: SPEC_ID,
        timestamp: SPEC_TS,
        body: SPEC_BODY,
    }
}

fn ring() -> KeyRing {
    KeyRing::new("moneta-test", SigningKey::from_bytes(&[7; 32])).unwrap()
}

#[test]
fn signed_content_is_id_dot_timestamp_dot_body() {
    assert_eq!(
        signed_content(&spec_msg()),
        br#"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330.{"test": 2432232314}"#.to_vec()
    );
}

#[test]
fn v1_matches_the_spec_vector() {
    let secret = HmacSecret::parse(SPEC_SECRET).unwrap();
    assert_eq!(secret.sign_v1(&spec_msg()), SPEC_V1);
}

#[test]
fn longest_secret_still_signs_correctly() {
    use hmac::{Hmac, Mac as _};
    let raw = [0xa5u8; 64];
    let secret = HmacSecret::from_bytes(&raw).unwrap();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&raw).unwrap();
    mac.update(&signed_content(&spec_msg()));
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(secret.sign_v1(&spec_msg()), expected);
}

#[test]
fn v1a_verifies_with_the_ring_public_key() {
    let keys = ring();
    let sig = sign_v1a(&keys, &spec_msg());
    let b64 = sig.strip_prefix("v1a,").unwrap();
    let bytes: [u8; 64] = STANDARD.decode(b64).unwrap().try_into().unwrap();
    let public = keys.verifying_key(keys.active_id()).unwrap();
    public
        .verify(&signed_content(&spec_msg()), &Signature::from_bytes(&bytes))
        .unwrap();
}

#[test]
fn headers_carry_both_signatures_when_hmac_is_set() {
    let keys = ring();
    let secret = HmacSecret::parse(SPEC_SECRET).unwrap();
    let h = headers(&spec_msg(), &keys, std::slice::from_ref(&secret));
    assert_eq!(h[0], (HEADER_ID, SPEC_ID.to_owned()));
    assert_eq!(h[1], (HEADER_TIMESTAMP, "1614265330".to_owned()));
    let sigs: Vec<&str> = h[2].1.split(' ').collect();
    assert_eq!(sigs.len(), 2);
    assert!(sigs[0].starts_with("v1a,"));
    assert_eq!(sigs[1], SPEC_V1);

    let only_v1a = headers(&spec_msg(), &keys, &[]);
    assert!(only_v1a[2].1.starts_with("v1a,"));
    assert!(!only_v1a[2].1.contains(' '));
}

#[test]
fn secret_parsing_rejects_bad_input_without_echoing_it() {
    assert_eq!(
        HmacSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
        HmacSecretError::MissingPrefix
    );
    assert_eq!(
        HmacSecret::parse("whsec_not*base64").unwrap_err(),
        HmacSecretError::Base64
    );
    assert_eq!(
        HmacSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
        HmacSecretError::Length(5)
    );
    let err = HmacSecret::parse("whsec_c2hvcnQ=").unwrap_err().to_string();
    assert!(!err.contains("c2hvcnQ"));
    // Unpadded base64 is accepted too.
    let padded = HmacSecret::generate().expose_whsec();
    let unpadded = padded.trim_end_matches('=');
    assert!(HmacSecret::parse(unpadded).is_ok());
}

#[test]
fn secret_debug_is_redacted_and_roundtrips_through_whsec() {
    let secret = HmacSecret::parse(SPEC_SECRET).unwrap();
    let debug = format!("{secret:?}");
    assert_eq!(debug, "HmacSecret(<redacted>)");
    assert!(!debug.contains("MfKQ"));
    let again: HmacSecret = secret.expose_whsec().parse().unwrap();
    assert_eq!(again.sign_v1(&spec_msg()), SPEC_V1);
    assert_eq!(secret.expose_whsec().as_str(), SPEC_SECRET);
}

#[test]
fn generated_secrets_differ() {
    let a = HmacSecret::generate().expose_whsec();
    let b = HmacSecret::generate().expose_whsec();
    assert_ne!(a, b);
    assert!(a.starts_with("whsec_"));
}

#[test]
fn webhook_id_is_deterministic_and_input_sensitive() {
    let id = webhook_id("contract-1", 3, "endpoint-a");
    // Pinned: changing the derivation would change ids of in-flight retries.
    assert_eq!(id, "msg_8ea8166ee4dbfd07f6c47b5a8936e3e1");
    assert_eq!(id, webhook_id("contract-1", 3, "endpoint-a"));
    assert!(id.starts_with("msg_"));
    assert_eq!(id.len(), 36);
    assert!(id[4..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_ne!(id, webhook_id("contract-1", 4, "endpoint-a"));
    assert_ne!(id, webhook_id("contract-1", 3, "endpoint-b"));
    assert_ne!(id, webhook_id("contract-2", 3, "endpoint-a"));
    // Length prefixes keep the fields apart.
    assert_ne!(webhook_id("ab", 1, "c"), webhook_id("a", 1, "bc"));
}

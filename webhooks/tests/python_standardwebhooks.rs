//! Cross-checks `v1` signatures with the official Python `standardwebhooks`
//! library (`pip install standardwebhooks`). Skips, saying why, when
//! `python3` or the package is missing.

#![allow(clippy::unwrap_used)]

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use moneta_signing::KeyRing;
use moneta_webhooks::{HmacSecret, WebhookMessage, headers, webhook_id};

/// Reads the body from stdin and the headers/secret from the environment;
/// prints `ok` or `fail: <reason>`.
const VERIFY: &str = r#"
import os, sys
from standardwebhooks.webhooks import Webhook
body = sys.stdin.buffer.read()
hdrs = {
    "webhook-id": os.environ["WH_ID"],
    "webhook-timestamp": os.environ["WH_TS"],
    "webhook-signature": os.environ["WH_SIG"],
}
try:
    Webhook(os.environ["WH_SECRET"]).verify(body, hdrs)
    print("ok")
except Exception as e:
    print("fail: %s" % e)
"#;

fn python_has_standardwebhooks() -> Result<(), String> {
    let out = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err("python package `standardwebhooks` not installed".into())
    }
}

fn python_verify(secret: &str, h: &[(&'static str, String)], body: &[u8]) -> String {
    let get = |name: &str| h.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    let mut child = Command::new("python3")
        .args(["-c", VERIFY])
        .env("WH_SECRET", secret)
        .env("WH_ID", get("webhook-id"))
        .env("WH_TS", get("webhook-timestamp"))
        .env("WH_SIG", get("webhook-signature"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn official_python_library_verifies_our_v1_signatures() {
    if let Err(why) = python_has_standardwebhooks() {
        assert!(
            std::env::var_os("MONETA_REQUIRE_INTEROP").is_none(),
            "MONETA_REQUIRE_INTEROP is set but {why} (scripts/setup.sh installs it)"
        );
        eprintln!("SKIPPED official_python_library_verifies_our_v1_signatures: {why}");
        return;
    }
    let keys = KeyRing::new("moneta-py", SigningKey::from_bytes(&[9; 32])).unwrap();
    let secret = HmacSecret::generate();
    let whsec = secret.expose_whsec();
    let body = br#"{"type":"contract.signed","data":{"contract_id":"c-1","version":7}}"#;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let id = webhook_id("c-1", 7, "ep-py");
    let msg = WebhookMessage {
        id: &id,
        timestamp: now,
        body,
    };

    // `v1a` and `v1` together: the library skips `v1a` and matches `v1`.
    let both = headers(&msg, &keys, std::slice::from_ref(&secret));
    assert_eq!(python_verify(&whsec, &both, body), "ok");

    // A tampered body is rejected.
    assert!(python_verify(&whsec, &both, b"{}").starts_with("fail"));

    // During a secret rotation both secrets sign: a receiver verifies with
    // either, so it can switch whenever it likes within the overlap.
    let new = HmacSecret::generate();
    let rotating = headers(&msg, &keys, &[new.clone(), secret.clone()]);
    assert_eq!(
        python_verify(&whsec, &rotating, body),
        "ok",
        "the old secret"
    );
    assert_eq!(
        python_verify(&new.expose_whsec(), &rotating, body),
        "ok",
        "the new secret"
    );

    // The Python library has no `v1a` (ed25519) support: v1a alone fails.
    let v1a_only = headers(&msg, &keys, &[]);
    assert_eq!(
        python_verify(&whsec, &v1a_only, body),
        "fail: No matching signature found"
    );
}

//! RFC 8785 canonicalization of arbitrary JSON.
//!
//! Oracles: nothing panics; the canonical form is valid JSON, and it is a
//! fixed point: canonicalize(parse(canonicalize(x))) == canonicalize(x).
#![no_main]

use libfuzzer_sys::fuzz_target;
use moneta_signing::canonicalize;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(canonical) = canonicalize(&value) else {
        return;
    };
    let reparsed: serde_json::Value =
        serde_json::from_slice(&canonical).expect("canonical JSON parses");
    let again = canonicalize(&reparsed).expect("canonical JSON canonicalizes");
    assert_eq!(
        String::from_utf8_lossy(&again),
        String::from_utf8_lossy(&canonical),
        "canonicalization is not a fixed point"
    );
});

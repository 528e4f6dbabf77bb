//! Contract JSON as partners send it (the terms they sign) and as the store
//! keeps it (a contract document), and the signing input of each.
//!
//! Oracles: nothing panics; a parsed contract or terms document serializes
//! and parses back to an equal value with the same signing input; a
//! signature made over the signing input verifies.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use moneta_domain::{Contract, ContractTerms};
use moneta_signing::{SigningKey, sign_ed25519, verify_ed25519};

fuzz_target!(|data: &[u8]| {
    if let Ok(terms) = serde_json::from_slice::<ContractTerms>(data) {
        check_terms(&terms);
    }
    if let Ok(contract) = serde_json::from_slice::<Contract>(data) {
        let json = serde_json::to_vec(&contract).expect("a contract serializes");
        let back: Contract = serde_json::from_slice(&json).expect("a contract parses back");
        assert_eq!(back, contract);
        check_terms(&contract.terms());
    }
});

fn check_terms(terms: &ContractTerms) {
    let json = serde_json::to_vec(terms).expect("terms serialize");
    let back: ContractTerms = serde_json::from_slice(&json).expect("terms parse back");
    assert_eq!(&back, terms);
    let Ok(input) = terms.signing_input() else {
        return;
    };
    assert_eq!(back.signing_input().ok(), Some(input.clone()));
    let key = SigningKey::from_bytes(&[9; 32]);
    let signature = sign_ed25519(&key, &input);
    let public = STANDARD.encode(key.verifying_key().to_bytes());
    assert!(verify_ed25519(&public, &input, &signature).is_ok());
}

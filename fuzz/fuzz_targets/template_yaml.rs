//! Contract template YAML (`TemplateDocument::parse`, as `moneta admin`
//! and the template registry take it) and checking payloads against it.
//!
//! Input: `<template YAML>` optionally followed by `\n---payload\n<JSON>`.
//! Oracles: nothing panics; a template that parses serializes to YAML that
//! parses back to an equal template.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moneta_domain::{Party, TemplateDocument};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (yaml, payload) = text.split_once("\n---payload\n").unwrap_or((text, "{}"));
    let Ok(template) = TemplateDocument::parse(yaml) else {
        return;
    };
    let again = serde_norway::to_string(&template).expect("a template serializes");
    let back = TemplateDocument::parse(&again).expect("a serialized template parses");
    assert_eq!(back, template);
    if let Ok(payload) = serde_json::from_str::<serde_json::Value>(payload) {
        let _ = template.payload_errors(&payload);
    }
    for signed in [
        &[][..],
        &[Party::Mo],
        &[Party::Publisher],
        &[Party::Mo, Party::Publisher],
    ] {
        let _ = template.signatures_complete(signed);
        let _ = template.next_signer(signed);
    }
});

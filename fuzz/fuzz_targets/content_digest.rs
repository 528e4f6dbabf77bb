//! RFC 9530 `Content-Digest` parsing and checking.
//!
//! Input: `<header value>\n<body>`. Oracles: nothing panics; the digest we
//! compute for a body always verifies against it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moneta_signing::{content_digest, verify_content_digest};

fuzz_target!(|data: &[u8]| {
    let (header, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    if let Ok(header) = std::str::from_utf8(header)
        && verify_content_digest(header, body).is_ok()
    {
        // A header that verifies holds a correct sha-256 or sha-512 digest.
        assert!(header.contains("sha-256") || header.contains("sha-512"));
    }
    assert_eq!(verify_content_digest(&content_digest(body), body), Ok(()));
});

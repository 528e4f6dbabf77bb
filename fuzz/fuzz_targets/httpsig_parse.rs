//! RFC 9421 `Signature-Input` / `Signature` parsing, the signature base and
//! verification over hostile header values.
//!
//! Input: `<Signature-Input>\n<Signature>\n<extra header lines...>`.
//! Oracles: nothing panics; each parsed signature's `@signature-params`
//! serialization parses back to the same parameters and serialization.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moneta_signing::{
    RequestParts, SigningKey, check_freshness, parse_signatures, parse_signatures_from_headers,
    require_components, verify_request,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let input = lines.next().unwrap_or_default();
    let signature = lines.next().unwrap_or_default();

    if let Ok(parsed) = parse_signatures(input, signature) {
        for sig in &parsed {
            // Re-parse the serialized inner list: a fixed point.
            let again = parse_signatures(
                &format!("{}={}", sig.label, sig.params_serialized),
                &format!("{}=:AA==:", sig.label),
            )
            .expect("the serialized parameters parse again");
            assert_eq!(again.len(), 1);
            assert_eq!(again[0].params, sig.params);
            assert_eq!(again[0].params_serialized, sig.params_serialized);
            let _ = require_components(sig, &["@method", "@path", "content-digest"]);
            let _ = check_freshness(sig, 1_700_000_000, 300, 300);
        }
    }

    // The same through a request: headers from the input, signature base
    // over every derived component, verification with a fixed key.
    let mut headers = http::HeaderMap::new();
    for (name, value) in [("signature-input", input), ("signature", signature)] {
        if let Ok(value) = http::HeaderValue::from_str(value) {
            headers.append(name, value);
        }
    }
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value.as_bytes()),
            )
        {
            headers.append(name, value);
        }
    }
    let Ok(parsed) = parse_signatures_from_headers(&headers) else {
        return;
    };
    let key = SigningKey::from_bytes(&[7; 32]).verifying_key();
    for uri in [
        "/v1/events/subscription_charges?x=1",
        "https://edge.example/v1/keys",
        "*",
    ] {
        let Ok(uri) = uri.parse::<http::Uri>() else {
            continue;
        };
        let parts = RequestParts::new(&http::Method::POST, &uri, &headers);
        for sig in &parsed {
            let _ = verify_request(&parts, sig, &key);
        }
    }
});

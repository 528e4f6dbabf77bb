use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::*;

/// RFC 9421 Appendix B.1.4 `test-key-ed25519` (PKCS#8 / SPKI DER, base64).
const PRIVATE_DER: &str = "MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF";
const PUBLIC_DER: &str = "MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=";

/// RFC 9421 Appendix B.2.6 values.
const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
\"@method\": POST\n\
\"@path\": /foo\n\
\"@authority\": example.com\n\
\"content-type\": application/json\n\
\"content-length\": 18\n\
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

fn last_32(der_b64: &str) -> [u8; 32] {
    let der = STANDARD.decode(der_b64).expect("base64");
    der[der.len() - 32..].try_into().expect("32 bytes")
}

fn test_key() -> SigningKey {
    SigningKey::from_bytes(&last_32(PRIVATE_DER))
}

fn test_public() -> VerifyingKey {
    VerifyingKey::from_bytes(&last_32(PUBLIC_DER)).expect("valid point")
}

/// The RFC 9421 Appendix B.2 test request.
fn test_request() -> (Method, Uri, HeaderMap) {
    let mut headers = HeaderMap::new();
    let fields = [
        ("host", "example.com"),
        ("date", "Tue, 20 Apr 2021 02:07:55 GMT"),
        ("content-type", "application/json"),
        (
            "content-digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        ),
        ("content-length", "18"),
    ];
    for (name, value) in fields {
        headers.insert(name, HeaderValue::from_static(value));
    }
    (
        Method::POST,
        Uri::from_static("/foo?param=Value&Pow"),
        headers,
    )
}

fn b26_params() -> SignatureParams {
    SignatureParams {
        created: Some(1618884473),
        keyid: Some("test-key-ed25519".into()),
        ..SignatureParams::new(&[
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ])
    }
}

#[test]
fn rfc9421_b26_key_pair_matches() {
    assert_eq!(test_key().verifying_key(), test_public());
}

#[test]
fn rfc9421_b26_signature_base() {
    let (m, u, h) = test_request();
    let parts = RequestParts::new(&m, &u, &h);
    let params = b26_params();
    let serialized = params.serialize().expect("serializable");
    let base = signature_base(&parts, &serialized, &params.components).expect("base");
    assert_eq!(base, B26_BASE);
}

#[test]
fn rfc9421_b26_signing_reproduces_rfc_signature() {
    let (m, u, h) = test_request();
    let parts = RequestParts::new(&m, &u, &h);
    let signed = sign_request(&parts, "sig-b26", &b26_params(), &test_key()).expect("signs");
    assert_eq!(signed.signature_input, B26_INPUT);
    assert_eq!(signed.signature, B26_SIGNATURE);
}

#[test]
fn rfc9421_b26_verifies_and_detects_tampering() {
    let (m, u, mut h) = test_request();
    let sigs = parse_signatures(B26_INPUT, B26_SIGNATURE).expect("parses");
    assert_eq!(sigs.len(), 1);
    let sig = &sigs[0];
    assert_eq!(sig.label, "sig-b26");
    assert_eq!(sig.params, b26_params());
    assert_eq!(sig.params_serialized, &B26_INPUT["sig-b26=".len()..]);
    assert_eq!(
        verify_request(&RequestParts::new(&m, &u, &h), sig, &test_public()),
        Ok(())
    );

    h.insert("content-type", HeaderValue::from_static("text/plain"));
    let err = verify_request(&RequestParts::new(&m, &u, &h), sig, &test_public());
    assert_eq!(err, Err(SigError::BadSignature));
    assert_eq!(SigError::BadSignature.code(), "bad_signature");

    // Uncovered parts of the request (the query) may change.
    let (m, _, h) = test_request();
    let other = Uri::from_static("/foo?param=other");
    assert_eq!(
        verify_request(&RequestParts::new(&m, &other, &h), sig, &test_public()),
        Ok(())
    );
}

#[test]
fn wrong_key_is_rejected() {
    let (m, u, h) = test_request();
    let sig = &parse_signatures(B26_INPUT, B26_SIGNATURE).expect("parses")[0];
    let other = SigningKey::from_bytes(&[7u8; 32]).verifying_key();
    let err = verify_request(&RequestParts::new(&m, &u, &h), sig, &other);
    assert_eq!(err, Err(SigError::BadSignature));
}

#[test]
fn multiple_labels_parse_in_order() {
    let input =
        format!(r#"{B26_INPUT}, sig2=("@method" "@query");created=5;alg="ed25519";x-ext=?1"#);
    let signature = format!(
        "sig2=:{}:, {B26_SIGNATURE}, orphan=:AA==:",
        STANDARD.encode([0u8; 64])
    );
    let sigs = parse_signatures(&input, &signature).expect("parses");
    let labels: Vec<&str> = sigs.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["sig-b26", "sig2"]);
    assert_eq!(sigs[1].params.alg.as_deref(), Some("ed25519"));
    assert_eq!(
        sigs[1].params_serialized,
        r#"("@method" "@query");created=5;alg="ed25519";x-ext"#
    );
    assert_eq!(sigs[1].signature, vec![0u8; 64]);

    let (m, u, mut h) = test_request();
    h.insert(
        "signature-input",
        HeaderValue::from_str(B26_INPUT).expect("ascii"),
    );
    h.append(
        "signature-input",
        HeaderValue::from_static(r#"sig2=("@method");created=5"#),
    );
    h.insert(
        "signature",
        HeaderValue::from_str(&signature).expect("ascii"),
    );
    let sigs = parse_signatures_from_headers(&h).expect("parses");
    assert_eq!(sigs.len(), 2);
    let parts = RequestParts::new(&m, &u, &h);
    assert_eq!(verify_request(&parts, &sigs[0], &test_public()), Ok(()));
}

#[test]
fn malformed_and_missing_signatures() {
    let cases = [
        (
            "sig1=(\"@method\"",
            "sig1=:AA==:",
            "malformed_signature_header",
        ),
        ("sig1=\"x\"", "sig1=:AA==:", "malformed_signature_header"),
        (
            "sig1=(\"@method\")",
            "sig1=\"x\"",
            "malformed_signature_header",
        ),
        ("sig1=(\"@method\")", "other=:AA==:", "missing_signature"),
        ("", "", "missing_signature"),
        (
            "sig1=(\"@method\" \"@method\")",
            "sig1=:AA==:",
            "malformed_signature_header",
        ),
        (
            "sig1=(\"content-digest\";sf)",
            "sig1=:AA==:",
            "unsupported_component",
        ),
        (
            "sig1=(\"@method\");created=\"1\"",
            "sig1=:AA==:",
            "malformed_signature_header",
        ),
    ];
    for (input, sig, code) in cases {
        let err = parse_signatures(input, sig).expect_err(input);
        assert_eq!(err.code(), code, "{input} / {sig}: {err}");
    }
    let err = parse_signatures_from_headers(&HeaderMap::new()).expect_err("none");
    assert_eq!(err.code(), "missing_signature");
}

#[test]
fn other_algorithms_are_refused() {
    let (m, u, h) = test_request();
    let parts = RequestParts::new(&m, &u, &h);
    let input = r#"sig1=("@method");created=1;alg="rsa-pss-sha512""#;
    let sig = &parse_signatures(input, "sig1=:AA==:").expect("parses")[0];
    let err = verify_request(&parts, sig, &test_public()).expect_err("refused");
    assert_eq!(err, SigError::UnsupportedAlgorithm("rsa-pss-sha512".into()));
    assert_eq!(err.code(), "unsupported_algorithm");

    let params = SignatureParams {
        alg: Some("hmac-sha256".into()),
        ..SignatureParams::new(&["@method"])
    };
    let err = sign_request(&parts, "sig1", &params, &test_key()).expect_err("refused");
    assert_eq!(err.code(), "unsupported_algorithm");
}

#[test]
fn tampered_body_or_digest_is_detected() {
    let body = b"{\"hello\": \"world\"}";
    let (m, u, mut h) = test_request();
    let digest = crate::content_digest(body);
    h.insert(
        "content-digest",
        HeaderValue::from_str(&digest).expect("ascii"),
    );
    let params = SignatureParams {
        created: Some(1_700_000_000),
        keyid: Some("moneta-1".into()),
        alg: Some("ed25519".into()),
        ..SignatureParams::new(&["@method", "@target-uri", "content-digest"])
    };
    let key = test_key();
    let signed =
        sign_request(&RequestParts::new(&m, &u, &h), "sig1", &params, &key).expect("signs");
    let sig = &parse_signatures(&signed.signature_input, &signed.signature).expect("parses")[0];
    assert_eq!(sig.params, params);
    assert_eq!(
        verify_request(&RequestParts::new(&m, &u, &h), sig, &test_public()),
        Ok(())
    );

    // Body changed, digest header kept: the signature holds but the digest fails.
    let tampered = b"{\"hello\": \"World\"}";
    let err = crate::verify_content_digest(&digest, tampered).expect_err("mismatch");
    assert_eq!(err.code(), "digest_mismatch");

    // Digest header replaced to match the tampered body: the signature fails.
    let forged = crate::content_digest(tampered);
    h.insert(
        "content-digest",
        HeaderValue::from_str(&forged).expect("ascii"),
    );
    assert_eq!(
        verify_request(&RequestParts::new(&m, &u, &h), sig, &test_public()),
        Err(SigError::BadSignature)
    );
}

#[test]
fn derived_components_follow_rfc_section_2_2() {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("www.example.com"));
    h.append("x-multi", HeaderValue::from_static("  a, b "));
    h.append("x-multi", HeaderValue::from_static("c\t"));
    let m = Method::POST;
    let u = Uri::from_static("/path?param=value&foo=bar&baz=bat%2Dman");
    let parts = RequestParts::new(&m, &u, &h);
    let value = |c: &str| {
        let base = signature_base(&parts, "()", &[c.to_owned()]).expect(c);
        base.lines().next().expect("line").to_owned()
    };
    assert_eq!(value("@method"), "\"@method\": POST");
    assert_eq!(value("@authority"), "\"@authority\": www.example.com");
    assert_eq!(value("@scheme"), "\"@scheme\": http");
    assert_eq!(value("@path"), "\"@path\": /path");
    assert_eq!(
        value("@query"),
        "\"@query\": ?param=value&foo=bar&baz=bat%2Dman"
    );
    assert_eq!(
        value("@request-target"),
        "\"@request-target\": /path?param=value&foo=bar&baz=bat%2Dman"
    );
    assert_eq!(value("x-multi"), "\"x-multi\": a, b, c");

    let abs = Uri::from_static("https://WWW.Example.com/path?param=value");
    let parts = RequestParts::new(&m, &abs, &h);
    let base = signature_base(&parts, "()", &["@target-uri".into(), "@scheme".into()]).expect("ok");
    assert!(base.starts_with(
        "\"@target-uri\": https://www.example.com/path?param=value\n\"@scheme\": https\n"
    ));

    let bare = Uri::from_static("/path");
    let parts = RequestParts {
        authority: Some("api.example.com:8443"),
        ..RequestParts::new(&m, &bare, &h)
    };
    let base = signature_base(&parts, "()", &["@query".into(), "@target-uri".into()]).expect("ok");
    assert!(base.starts_with("\"@query\": ?\n\"@target-uri\": http://api.example.com:8443/path\n"));
}

#[test]
fn unsupported_and_absent_components() {
    let (m, u, h) = test_request();
    let parts = RequestParts::new(&m, &u, &h);
    for (component, code) in [
        ("@status", "unsupported_component"),
        ("@query-param", "unsupported_component"),
        ("Content-Type", "unsupported_component"),
        ("x-absent", "absent_field"),
    ] {
        let err = signature_base(&parts, "()", &[component.into()]).expect_err(component);
        assert_eq!(err.code(), code, "{component}");
    }
    let empty = HeaderMap::new();
    let parts = RequestParts::new(&m, &u, &empty);
    let err = signature_base(&parts, "()", &["@authority".into()]).expect_err("no host");
    assert_eq!(err.code(), "absent_field");
}

#[test]
fn policy_helpers() {
    let sig = &parse_signatures(B26_INPUT, B26_SIGNATURE).expect("parses")[0];
    assert_eq!(require_components(sig, &["@method", "Date"]), Ok(()));
    let err = require_components(sig, &["@method", "content-digest"]).expect_err("missing");
    assert_eq!(err, SigError::MissingComponent("content-digest".into()));
    assert_eq!(err.code(), "missing_component");
    assert!(err.to_string().contains("content-digest"));

    let created = 1618884473;
    assert_eq!(check_freshness(sig, created + 10, 300, 30), Ok(()));
    for now in [created + 301, created - 31] {
        let err = check_freshness(sig, now, 300, 30).expect_err("stale");
        assert_eq!(err.code(), "stale_signature");
    }
}

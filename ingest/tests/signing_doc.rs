//! docs/signing.md's worked example, recomputed: every value the document
//! shows (public key, canonical terms, contract signature, Kafka signing
//! input, request body, Content-Digest, signature base, Signature) is what
//! Moneta's own code computes, byte for byte.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use moneta_domain::ContractTerms;
use moneta_signing::{RequestParts, SignatureParams, SigningKey, content_digest, sign_ed25519};

/// RFC 8032 §7.1 test 1's secret key: partners can check the public key.
const SECRET_HEX: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn key() -> SigningKey {
    let bytes: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&SECRET_HEX[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    SigningKey::from_bytes(&bytes.try_into().expect("32 bytes"))
}

fn terms() -> ContractTerms {
    ContractTerms {
        contract_id: "c-example-1".into(),
        contract_type: "subscription_charge".into(),
        template_name: "subscription-charge".into(),
        template_version: 1,
        mo_id: "mo-acme".into(),
        publisher_id: "pub-globe".into(),
        mpass_id: Some("mp-0001".into()),
        description: "Globe News Gold, November 2026".into(),
        terms: serde_json::json!({
            "subscription_id": "sub-42",
            "mpass_number": "0001",
            "amount_minor": 999,
            "currency": "EUR",
            "charged_at": "2026-11-23T12:00:00Z"
        }),
    }
}

/// Everything the document shows, computed.
fn example() -> Vec<(&'static str, String)> {
    let key = key();
    let terms = terms();
    let input = terms.signing_input().expect("canonical terms");
    let signature = sign_ed25519(&key, &input);
    // Kafka: terms_json in any member order and spacing signs the same bytes.
    let terms_json = r#"{ "currency": "EUR", "amount_minor": 999, "charged_at": "2026-11-23T12:00:00Z", "subscription_id": "sub-42", "mpass_number": "0001" }"#;
    let from_kafka = ContractTerms {
        terms: serde_json::from_str(terms_json).expect("terms_json"),
        ..terms.clone()
    };
    assert_eq!(from_kafka.signing_input().expect("canonical"), input);
    let body = serde_json::json!({
        "event_id": "ev-example-1",
        "contract": terms.document(),
        "signature": {"party": "publisher", "key_id": "key-globe-1",
                      "signature": signature, "signed_at": 1_795_435_200},
    })
    .to_string();
    let digest = content_digest(body.as_bytes());
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().expect("header"));
    headers.insert("content-digest", digest.parse().expect("header"));
    let method = http::Method::POST;
    let uri: http::Uri = "/v1/events/subscription_charges".parse().expect("uri");
    let parts = RequestParts::new(&method, &uri, &headers);
    let mut params = SignatureParams::new(&["@method", "@path", "content-digest"]);
    params.created = Some(1_795_435_200);
    params.keyid = Some("key-globe-1".into());
    params.alg = Some("ed25519".into());
    params.nonce = Some("n-example-1".into());
    let serialized = params.serialize().expect("params");
    let base = moneta_signing::httpsig::signature_base(&parts, &serialized, &params.components)
        .expect("base");
    let signed = moneta_signing::sign_request(&parts, "sig1", &params, &key).expect("signed");
    vec![
        (
            "public key",
            STANDARD.encode(key.verifying_key().to_bytes()),
        ),
        (
            "public key (hex)",
            format!(
                "public key (hex): {}",
                key.verifying_key()
                    .to_bytes()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            ),
        ),
        ("signing input", String::from_utf8(input).expect("utf-8")),
        ("contract signature", signature),
        ("terms_json", terms_json.to_owned()),
        ("body", body),
        ("Content-Digest", format!("Content-Digest: {digest}")),
        ("signature base", base),
        (
            "Signature-Input",
            format!("Signature-Input: {}", signed.signature_input),
        ),
        ("Signature", format!("Signature: {}", signed.signature)),
    ]
}

#[test]
fn the_worked_example_is_what_the_code_computes() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/signing.md");
    let doc = std::fs::read_to_string(&path).unwrap_or_default();
    let mut missing = Vec::new();
    for (what, value) in example() {
        if !doc.contains(&value) {
            missing.push(format!("--- {what}:\n{value}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/signing.md does not show these values as the code computes them:\n{}",
        missing.join("\n")
    );
}

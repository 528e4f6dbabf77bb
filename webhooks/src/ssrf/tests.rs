#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use super::*;

const STRICT: SsrfPolicy = SsrfPolicy {
    allow_loopback: false,
    allow_private: false,
};
const LOOPBACK: SsrfPolicy = SsrfPolicy {
    allow_loopback: true,
    allow_private: false,
};
const PRIVATE: SsrfPolicy = SsrfPolicy {
    allow_loopback: false,
    allow_private: true,
};
const BOTH: SsrfPolicy = SsrfPolicy {
    allow_loopback: true,
    allow_private: true,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// `(address, strict, loopback allowed, private allowed, both allowed)`:
/// `true` means forbidden.
const TABLE: &[(&str, bool, bool, bool, bool)] = &[
    // Public.
    ("93.184.216.34", false, false, false, false),
    ("8.8.8.8", false, false, false, false),
    ("2606:4700::1111", false, false, false, false),
    ("172.32.0.1", false, false, false, false),
    ("172.15.255.255", false, false, false, false),
    ("100.63.255.255", false, false, false, false),
    ("100.128.0.0", false, false, false, false),
    ("169.253.255.255", false, false, false, false),
    ("223.255.255.255", false, false, false, false),
    // Loopback.
    ("127.0.0.1", true, false, true, false),
    ("127.255.255.254", true, false, true, false),
    ("::1", true, false, true, false),
    ("::ffff:127.0.0.1", true, false, true, false),
    // RFC 1918.
    ("10.0.0.1", true, true, false, false),
    ("10.255.255.255", true, true, false, false),
    ("172.16.0.1", true, true, false, false),
    ("172.31.255.255", true, true, false, false),
    ("192.168.1.1", true, true, false, false),
    ("::ffff:10.1.2.3", true, true, false, false),
    ("::ffff:192.168.0.1", true, true, false, false),
    // CGNAT 100.64/10.
    ("100.64.0.1", true, true, false, false),
    ("100.127.255.255", true, true, false, false),
    ("::ffff:100.64.0.1", true, true, false, false),
    // Unique local fc00::/7 and old site-local.
    ("fc00::1", true, true, false, false),
    ("fd12:3456::1", true, true, false, false),
    ("fec0::1", true, true, false, false),
    // Link-local: always.
    ("169.254.169.254", true, true, true, true),
    ("169.254.0.1", true, true, true, true),
    ("fe80::1", true, true, true, true),
    ("febf::1", true, true, true, true),
    ("::ffff:169.254.169.254", true, true, true, true),
    // Unspecified / "this network": always.
    ("0.0.0.0", true, true, true, true),
    ("0.1.2.3", true, true, true, true),
    ("::", true, true, true, true),
    ("::ffff:0.0.0.0", true, true, true, true),
    // Multicast: always.
    ("224.0.0.1", true, true, true, true),
    ("239.255.255.250", true, true, true, true),
    ("ff02::1", true, true, true, true),
    ("ff0e::1", true, true, true, true),
    ("::ffff:224.0.0.1", true, true, true, true),
    // Broadcast and reserved: always.
    ("255.255.255.255", true, true, true, true),
    ("240.0.0.1", true, true, true, true),
    ("::ffff:255.255.255.255", true, true, true, true),
    // IPv4-compatible (deprecated): always.
    ("::10.0.0.1", true, true, true, true),
    ("::8.8.8.8", true, true, true, true),
    // NAT64 judged by the embedded address.
    ("64:ff9b::8.8.8.8", false, false, false, false),
    ("64:ff9b::7f00:1", true, false, true, false),
    ("64:ff9b::a9fe:a9fe", true, true, true, true),
    // Mapped public stays public.
    ("::ffff:8.8.8.8", false, false, false, false),
];

#[test]
fn every_range_under_every_policy() {
    for &(addr, strict, loopback, private, both) in TABLE {
        let a = ip(addr);
        assert_eq!(is_forbidden(a, &STRICT), strict, "{addr} strict");
        assert_eq!(is_forbidden(a, &LOOPBACK), loopback, "{addr} loopback");
        assert_eq!(is_forbidden(a, &PRIVATE), private, "{addr} private");
        assert_eq!(is_forbidden(a, &BOTH), both, "{addr} both");
    }
}

#[tokio::test]
async fn ip_literals_are_checked_without_dns() {
    let t = check("http://127.0.0.1:8080/hook", &LOOPBACK)
        .await
        .unwrap();
    assert_eq!(t.host, "127.0.0.1");
    assert!(t.is_ip_literal);
    assert_eq!(t.addrs, vec!["127.0.0.1:8080".parse().unwrap()]);

    let t = check("https://[::1]/hook", &LOOPBACK).await.unwrap();
    assert_eq!(t.host, "[::1]");
    assert_eq!(t.port, 443);

    assert_eq!(
        check("http://127.0.0.1/", &STRICT).await,
        Err(SsrfError::Forbidden {
            host: "127.0.0.1".into(),
            ip: ip("127.0.0.1")
        })
    );
    assert!(matches!(
        check("http://[::ffff:169.254.169.254]/", &BOTH).await,
        Err(SsrfError::Forbidden { .. })
    ));
}

#[tokio::test]
async fn obfuscated_ipv4_forms_are_normalized_then_refused() {
    for url in [
        "http://2130706433/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
    ] {
        let err = check(url, &STRICT).await.unwrap_err();
        assert_eq!(
            err,
            SsrfError::Forbidden {
                host: "127.0.0.1".into(),
                ip: ip("127.0.0.1")
            },
            "{url}"
        );
    }
}

#[tokio::test]
async fn localhost_name_is_resolved_and_refused_unless_allowed() {
    let err = check("http://localhost:9/", &STRICT).await.unwrap_err();
    assert!(matches!(err, SsrfError::Forbidden { .. }), "{err:?}");
    let ok = check("http://localhost:9/", &LOOPBACK).await.unwrap();
    assert!(!ok.is_ip_literal);
    assert!(
        ok.addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 9)
    );
}

#[tokio::test]
async fn only_http_and_https() {
    for (url, scheme) in [
        ("ftp://example.com/", "ftp"),
        ("file:///etc/passwd", "file"),
        ("gopher://127.0.0.1/", "gopher"),
    ] {
        assert_eq!(
            check(url, &BOTH).await,
            Err(SsrfError::Scheme(scheme.into()))
        );
    }
    assert_eq!(check("not a url", &BOTH).await, Err(SsrfError::InvalidUrl));
}

#[tokio::test]
async fn dns_failures_are_transient() {
    let err = check("http://does-not-exist.invalid/", &STRICT)
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(!SsrfError::InvalidUrl.is_transient());
}

#[tokio::test]
async fn errors_do_not_echo_the_url() {
    let e = check("http://127.0.0.1/hook?token=s3cret", &STRICT)
        .await
        .unwrap_err()
        .to_string();
    assert!(!e.contains("s3cret"), "{e}");
    let e = check("gopher://u:s3cret@x/", &STRICT).await.unwrap_err();
    assert!(!e.to_string().contains("s3cret"));
}

#[test]
fn policy_deserializes_with_defaults() {
    let p: SsrfPolicy = serde_json::from_str(r#"{"allow_loopback": true}"#).unwrap();
    assert_eq!(p, LOOPBACK);
    assert_eq!(SsrfPolicy::default(), STRICT);
}

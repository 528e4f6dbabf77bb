//! Address classification.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::SsrfPolicy;

/// Whether `ip` must not be connected to under `policy`.
///
/// Always forbidden: unspecified (0.0.0.0/8, ::), link-local (169.254.0.0/16,
/// fe80::/10 — cloud metadata lives here), multicast (224.0.0.0/4, ff00::/8),
/// broadcast and reserved (240.0.0.0/4 including 255.255.255.255) and
/// deprecated IPv4-compatible IPv6 (::a.b.c.d).
/// Forbidden unless `allow_loopback`: 127.0.0.0/8, ::1.
/// Forbidden unless `allow_private`: 10/8, 172.16/12, 192.168/16,
/// 100.64/10 (CGNAT), fc00::/7 (ULA), fec0::/10 (old site-local).
/// IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses are
/// judged by their embedded IPv4 address.
pub fn is_forbidden(ip: IpAddr, policy: &SsrfPolicy) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_forbidden(v4, policy),
        IpAddr::V6(v6) => v6_forbidden(v6, policy),
    }
}

fn v4_forbidden(ip: Ipv4Addr, policy: &SsrfPolicy) -> bool {
    let [a, b, ..] = ip.octets();
    let always = a == 0 // "this network", includes 0.0.0.0
        || ip.is_link_local()
        || ip.is_multicast()
        || a >= 240; // reserved 240/4 and broadcast
    let loopback = ip.is_loopback();
    let private = ip.is_private() || (a == 100 && (64..128).contains(&b));
    always || (loopback && !policy.allow_loopback) || (private && !policy.allow_private)
}

fn v6_forbidden(ip: Ipv6Addr, policy: &SsrfPolicy) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return v4_forbidden(v4, policy);
    }
    let seg = ip.segments();
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = seg;
        let v4 = Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
        return v4_forbidden(v4, policy);
    }
    let loopback = ip.is_loopback();
    let always = ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (!loopback && seg[..6] == [0; 6]); // IPv4-compatible ::a.b.c.d
    let private = (seg[0] & 0xfe00) == 0xfc00 // ULA fc00::/7
        || (seg[0] & 0xffc0) == 0xfec0; // site-local fec0::/10
    always || (loopback && !policy.allow_loopback) || (private && !policy.allow_private)
}

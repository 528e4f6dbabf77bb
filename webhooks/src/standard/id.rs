//! Deterministic message ids.

use sha2::{Digest as _, Sha256};

/// The `webhook-id` for one contract version sent to one endpoint:
/// `msg_` + lowercase hex of the first 16 bytes of
/// `SHA-256("moneta-webhook-id/v1\0" ‖ u64be(len c) ‖ c ‖ u64be(len e) ‖ e ‖ u64be(version))`
/// where `c`/`e` are the UTF-8 contract and endpoint ids. The same inputs always give the same id, so
/// every retry — and a replay after a restart — carries the same id and
/// receivers can deduplicate on it.
pub fn webhook_id(contract_id: &str, version: u64, endpoint_id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"moneta-webhook-id/v1\0");
    for part in [contract_id.as_bytes(), endpoint_id.as_bytes()] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.update(version.to_be_bytes());
    let digest = hash.finalize();
    let mut id = String::with_capacity(36);
    id.push_str("msg_");
    for byte in &digest[..16] {
        id.push(char::from(HEX[usize::from(byte >> 4)]));
        id.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

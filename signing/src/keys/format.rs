//! Parsing and rendering the key file text format.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use super::{KeyError, KeyRing};

/// Checks a key id: 1–128 characters of `[A-Za-z0-9._:-]`.
pub(super) fn check_key_id(id: &str) -> Result<(), KeyError> {
    let ok = (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._:-".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(KeyError::InvalidKeyId)
    }
}

fn malformed(line: usize, reason: &'static str) -> KeyError {
    KeyError::Malformed { line, reason }
}

fn decode_32(line: usize, b64: &str, what: &'static str) -> Result<Zeroizing<[u8; 32]>, KeyError> {
    let bytes = Zeroizing::new(STANDARD.decode(b64).map_err(|_| malformed(line, what))?);
    let mut out = Zeroizing::new([0u8; 32]);
    if bytes.len() != 32 {
        return Err(malformed(line, what));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// Parses key file text (`;` also separates entries).
pub(super) fn parse(text: &str) -> Result<KeyRing, KeyError> {
    let mut active: Option<(String, SigningKey)> = None;
    let mut retired: Vec<(String, VerifyingKey)> = Vec::new();
    for (index, raw) in text.split(['\n', ';']).enumerate() {
        let line = index + 1;
        let entry = raw.trim();
        if entry.is_empty() || entry.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = entry.split_whitespace().collect();
        let [kind, id, b64] = fields[..] else {
            return Err(malformed(
                line,
                "expected `<active|retired> <key_id> <base64>`",
            ));
        };
        check_key_id(id).map_err(|_| malformed(line, "invalid key id"))?;
        let duplicate =
            active.as_ref().is_some_and(|(a, _)| a == id) || retired.iter().any(|(r, _)| r == id);
        if duplicate {
            return Err(malformed(line, "duplicate key id"));
        }
        match kind {
            "active" => {
                if active.is_some() {
                    return Err(malformed(line, "more than one active key"));
                }
                let seed = decode_32(line, b64, "active key must be a base64 32-byte seed")?;
                active = Some((id.to_owned(), SigningKey::from_bytes(&seed)));
            }
            "retired" => {
                let what = "retired key must be a base64 32-byte ed25519 public key";
                let bytes = decode_32(line, b64, what)?;
                let key = VerifyingKey::from_bytes(&bytes).map_err(|_| malformed(line, what))?;
                retired.push((id.to_owned(), key));
            }
            _ => return Err(malformed(line, "entry kind must be `active` or `retired`")),
        }
    }
    let (active_id, active) = active.ok_or(KeyError::NoActiveKey)?;
    Ok(KeyRing {
        active_id,
        active,
        retired,
    })
}

/// Renders a ring in the key file format (contains the secret seed).
pub(super) fn render(ring: &KeyRing) -> Zeroizing<String> {
    let seed = Zeroizing::new(STANDARD.encode(ring.active.to_bytes()));
    let mut out = Zeroizing::new(String::from(
        "# Moneta signing keys: `active <id> <seed>` / `retired <id> <public key>`.\n\
         # Keep this file mode 0600.\n",
    ));
    out.push_str("active ");
    out.push_str(&ring.active_id);
    out.push(' ');
    out.push_str(&seed);
    out.push('\n');
    for (id, key) in &ring.retired {
        out.push_str(&format!(
            "retired {id} {}\n",
            STANDARD.encode(key.as_bytes())
        ));
    }
    out
}

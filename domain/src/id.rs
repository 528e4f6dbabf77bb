//! What an id may be: every id Moneta keys by (registry records, contracts,
//! events) is 1 to [`MAX_ID_LEN`] characters of `A-Z a-z 0-9 - _ . :`, so
//! it is safe in a URL path segment and never contains the separators of
//! composite keys (`/`, `|`, U+001F).

/// Longest id.
pub const MAX_ID_LEN: usize = 128;

/// The rule, for error messages.
pub const ID_RULE: &str = "1-128 characters of A-Z a-z 0-9 - _ . :";

/// Whether `id` follows the rule.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}

/// Whether `id` is a UUID version 4 (RFC 9562, hyphenated, any case): how
/// the design document keys organizations, MOs, publishers, developers,
/// mPasses and billing accounts.
pub fn is_uuid_v4(id: &str) -> bool {
    let bytes = id.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
        && bytes[14] == b'4'
        && matches!(bytes[19].to_ascii_lowercase(), b'8' | b'9' | b'a' | b'b')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_is_hyphenated_hex_of_version_4_and_variant_10() {
        assert!(is_uuid_v4("3f2b8c1e-9d4a-4e6b-8f1c-2a7d9e0b5c43"));
        assert!(is_uuid_v4("3F2B8C1E-9D4A-4E6B-BF1C-2A7D9E0B5C43"));
        for bad in [
            "mo-acme",
            "3f2b8c1e-9d4a-1e6b-8f1c-2a7d9e0b5c43",
            "3f2b8c1e-9d4a-4e6b-cf1c-2a7d9e0b5c43",
            "3f2b8c1e9d4a4e6b8f1c2a7d9e0b5c43",
            "3f2b8c1e-9d4a-4e6b-8f1c-2a7d9e0b5c4g",
            "{3f2b8c1e-9d4a-4e6b-8f1c-2a7d9e0b5c43}",
        ] {
            assert!(!is_uuid_v4(bad), "{bad}");
        }
    }

    #[test]
    fn ids_are_safe_in_paths_and_keys() {
        for ok in ["mo-acme", "c:2026.11_01", &"a".repeat(128)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", "a/b", "a|b", "a\u{1f}b", "é", "a b", &"a".repeat(129)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}

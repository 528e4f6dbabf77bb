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

#[cfg(test)]
mod tests {
    use super::*;

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

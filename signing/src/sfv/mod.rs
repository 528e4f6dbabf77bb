//! Minimal RFC 8941 structured-field parser and serializer.
//!
//! Covers dictionaries whose members are items or inner lists, with
//! parameters, and every bare item type (integers, decimals, strings,
//! tokens, byte sequences, booleans). That is what `Signature-Input`,
//! `Signature` and `Content-Digest` need.

mod parse;
mod serialize;
#[cfg(test)]
mod tests;

pub(crate) use parse::parse_dictionary;
pub(crate) use serialize::serialize_inner_list;

/// A structured-field bare item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BareItem {
    /// `sf-integer`.
    Integer(i64),
    /// `sf-decimal`, kept as its canonical text (e.g. `1.5`).
    Decimal(String),
    /// `sf-string`, unescaped.
    String(String),
    /// `sf-token`.
    Token(String),
    /// `sf-binary`, decoded.
    ByteSeq(Vec<u8>),
    /// `sf-boolean`.
    Boolean(bool),
}

/// Ordered parameters.
pub(crate) type Params = Vec<(String, BareItem)>;

/// An item with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub bare: BareItem,
    pub params: Params,
}

/// An inner list with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InnerList {
    pub items: Vec<Item>,
    pub params: Params,
}

/// A dictionary member value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    Item(Item),
    InnerList(InnerList),
}

/// A parse failure: what was expected and where (never echoes input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {pos}")]
pub(crate) struct SfvError {
    pub what: &'static str,
    pub pos: usize,
}

/// Whether `s` can be serialized as an `sf-string` (printable ASCII).
pub(crate) fn is_sf_string(s: &str) -> bool {
    s.bytes().all(|c| (0x20..=0x7e).contains(&c))
}

/// Whether `s` is a valid dictionary or parameter key.
pub(crate) fn is_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(c) if c.is_ascii_lowercase() || c == b'*')
        && bytes.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.*".contains(&c))
}

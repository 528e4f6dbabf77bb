//! RFC 8941 serialization of the parsed forms.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{BareItem, InnerList, Params};

/// Serializes a bare item (strings must satisfy [`is_sf_string`]).
pub(crate) fn serialize_bare_item(item: &BareItem, out: &mut String) {
    match item {
        BareItem::Integer(i) => out.push_str(&i.to_string()),
        BareItem::Decimal(d) | BareItem::Token(d) => out.push_str(d),
        BareItem::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        BareItem::ByteSeq(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        BareItem::Boolean(true) => out.push_str("?1"),
        BareItem::Boolean(false) => out.push_str("?0"),
    }
}

/// Serializes parameters (`;key=value`, `;key` for `true`).
pub(crate) fn serialize_params(params: &Params, out: &mut String) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != BareItem::Boolean(true) {
            out.push('=');
            serialize_bare_item(value, out);
        }
    }
}

/// Serializes an inner list with its parameters.
pub(crate) fn serialize_inner_list(list: &InnerList) -> String {
    let mut out = String::from("(");
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        serialize_bare_item(&item.bare, &mut out);
        serialize_params(&item.params, &mut out);
    }
    out.push(')');
    serialize_params(&list.params, &mut out);
    out
}

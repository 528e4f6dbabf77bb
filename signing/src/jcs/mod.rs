//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Object members are sorted by the UTF-16 code units of their keys, strings
//! use the minimal escaping of RFC 8785 §3.2.2.2, and floating-point numbers
//! are printed as ECMAScript's `Number.prototype.toString` does.
//!
//! Integers that `serde_json` holds as `i64`/`u64` are printed plainly (all
//! digits), which equals the ECMAScript form for every integer of magnitude
//! up to 2^53 — the range in which JSON integers are interoperable anyway.

mod number;
#[cfg(test)]
mod tests;

use serde_json::Value;

pub use number::format_f64;

/// Why a value could not be canonicalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JcsError {
    /// A number was NaN or infinite, which JSON cannot represent.
    #[error("non-finite number cannot be canonicalized")]
    NonFiniteNumber,
}

/// Serializes `value` in RFC 8785 canonical form (UTF-8 bytes).
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, JcsError> {
    canonicalize_to_string(value).map(String::into_bytes)
}

/// Serializes `value` in RFC 8785 canonical form as a `String`.
pub fn canonicalize_to_string(value: &Value) -> Result<String, JcsError> {
    let mut out = String::new();
    write_value(value, &mut out)?;
    Ok(out)
}

fn write_value(value: &Value, out: &mut String) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => number::write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push('{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(key, out);
                out.push(':');
                write_value(member, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Writes a JSON string literal with RFC 8785 §3.2.2.2 escaping.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

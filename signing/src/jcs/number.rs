//! ECMAScript `Number.prototype.toString` formatting for JSON numbers.

use super::JcsError;

/// Appends the canonical form of a `serde_json` number.
pub(super) fn write_number(n: &serde_json::Number, out: &mut String) -> Result<(), JcsError> {
    if let Some(i) = n.as_i64() {
        out.push_str(&i.to_string());
    } else if let Some(u) = n.as_u64() {
        out.push_str(&u.to_string());
    } else {
        let f = n.as_f64().ok_or(JcsError::NonFiniteNumber)?;
        out.push_str(&format_f64(f)?);
    }
    Ok(())
}

/// Formats an `f64` exactly as ECMAScript's `Number.prototype.toString` does.
pub fn format_f64(f: f64) -> Result<String, JcsError> {
    if !f.is_finite() {
        return Err(JcsError::NonFiniteNumber);
    }
    if f == 0.0 {
        // Covers -0 as well, which ECMAScript prints as "0".
        return Ok("0".to_owned());
    }
    let (digits, exponent) = shortest_digits(f.abs());
    let k = digits.len() as i32;
    // ECMAScript's n: the value is digits × 10^(n − k).
    let n = exponent + 1;

    let mut out = String::new();
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        let (int_part, frac_part) = digits.split_at(n as usize);
        out.push_str(int_part);
        out.push('.');
        out.push_str(frac_part);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        let e = n - 1;
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if e >= 0 { '+' } else { '-' });
        out.push_str(&e.abs().to_string());
    }
    Ok(out)
}

/// Shortest round-tripping decimal digits and exponent (`d.ddd × 10^exp`).
///
/// ECMAScript wants, among the shortest digit strings that round-trip, the
/// one closest to the value, ties going to the even digit string. Rust's
/// `{:e}` gives a shortest string; `{:.Ne}` (exact, ties-to-even) gives the
/// closest one of that length, which is preferred when it round-trips.
fn shortest_digits(abs: f64) -> (String, i32) {
    let (digits, exponent) = split_sci(&format!("{abs:e}"));
    let precision = digits.len().saturating_sub(1);
    let (closest, closest_exp) = split_sci(&format!("{abs:.precision$e}"));
    let closest = closest.trim_end_matches('0');
    let reparsed = format!("{closest}e{}", closest_exp - closest.len() as i32 + 1);
    if !closest.is_empty() && reparsed.parse::<f64>() == Ok(abs) {
        (closest.to_owned(), closest_exp)
    } else {
        (digits, exponent)
    }
}

/// Splits Rust scientific notation (`1.25e-7`) into digits and exponent.
fn split_sci(sci: &str) -> (String, i32) {
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exponent.parse().unwrap_or(0))
}

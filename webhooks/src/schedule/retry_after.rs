//! `Retry-After` (RFC 9110 §10.2.3): delta-seconds or an HTTP-date.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Longest `Retry-After` honoured; longer requests are clamped so one
/// receiver cannot park a delivery indefinitely.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Parses a `Retry-After` value relative to `now_unix` (seconds): either
/// delta-seconds (`"120"`) or an HTTP-date (IMF-fixdate, plus the obsolete
/// RFC 850 and asctime forms). A date in the past gives zero; anything else
/// unparseable gives `None`. The result is not clamped (see
/// [`MAX_RETRY_AFTER`]).
pub fn retry_after(value: &str, now_unix: i64) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long digit strings saturate rather than fail.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at_unix = match at.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => return Some(Duration::ZERO),
    };
    let secs = at_unix.saturating_sub(now_unix).max(0);
    Some(Duration::from_secs(secs.unsigned_abs()))
}

/// Current unix time in seconds (0 if the clock is before 1970).
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

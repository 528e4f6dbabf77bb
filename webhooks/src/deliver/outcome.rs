//! What one attempt came to.

use std::time::Duration;

use crate::schedule::retry_after;

/// How an attempt ended, for the retry loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// A 2xx response: done.
    Delivered,
    /// Try again later: any non-2xx other than 410 (3xx — redirects are not
    /// followed —, 4xx, 429, 5xx), a timeout or a connection/DNS error.
    /// `after` is the receiver's `Retry-After`, if it sent a valid one.
    Retry {
        /// Requested wait (unclamped; see [`crate::schedule::MAX_RETRY_AFTER`]).
        after: Option<Duration>,
    },
    /// 410 Gone: the receiver asked us to stop; disable the endpoint.
    Gone,
    /// Not sent, and resending will not help until the endpoint or the
    /// configuration changes: the SSRF policy refused the URL (bad scheme,
    /// forbidden address), or the request was malformed.
    Refused,
}

impl AttemptResult {
    /// Whether no further attempt should follow (delivered, gone, refused).
    pub fn is_final(&self) -> bool {
        !matches!(self, Self::Retry { .. })
    }
}

/// One attempt's result plus what the delivery log records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOutcome {
    /// The classification.
    pub result: AttemptResult,
    /// The HTTP status, if a response arrived.
    pub status: Option<u16>,
    /// Time from the start of the attempt to the response headers (or the
    /// failure).
    pub latency: Duration,
    /// Why it failed without a response (timeout, connection, SSRF); never
    /// contains the endpoint URL.
    pub error: Option<String>,
    /// The start of the body of a non-2xx response ([`RESPONSE_EXCERPT`]
    /// bytes at most, lossy UTF-8): what the receiver said was wrong.
    pub response: Option<String>,
}

/// Most bytes of a failed response's body kept.
pub const RESPONSE_EXCERPT: usize = 256;

impl AttemptOutcome {
    pub(super) fn from_status(result: AttemptResult, status: u16) -> Self {
        Self {
            result,
            status: Some(status),
            latency: Duration::ZERO,
            error: None,
            response: None,
        }
    }

    pub(super) fn retry_error(error: String) -> Self {
        Self {
            result: AttemptResult::Retry { after: None },
            status: None,
            latency: Duration::ZERO,
            error: Some(error),
            response: None,
        }
    }

    pub(super) fn refused(error: String) -> Self {
        Self {
            result: AttemptResult::Refused,
            status: None,
            latency: Duration::ZERO,
            error: Some(error),
            response: None,
        }
    }
}

/// Classifies a response status. Only 2xx is success; 410 is Gone; every
/// other status — including 4xx such as 400/401/404, because Standard
/// Webhooks treats any non-2xx as a failed attempt and a receiver's
/// misconfiguration is often fixed within the retry window — is retried,
/// honouring `Retry-After` (delta-seconds or HTTP-date, relative to
/// `now_unix`) when present and valid.
pub fn classify_status(
    status: u16,
    retry_after_header: Option<&str>,
    now_unix: i64,
) -> AttemptResult {
    match status {
        200..=299 => AttemptResult::Delivered,
        410 => AttemptResult::Gone,
        _ => AttemptResult::Retry {
            after: retry_after_header.and_then(|v| retry_after(v, now_unix)),
        },
    }
}

/// An error and its sources, `: `-joined.
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

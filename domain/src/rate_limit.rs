//! A partner's submission rate limit at the ingest edge: a token bucket
//! that refills at `rate_per_s` and holds at most `burst` requests.

use serde::{Deserialize, Serialize};

/// Largest rate or burst accepted.
const MAX: u32 = 1_000_000;

/// A token bucket: `rate_per_s` requests a second, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub rate_per_s: u32,
    /// Requests that may come at once (the bucket's size).
    pub burst: u32,
}

/// A rate limit out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate_per_s and burst must be 1..={MAX} (got {rate_per_s} and {burst})")]
pub struct RateLimitError {
    /// The rate given.
    pub rate_per_s: u32,
    /// The burst given.
    pub burst: u32,
}

impl RateLimit {
    /// Checks both numbers are in `1..=1_000_000`.
    pub fn validate(&self) -> Result<(), RateLimitError> {
        let ok = |n: u32| (1..=MAX).contains(&n);
        if ok(self.rate_per_s) && ok(self.burst) {
            Ok(())
        } else {
            Err(RateLimitError {
                rate_per_s: self.rate_per_s,
                burst: self.burst,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_its_range() {
        let limit = |rate_per_s, burst| RateLimit { rate_per_s, burst };
        assert!(limit(1, 1).validate().is_ok());
        assert!(limit(MAX, MAX).validate().is_ok());
        assert!(limit(0, 10).validate().is_err());
        assert!(limit(10, 0).validate().is_err());
        assert!(limit(10, MAX + 1).validate().is_err());
    }
}

//! Per-endpoint circuit breakers.
//!
//! Closed: deliveries flow; `threshold` consecutive failures open it.
//! Open: deliveries are held back until `cool_down` has passed, then the
//! breaker turns half-open and lets exactly one probe through. The probe's
//! success closes it, its failure re-opens it for another cool-down. A probe
//! that never reports back (a crashed task) is given up on after one more
//! cool-down, and a new probe is allowed.
//!
//! Time is passed in (`now: Instant`) so the logic is testable without
//! sleeping.

mod registry;
#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

pub use registry::Breakers;

/// Default consecutive failures that open a breaker.
pub const DEFAULT_THRESHOLD: u32 = 5;
/// Default time an open breaker waits before a half-open probe.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(30);

/// The observable breaker state (for metrics and the delivery log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Deliveries flow.
    Closed,
    /// Deliveries are held back.
    Open,
    /// One probe delivery is allowed.
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

impl std::fmt::Display for BreakerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy)]
enum Inner {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { probe_since: Instant },
}

/// One endpoint's breaker.
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    inner: Inner,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self::new(DEFAULT_THRESHOLD, DEFAULT_COOL_DOWN)
    }
}

impl CircuitBreaker {
    /// A closed breaker opening after `threshold` (at least 1) consecutive
    /// failures and probing after `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            inner: Inner::Closed { failures: 0 },
        }
    }

    /// Whether a delivery may be attempted now. In half-open state only one
    /// caller gets `true` (the probe) until it reports back.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.inner {
            Inner::Closed { .. } => true,
            Inner::Open { since } | Inner::HalfOpen { probe_since: since }
                if now.saturating_duration_since(since) >= self.cool_down =>
            {
                self.inner = Inner::HalfOpen { probe_since: now };
                true
            }
            Inner::Open { .. } | Inner::HalfOpen { .. } => false,
        }
    }

    /// Records a successful delivery: the breaker closes.
    pub fn on_success(&mut self) {
        self.inner = Inner::Closed { failures: 0 };
    }

    /// Records a failed delivery at `now`.
    pub fn on_failure(&mut self, now: Instant) {
        self.inner = match self.inner {
            Inner::Closed { failures } if failures + 1 < self.threshold => Inner::Closed {
                failures: failures + 1,
            },
            Inner::Closed { .. } | Inner::HalfOpen { .. } => Inner::Open { since: now },
            // A straggler from before the breaker opened: keep the cool-down.
            open @ Inner::Open { .. } => open,
        };
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        match self.inner {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// Consecutive failures counted while closed.
    pub fn consecutive_failures(&self) -> u32 {
        match self.inner {
            Inner::Closed { failures } => failures,
            Inner::Open { .. } | Inner::HalfOpen { .. } => self.threshold,
        }
    }
}

//! When to retry a failed delivery.
//!
//! The default schedule (6 attempts, 751 ms initial delay, ×2, capped at
//! 30 s, ±10 % jitter) gives these nominal delays after attempts 1–5:
//! 751 ms, 1.502 s, 3.004 s, 6.008 s, 12.016 s (≈ 23.3 s in total); the cap
//! only bites in longer per-endpoint schedules.
//!
//! Jitter is deterministic: it is derived from a caller-supplied seed (for
//! instance a hash of the `webhook-id`) and the attempt number, so replaying
//! a delivery log recomputes exactly the same delays, while different
//! messages still spread out.

mod retry_after;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub(crate) use retry_after::now_unix;
pub use retry_after::{MAX_RETRY_AFTER, retry_after};

/// Why a retry schedule is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// `attempts` is zero.
    #[error("a schedule needs at least one attempt")]
    NoAttempts,
    /// `multiplier` is zero.
    #[error("the multiplier must be at least 1")]
    ZeroMultiplier,
    /// `jitter_pct` is above 100.
    #[error("jitter must be at most 100 percent")]
    JitterTooLarge,
    /// `max_ms` is below `initial_ms`.
    #[error("the cap must not be below the initial delay")]
    CapBelowInitial,
}

/// Exponential backoff: `min(initial_ms × multiplier^(n-1), max_ms)` after
/// the n-th failed attempt, then ± `jitter_pct` % jitter (the result never
/// exceeds `max_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySchedule {
    /// Total attempts, the first one included.
    pub attempts: u32,
    /// Delay after the first failed attempt, in milliseconds.
    pub initial_ms: u64,
    /// Growth factor between consecutive delays.
    pub multiplier: u32,
    /// Cap on any single delay, in milliseconds.
    pub max_ms: u64,
    /// Jitter as a percentage of the delay (applied in both directions).
    pub jitter_pct: u32,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        Self {
            attempts: 6,
            initial_ms: 751,
            multiplier: 2,
            max_ms: 30_000,
            jitter_pct: 10,
        }
    }
}

impl RetrySchedule {
    /// Checks the schedule's numbers (for config loading).
    pub fn validate(&self) -> Result<(), ScheduleError> {
        if self.attempts == 0 {
            return Err(ScheduleError::NoAttempts);
        }
        if self.multiplier == 0 {
            return Err(ScheduleError::ZeroMultiplier);
        }
        if self.jitter_pct > 100 {
            return Err(ScheduleError::JitterTooLarge);
        }
        if self.max_ms < self.initial_ms {
            return Err(ScheduleError::CapBelowInitial);
        }
        Ok(())
    }

    /// The un-jittered delay after failed attempt `attempt` (1-based), or
    /// `None` when no attempt follows.
    pub fn nominal_delay(&self, attempt: u32) -> Option<Duration> {
        if attempt == 0 || attempt >= self.attempts {
            return None;
        }
        let factor = u64::from(self.multiplier).saturating_pow(attempt - 1);
        let ms = self.initial_ms.saturating_mul(factor).min(self.max_ms);
        Some(Duration::from_millis(ms))
    }

    /// The jittered delay after failed attempt `attempt` (1-based), or `None`
    /// after the last attempt. The same `(attempt, jitter_seed)` always gives
    /// the same delay.
    pub fn delay(&self, attempt: u32, jitter_seed: u64) -> Option<Duration> {
        let base = u64::try_from(self.nominal_delay(attempt)?.as_millis()).unwrap_or(u64::MAX);
        let span = base.saturating_mul(u64::from(self.jitter_pct.min(100))) / 100;
        let ms = if span == 0 {
            base
        } else {
            let roll = splitmix64(jitter_seed ^ u64::from(attempt).wrapping_mul(GOLDEN));
            // Uniform in [base - span, base + span].
            (base - span).saturating_add(roll % (2 * span + 1))
        };
        Some(Duration::from_millis(ms.min(self.max_ms)))
    }

    /// The wait before the next attempt: the jittered delay, or the
    /// receiver's `Retry-After` when that is longer (clamped to
    /// [`MAX_RETRY_AFTER`]). `None` after the last attempt.
    pub fn next_delay(
        &self,
        attempt: u32,
        jitter_seed: u64,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let scheduled = self.delay(attempt, jitter_seed)?;
        let asked = retry_after.unwrap_or_default().min(MAX_RETRY_AFTER);
        Some(scheduled.max(asked))
    }

    /// A jitter seed derived from a message id (stable across processes).
    pub fn seed_for(webhook_id: &str) -> u64 {
        webhook_id.bytes().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    }
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64: a fixed, well-mixed integer hash (not for secrets).
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

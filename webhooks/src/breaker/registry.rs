//! Breakers for many endpoints behind one lock.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{BreakerState, CircuitBreaker};

/// One [`CircuitBreaker`] per endpoint id, created closed on first use;
/// shareable (`&self` methods, a `Mutex` inside).
#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    cool_down: Duration,
    map: Mutex<HashMap<String, CircuitBreaker>>,
}

impl Default for Breakers {
    fn default() -> Self {
        Self::new(super::DEFAULT_THRESHOLD, super::DEFAULT_COOL_DOWN)
    }
}

impl Breakers {
    /// Breakers that open after `threshold` failures and probe after
    /// `cool_down`.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold,
            cool_down,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// [`CircuitBreaker::allow`] for `endpoint_id`.
    pub fn allow(&self, endpoint_id: &str, now: Instant) -> bool {
        self.with(endpoint_id, |b| b.allow(now))
    }

    /// [`CircuitBreaker::on_success`] for `endpoint_id`.
    pub fn on_success(&self, endpoint_id: &str) {
        self.with(endpoint_id, CircuitBreaker::on_success);
    }

    /// [`CircuitBreaker::on_failure`] for `endpoint_id`.
    pub fn on_failure(&self, endpoint_id: &str, now: Instant) {
        self.with(endpoint_id, |b| b.on_failure(now));
    }

    /// The state of `endpoint_id` (closed if never seen).
    pub fn state(&self, endpoint_id: &str) -> BreakerState {
        self.lock()
            .get(endpoint_id)
            .map_or(BreakerState::Closed, CircuitBreaker::state)
    }

    /// Every known endpoint's state, sorted by endpoint id (for metrics).
    pub fn states(&self) -> Vec<(String, BreakerState)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(id, b)| (id.clone(), b.state()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    /// Forgets `endpoint_id` (e.g. when the endpoint is deleted).
    pub fn remove(&self, endpoint_id: &str) {
        self.lock().remove(endpoint_id);
    }

    fn with<T>(&self, endpoint_id: &str, f: impl FnOnce(&mut CircuitBreaker) -> T) -> T {
        let mut map = self.lock();
        if let Some(breaker) = map.get_mut(endpoint_id) {
            return f(breaker);
        }
        let breaker = map
            .entry(endpoint_id.to_owned())
            .or_insert_with(|| CircuitBreaker::new(self.threshold, self.cool_down));
        f(breaker)
    }

    /// Breaker updates are single assignments, so a poisoned map is still
    /// consistent and safe to keep using.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, CircuitBreaker>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

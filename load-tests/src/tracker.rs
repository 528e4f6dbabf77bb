//! What happened to every request and contract of a load run, per phase:
//! edge latency and outcome, and when each contract was seen countersigned
//! and delivered by webhook. All latencies run from the intended send time.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::schedule::{Arrival, Role};

/// Publisher submission not answered yet.
pub const PENDING: u8 = 0;
/// Publisher submission accepted (202).
pub const ACCEPTED: u8 = 1;
/// Publisher submission failed: the co-sign is not sent.
pub const FAILED: u8 = 2;

/// A latency histogram in microseconds, 1 µs to 1 hour, 3 significant digits.
pub fn histogram() -> Result<Histogram<u64>, hdrhistogram::CreationError> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3)
}

/// Percentiles of one histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Values recorded.
    pub count: u64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// 99.9th percentile.
    pub p999_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// Reads `h` (values in µs).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Self {
            count: h.len(),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            p999_ms: ms(h.value_at_quantile(0.999)),
            max_ms: ms(h.max()),
        }
    }
}

/// The counts and histograms of one phase.
pub struct PhaseStats {
    /// Edge latency of answered requests (any status), µs.
    pub edge: Histogram<u64>,
    /// Edge latency of early refusals (`429`, `503`), µs.
    pub refused: Histogram<u64>,
    /// Co-sign intended time → countersigned record read, µs.
    pub countersigned: Histogram<u64>,
    /// Co-sign intended time → webhook received, µs (one per delivery).
    pub webhook: Histogram<u64>,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered 202.
    pub accepted: u64,
    /// Failures by kind (`http_503`, `transport`, `in_flight_cap`, …).
    pub errors: BTreeMap<String, u64>,
    /// Co-signs accepted: contracts expected to be countersigned.
    pub cosigned: u64,
}

impl PhaseStats {
    fn new() -> Result<Self, hdrhistogram::CreationError> {
        Ok(Self {
            edge: histogram()?,
            refused: histogram()?,
            countersigned: histogram()?,
            webhook: histogram()?,
            sent: 0,
            accepted: 0,
            errors: BTreeMap::new(),
            cosigned: 0,
        })
    }
}

/// Shared by the scheduler, the senders, the topic watcher and the receiver.
pub struct Tracker {
    /// The run's start: intended times are offsets from it.
    pub start: Instant,
    /// The run's tag in contract ids.
    pub tag: String,
    /// Webhook deliveries expected per countersigned contract.
    pub webhooks_per_contract: u8,
    mo_at: Vec<Duration>,
    mo_phase: Vec<usize>,
    publisher: Vec<AtomicU8>,
    cosigned: Vec<AtomicBool>,
    countersigned: Vec<AtomicBool>,
    webhooks: Vec<AtomicU8>,
    countersigned_total: AtomicU64,
    webhooks_total: AtomicU64,
    cosigned_total: AtomicU64,
    phases: Vec<Mutex<PhaseStats>>,
}

impl Tracker {
    /// A tracker for `arrivals` over `phases` phases, starting at `start`.
    pub fn new(
        tag: &str,
        arrivals: &[Arrival],
        phases: usize,
        start: Instant,
        webhooks_per_contract: u8,
    ) -> Result<Self, hdrhistogram::CreationError> {
        let contracts = arrivals.iter().map(|a| a.contract + 1).max().unwrap_or(0) as usize;
        let mut mo_at = vec![Duration::ZERO; contracts];
        let mut mo_phase = vec![0; contracts];
        for a in arrivals.iter().filter(|a| a.role == Role::Mo) {
            mo_at[a.contract as usize] = a.at;
            mo_phase[a.contract as usize] = a.phase;
        }
        let flags = |n: usize| (0..n).map(|_| AtomicBool::new(false)).collect::<Vec<_>>();
        let stats = (0..phases)
            .map(|_| PhaseStats::new().map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            start,
            tag: tag.to_owned(),
            webhooks_per_contract,
            mo_at,
            mo_phase,
            publisher: (0..contracts).map(|_| AtomicU8::new(PENDING)).collect(),
            cosigned: flags(contracts),
            countersigned: flags(contracts),
            webhooks: (0..contracts).map(|_| AtomicU8::new(0)).collect(),
            countersigned_total: AtomicU64::new(0),
            webhooks_total: AtomicU64::new(0),
            cosigned_total: AtomicU64::new(0),
            phases: stats,
        })
    }

    fn with_phase(&self, phase: usize, f: impl FnOnce(&mut PhaseStats)) {
        if let Some(Ok(mut stats)) = self.phases.get(phase).map(Mutex::lock) {
            f(&mut stats);
        }
    }

    /// Counts a request as sent.
    pub fn sent(&self, arrival: &Arrival) {
        self.with_phase(arrival.phase, |s| s.sent += 1);
    }

    /// Records the answer to `arrival`: HTTP status or a failure kind.
    pub fn answered(&self, arrival: &Arrival, outcome: Result<u16, &str>, at: Instant) {
        let latency = at.saturating_duration_since(self.start + arrival.at);
        let us = latency.as_micros().min(u128::from(u64::MAX)) as u64;
        let accepted = outcome == Ok(202);
        let c = arrival.contract as usize;
        match arrival.role {
            Role::Publisher => {
                if let Some(state) = self.publisher.get(c) {
                    state.store(if accepted { ACCEPTED } else { FAILED }, Ordering::Release);
                }
            }
            Role::Mo if accepted => {
                if let Some(flag) = self.cosigned.get(c) {
                    flag.store(true, Ordering::Release);
                }
                self.cosigned_total.fetch_add(1, Ordering::Relaxed);
            }
            Role::Mo => {}
        }
        self.with_phase(arrival.phase, |s| {
            if outcome.is_ok() {
                s.edge.saturating_record(us.max(1));
            }
            if matches!(outcome, Ok(429 | 503)) {
                s.refused.saturating_record(us.max(1));
            }
            match outcome {
                Ok(202) => {
                    s.accepted += 1;
                    if arrival.role == Role::Mo {
                        s.cosigned += 1;
                    }
                }
                Ok(status) => *s.errors.entry(format!("http_{status}")).or_default() += 1,
                Err(kind) => *s.errors.entry(kind.to_owned()).or_default() += 1,
            }
        });
    }

    /// The publisher submission's state for contract `c`.
    pub fn publisher_state(&self, c: u64) -> u8 {
        self.publisher
            .get(c as usize)
            .map_or(FAILED, |s| s.load(Ordering::Acquire))
    }

    fn e2e(&self, c: usize, at: Instant) -> Option<(usize, u64)> {
        let intended = self.start + *self.mo_at.get(c)?;
        let us = at.saturating_duration_since(intended).as_micros() as u64;
        Some((*self.mo_phase.get(c)?, us.max(1)))
    }

    /// Contract `id` was read from the countersigned topic at `at`.
    pub fn countersigned(&self, id: &str, at: Instant) {
        let Some(c) = crate::network::contract_number(&self.tag, id).map(|c| c as usize) else {
            return;
        };
        let first = self
            .countersigned
            .get(c)
            .is_some_and(|f| !f.swap(true, Ordering::AcqRel));
        if let (true, Some((phase, us))) = (first, self.e2e(c, at)) {
            self.countersigned_total.fetch_add(1, Ordering::Relaxed);
            self.with_phase(phase, |s| s.countersigned.saturating_record(us));
        }
    }

    /// A webhook for contract `id` arrived at `at` (one per endpoint).
    pub fn webhook(&self, id: &str, at: Instant) {
        let Some(c) = crate::network::contract_number(&self.tag, id).map(|c| c as usize) else {
            return;
        };
        let counted = self.webhooks.get(c).is_some_and(|n| {
            n.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| {
                (v < self.webhooks_per_contract).then_some(v + 1)
            })
            .is_ok()
        });
        if let (true, Some((phase, us))) = (counted, self.e2e(c, at)) {
            self.webhooks_total.fetch_add(1, Ordering::Relaxed);
            self.with_phase(phase, |s| s.webhook.saturating_record(us));
        }
    }

    /// (co-signs accepted, countersigned seen, webhooks received).
    pub fn totals(&self) -> (u64, u64, u64) {
        (
            self.cosigned_total.load(Ordering::Relaxed),
            self.countersigned_total.load(Ordering::Relaxed),
            self.webhooks_total.load(Ordering::Relaxed),
        )
    }

    /// Runs `f` on every phase's stats, in order.
    pub fn each_phase<T>(&self, mut f: impl FnMut(usize, &PhaseStats) -> T) -> Vec<T> {
        self.phases
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.lock().ok().map(|s| f(i, &s)))
            .collect()
    }

    /// All phases' stats merged into one.
    #[cfg(test)]
    pub fn merged(
        &self,
        phases: impl Fn(usize) -> bool,
    ) -> Result<PhaseStats, hdrhistogram::CreationError> {
        let mut all = PhaseStats::new()?;
        self.each_phase(|i, s| {
            if !phases(i) {
                return;
            }
            let _ = all.edge.add(&s.edge);
            let _ = all.countersigned.add(&s.countersigned);
            let _ = all.webhook.add(&s.webhook);
            all.sent += s.sent;
            all.accepted += s.accepted;
            all.cosigned += s.cosigned;
            for (k, v) in &s.errors {
                *all.errors.entry(k.clone()).or_default() += v;
            }
        });
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::{Phase, arrivals};

    #[test]
    fn latency_runs_from_the_intended_time() {
        let phases = [Phase {
            label: "t".into(),
            rate: 10.0,
            seconds: 1.0,
        }];
        let all = arrivals(&phases, Duration::from_millis(100));
        let start = Instant::now();
        let tracker = Tracker::new("t", &all, 1, start, 2).expect("tracker");
        let first = all[0];
        // Answered 30 ms after its intended time: 30 ms, however late it was sent.
        tracker.answered(
            &first,
            Ok(202),
            start + first.at + Duration::from_millis(30),
        );
        let mo = all
            .iter()
            .find(|a| a.role == Role::Mo && a.contract == 0)
            .copied()
            .expect("a co-sign");
        tracker.answered(&mo, Ok(202), start + mo.at + Duration::from_millis(5));
        let id = crate::network::contract_id("t", 0);
        tracker.countersigned(&id, start + mo.at + Duration::from_millis(200));
        tracker.countersigned(&id, start + mo.at + Duration::from_millis(900));
        tracker.webhook(&id, start + mo.at + Duration::from_millis(300));
        let stats = tracker.merged(|_| true).expect("merged");
        assert_eq!(stats.accepted, 2);
        assert_eq!(stats.cosigned, 1);
        assert_eq!(stats.countersigned.len(), 1, "a duplicate counts once");
        let p = Percentiles::of(&stats.edge);
        assert!((p.max_ms - 30.0).abs() < 0.1, "{p:?}");
        let c = Percentiles::of(&stats.countersigned);
        assert!((c.p50_ms - 200.0).abs() < 0.5, "{c:?}");
        assert_eq!(tracker.totals(), (1, 1, 1));
        assert_eq!(tracker.publisher_state(0), ACCEPTED);
    }
}

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

const COOL: Duration = Duration::from_secs(10);

#[test]
fn opens_after_threshold_consecutive_failures() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(3, COOL);
    assert_eq!(b.state(), BreakerState::Closed);
    b.on_failure(t0);
    b.on_failure(t0);
    assert_eq!(b.consecutive_failures(), 2);
    assert!(b.allow(t0));
    b.on_failure(t0);
    assert_eq!(b.state(), BreakerState::Open);
    assert!(!b.allow(t0 + Duration::from_secs(9)));
}

#[test]
fn success_resets_the_failure_count() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(3, COOL);
    b.on_failure(t0);
    b.on_failure(t0);
    b.on_success();
    b.on_failure(t0);
    b.on_failure(t0);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[test]
fn half_open_lets_exactly_one_probe_through() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, COOL);
    b.on_failure(t0);
    let t1 = t0 + COOL;
    assert!(b.allow(t1));
    assert_eq!(b.state(), BreakerState::HalfOpen);
    assert!(!b.allow(t1));
    assert!(!b.allow(t1 + Duration::from_secs(1)));
    b.on_success();
    assert_eq!(b.state(), BreakerState::Closed);
    assert!(b.allow(t1));
}

#[test]
fn failed_probe_reopens_for_a_new_cool_down() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(2, COOL);
    b.on_failure(t0);
    b.on_failure(t0);
    let t1 = t0 + COOL;
    assert!(b.allow(t1));
    b.on_failure(t1 + Duration::from_secs(1));
    assert_eq!(b.state(), BreakerState::Open);
    assert!(!b.allow(t1 + COOL));
    assert!(b.allow(t1 + Duration::from_secs(1) + COOL));
}

#[test]
fn straggling_failures_do_not_extend_the_cool_down() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, COOL);
    b.on_failure(t0);
    b.on_failure(t0 + Duration::from_secs(5));
    assert!(b.allow(t0 + COOL));
}

#[test]
fn a_lost_probe_is_replaced_after_another_cool_down() {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(1, COOL);
    b.on_failure(t0);
    assert!(b.allow(t0 + COOL));
    assert!(!b.allow(t0 + COOL + Duration::from_secs(9)));
    assert!(b.allow(t0 + COOL + COOL));
    assert_eq!(b.state(), BreakerState::HalfOpen);
}

#[test]
fn zero_threshold_behaves_like_one() {
    let mut b = CircuitBreaker::new(0, COOL);
    b.on_failure(Instant::now());
    assert_eq!(b.state(), BreakerState::Open);
}

#[test]
fn state_names_for_metrics() {
    assert_eq!(BreakerState::Closed.to_string(), "closed");
    assert_eq!(BreakerState::Open.as_str(), "open");
    assert_eq!(BreakerState::HalfOpen.as_str(), "half_open");
    assert_eq!(
        serde_json::to_string(&BreakerState::HalfOpen).unwrap(),
        "\"half_open\""
    );
}

#[test]
fn breakers_are_independent_per_endpoint_and_shareable() {
    let t0 = Instant::now();
    let all = Arc::new(Breakers::new(2, COOL));
    assert_eq!(all.state("a"), BreakerState::Closed);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let all = Arc::clone(&all);
            std::thread::spawn(move || all.on_failure("a", t0))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(all.state("a"), BreakerState::Open);
    assert!(!all.allow("a", t0));
    assert!(all.allow("b", t0));
    all.on_success("b");
    assert_eq!(
        all.states(),
        vec![
            ("a".to_owned(), BreakerState::Open),
            ("b".to_owned(), BreakerState::Closed)
        ]
    );
    assert!(all.allow("a", t0 + COOL));
    assert_eq!(all.state("a"), BreakerState::HalfOpen);
    all.on_success("a");
    assert_eq!(all.state("a"), BreakerState::Closed);
    all.remove("a");
    assert_eq!(all.states().len(), 1);
}

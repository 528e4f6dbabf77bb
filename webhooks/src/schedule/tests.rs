#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn default_is_the_seed_schedule() {
    let s = RetrySchedule::default();
    assert_eq!(
        (
            s.attempts,
            s.initial_ms,
            s.multiplier,
            s.max_ms,
            s.jitter_pct
        ),
        (6, 751, 2, 30_000, 10)
    );
    assert!(s.validate().is_ok());
    let nominal: Vec<_> = (1..=6).map(|n| s.nominal_delay(n)).collect();
    assert_eq!(
        nominal,
        vec![
            Some(ms(751)),
            Some(ms(1502)),
            Some(ms(3004)),
            Some(ms(6008)),
            Some(ms(12_016)),
            None
        ]
    );
    assert_eq!(s.nominal_delay(0), None);
}

#[test]
fn cap_applies_in_longer_schedules() {
    let s = RetrySchedule {
        attempts: 12,
        ..RetrySchedule::default()
    };
    assert_eq!(s.nominal_delay(6), Some(ms(24_032)));
    assert_eq!(s.nominal_delay(7), Some(ms(30_000)));
    assert_eq!(s.nominal_delay(11), Some(ms(30_000)));
    assert_eq!(s.nominal_delay(12), None);
    // Huge exponents saturate instead of overflowing.
    let long = RetrySchedule {
        attempts: 1000,
        ..RetrySchedule::default()
    };
    assert_eq!(long.nominal_delay(999), Some(ms(30_000)));
    for seed in 0..100 {
        assert!(long.delay(999, seed).unwrap() <= ms(30_000));
    }
}

#[test]
fn jitter_stays_within_ten_percent_and_is_deterministic() {
    let s = RetrySchedule::default();
    let mut seen = std::collections::HashSet::new();
    for seed in 0..2000u64 {
        for attempt in 1..6 {
            let nominal = s.nominal_delay(attempt).unwrap().as_millis() as u64;
            let d = s.delay(attempt, seed).unwrap().as_millis() as u64;
            assert!(d >= nominal - nominal / 10 && d <= nominal + nominal / 10);
            assert_eq!(s.delay(attempt, seed), Some(ms(d)));
            if attempt == 1 {
                seen.insert(d);
            }
        }
        assert_eq!(s.delay(6, seed), None);
    }
    // 751 ± 75 has 151 values; 2000 seeds should hit most of them.
    assert!(seen.len() > 120, "only {} distinct delays", seen.len());
}

#[test]
fn zero_jitter_is_exact() {
    let s = RetrySchedule {
        jitter_pct: 0,
        ..RetrySchedule::default()
    };
    assert_eq!(s.delay(2, 42), Some(ms(1502)));
}

#[test]
fn next_delay_honours_a_longer_retry_after() {
    let s = RetrySchedule {
        jitter_pct: 0,
        ..RetrySchedule::default()
    };
    assert_eq!(s.next_delay(1, 0, None), Some(ms(751)));
    assert_eq!(s.next_delay(1, 0, Some(ms(100))), Some(ms(751)));
    assert_eq!(
        s.next_delay(1, 0, Some(Duration::from_secs(5))),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        s.next_delay(1, 0, Some(Duration::from_secs(86_400))),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(s.next_delay(6, 0, Some(ms(1))), None);
}

#[test]
fn seeds_from_ids_are_stable() {
    assert_eq!(
        RetrySchedule::seed_for("msg_abc"),
        RetrySchedule::seed_for("msg_abc")
    );
    assert_ne!(
        RetrySchedule::seed_for("msg_abc"),
        RetrySchedule::seed_for("msg_abd")
    );
}

#[test]
fn validation_rejects_nonsense() {
    let d = RetrySchedule::default();
    let bad = [
        (
            RetrySchedule { attempts: 0, ..d },
            ScheduleError::NoAttempts,
        ),
        (
            RetrySchedule { multiplier: 0, ..d },
            ScheduleError::ZeroMultiplier,
        ),
        (
            RetrySchedule {
                jitter_pct: 101,
                ..d
            },
            ScheduleError::JitterTooLarge,
        ),
        (
            RetrySchedule { max_ms: 10, ..d },
            ScheduleError::CapBelowInitial,
        ),
    ];
    for (s, e) in bad {
        assert_eq!(s.validate(), Err(e));
    }
}

#[test]
fn schedule_deserializes_with_defaults() {
    let s: RetrySchedule = serde_json::from_str(r#"{"attempts": 10}"#).unwrap();
    assert_eq!(
        s,
        RetrySchedule {
            attempts: 10,
            ..RetrySchedule::default()
        }
    );
}

#[test]
fn retry_after_delta_seconds() {
    assert_eq!(retry_after("1", 0), Some(Duration::from_secs(1)));
    assert_eq!(retry_after(" 120 ", 0), Some(Duration::from_secs(120)));
    assert_eq!(retry_after("0", 0), Some(Duration::ZERO));
    assert_eq!(
        retry_after("99999999999999999999999", 0),
        Some(Duration::from_secs(u64::MAX))
    );
    assert_eq!(retry_after("-5", 0), None);
    assert_eq!(retry_after("1.5", 0), None);
    assert_eq!(retry_after("", 0), None);
    assert_eq!(retry_after("soon", 0), None);
}

#[test]
fn retry_after_http_dates() {
    // Sun, 06 Nov 1994 08:49:37 GMT = 784111777.
    let now = 784_111_777 - 30;
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
        Some(Duration::from_secs(30))
    );
    // Obsolete forms are accepted too.
    assert_eq!(
        retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now),
        Some(Duration::from_secs(30))
    );
    assert_eq!(
        retry_after("Sun Nov  6 08:49:37 1994", now),
        Some(Duration::from_secs(30))
    );
    // In the past: retry now.
    assert_eq!(
        retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now + 3600),
        Some(Duration::ZERO)
    );
    assert_eq!(retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now), None);
}

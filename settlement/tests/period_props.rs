//! Property tests for `moneta_settlement::period`.
#![allow(clippy::unwrap_used)]

use moneta_settlement::period::{
    MS_PER_DAY, civil_from_days, days_from_civil, format_date, weekday_from_monday,
};
use moneta_settlement::{PeriodLength, period_of};
use proptest::prelude::*;

fn length() -> impl Strategy<Value = PeriodLength> {
    prop_oneof![
        Just(PeriodLength::Daily),
        Just(PeriodLength::Weekly),
        Just(PeriodLength::Monthly),
    ]
}

/// Times within ±10^16 ms (about ±317 000 years), where no saturation occurs.
fn time() -> impl Strategy<Value = i64> {
    prop_oneof![
        -10_000_000_000_000_000i64..=10_000_000_000_000_000,
        -100_000_000_000i64..=4_000_000_000_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn period_contains_time_and_is_stable(t in time(), len in length()) {
        let p = period_of(t, len);
        prop_assert!(p.contains(t));
        prop_assert_eq!(&period_of(p.start_ms, len), &p);
        prop_assert_eq!(&period_of(p.end_ms - 1, len), &p);
        let next = period_of(p.end_ms, len);
        prop_assert_eq!(next.start_ms, p.end_ms);
        let prev = period_of(p.start_ms - 1, len);
        prop_assert_eq!(prev.end_ms, p.start_ms);
    }

    #[test]
    fn period_shape(t in time(), len in length()) {
        let p = period_of(t, len);
        prop_assert_eq!(p.start_ms.rem_euclid(MS_PER_DAY), 0);
        let first = p.start_ms / MS_PER_DAY;
        let days = (p.end_ms - p.start_ms) / MS_PER_DAY;
        prop_assert_eq!(&p.start, &format_date(first));
        prop_assert_eq!(&p.end, &format_date(first + days - 1));
        match len {
            PeriodLength::Daily => prop_assert_eq!(days, 1),
            PeriodLength::Weekly => {
                prop_assert_eq!(days, 7);
                prop_assert_eq!(weekday_from_monday(first), 0);
            }
            PeriodLength::Monthly => {
                prop_assert!((28..=31).contains(&days));
                prop_assert_eq!(civil_from_days(first).2, 1);
                prop_assert_eq!(civil_from_days(first + days).2, 1);
            }
        }
    }

    #[test]
    fn civil_round_trip(d in -4_000_000_000i64..=4_000_000_000) {
        let (y, m, day) = civil_from_days(d);
        prop_assert!((1..=12).contains(&m) && (1..=31).contains(&day));
        prop_assert_eq!(days_from_civil(y, m, day), d);
        // Consecutive days advance the date by exactly one.
        let (y2, m2, d2) = civil_from_days(d + 1);
        prop_assert!((y2, m2, d2) > (y, m, day));
        prop_assert!(d2 == day + 1 || d2 == 1);
        prop_assert_eq!(weekday_from_monday(d + 7), weekday_from_monday(d));
    }
}

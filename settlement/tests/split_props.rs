//! Property tests for `moneta_settlement::split`.
#![allow(clippy::unwrap_used)]

use moneta_settlement::{Shares, Split, SplitError, split};
use proptest::prelude::*;

/// Totals across small, wide (±9e15) and extreme ranges, including negatives.
fn total() -> impl Strategy<Value = i64> {
    prop_oneof![
        -1_000_000i64..=1_000_000,
        -9_000_000_000_000_000i64..=9_000_000_000_000_000,
        8_999_999_999_990_000i64..=9_000_000_000_000_000,
        -9_000_000_000_000_000i64..=-8_999_999_999_990_000,
        (i64::MAX - 10_000)..=i64::MAX,
        i64::MIN..=(i64::MIN + 10_000),
    ]
}

/// Valid shares from two cut points in `[0, 10_000]`, biased towards zero parts.
fn shares() -> impl Strategy<Value = Shares> {
    let cut = || prop_oneof![Just(0u32), Just(10_000u32), 0u32..=10_000];
    (cut(), cut()).prop_map(|(a, b)| {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        Shares {
            publisher_bps: lo,
            mo_bps: hi - lo,
            moneta_fee_bps: 10_000 - hi,
        }
    })
}

fn parts(s: &Split) -> [i64; 3] {
    [s.publisher_minor, s.mo_minor, s.moneta_fee_minor]
}

fn bps(s: &Shares) -> [u32; 3] {
    [s.publisher_bps, s.mo_bps, s.moneta_fee_bps]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn parts_sum_exactly_to_total(t in total(), sh in shares()) {
        let s = split(t, &sh).unwrap();
        let sum: i128 = parts(&s).iter().map(|&p| i128::from(p)).sum();
        prop_assert_eq!(sum, i128::from(t));
        prop_assert_eq!(s.total(), t);
    }

    #[test]
    fn each_part_within_one_unit_of_exact(t in total(), sh in shares()) {
        let s = split(t, &sh).unwrap();
        for (p, b) in parts(&s).into_iter().zip(bps(&sh)) {
            let err = i128::from(p) * 10_000 - i128::from(t) * i128::from(b);
            prop_assert!(err.abs() < 10_000, "part {p} bps {b} total {t}");
        }
    }

    #[test]
    fn parts_have_the_sign_of_the_total(t in total(), sh in shares()) {
        let s = split(t, &sh).unwrap();
        for p in parts(&s) {
            prop_assert!(p == 0 || p.signum() == t.signum());
        }
    }

    #[test]
    fn negation_is_symmetric(t in total(), sh in shares()) {
        prop_assume!(t != i64::MIN);
        let pos = split(t, &sh).unwrap();
        let neg = split(-t, &sh).unwrap();
        prop_assert_eq!(parts(&neg), parts(&pos).map(|p| -p));
    }

    #[test]
    fn zero_bps_parts_get_zero(t in total(), sh in shares()) {
        let s = split(t, &sh).unwrap();
        for (p, b) in parts(&s).into_iter().zip(bps(&sh)) {
            if b == 0 {
                prop_assert_eq!(p, 0);
            }
        }
    }

    #[test]
    fn invalid_shares_are_rejected(t in total(), p in 0u32..=20_000, m in 0u32..=20_000, f in 0u32..=20_000) {
        prop_assume!(p + m + f != 10_000);
        let sh = Shares { publisher_bps: p, mo_bps: m, moneta_fee_bps: f };
        prop_assert_eq!(split(t, &sh), Err(SplitError::SharesSum { sum: u64::from(p + m + f) }));
    }
}

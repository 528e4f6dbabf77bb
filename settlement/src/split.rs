//! Revenue split by basis points.
//!
//! A total amount (integer minor units) is divided between the publisher, the
//! MO and Moneta's fee according to [`Shares`] given in basis points, which
//! must sum to exactly 10 000.
//!
//! # Rounding rule
//!
//! Largest-remainder (Hamilton) method on |total|:
//!
//! 1. Each part gets `floor(|total| × bps / 10_000)`, computed in `i128`.
//! 2. The leftover units (`|total|` minus the sum of the floors; at most 2)
//!    go one each to the parts with the largest remainders, where
//!    remainder = `|total| × bps mod 10_000`; ties are broken in the fixed
//!    order publisher, mo, moneta fee.
//! 3. A negative total (a net reversal) is split as its absolute value and
//!    every part negated.
//!
//! Consequently `split(-t) == -split(t)` part by part, the parts always sum
//! exactly to the total, each part is within one minor unit of its exact
//! proportional value (`|part × 10_000 − total × bps| < 10_000`), and a part
//! with 0 bps always gets 0 (its remainder is 0, and whenever a leftover unit
//! exists at least two parts have a non-zero remainder that outranks it).

use serde::{Deserialize, Serialize};

/// Basis points that make up the whole (100 %).
pub const BPS_TOTAL: u32 = 10_000;

/// Shares of a total in basis points; the three must sum to [`BPS_TOTAL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shares {
    /// Publisher's share in basis points.
    pub publisher_bps: u32,
    /// Membership Organization's share in basis points.
    pub mo_bps: u32,
    /// Moneta's fee in basis points.
    pub moneta_fee_bps: u32,
}

impl Shares {
    /// Checks that the shares sum to exactly [`BPS_TOTAL`].
    pub fn validate(&self) -> Result<(), SplitError> {
        let sum =
            u64::from(self.publisher_bps) + u64::from(self.mo_bps) + u64::from(self.moneta_fee_bps);
        if sum == u64::from(BPS_TOTAL) {
            Ok(())
        } else {
            Err(SplitError::SharesSum { sum })
        }
    }
}

/// The result of a split, in integer minor units of the total's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Split {
    /// Publisher's part in minor units.
    pub publisher_minor: i64,
    /// Membership Organization's part in minor units.
    pub mo_minor: i64,
    /// Moneta's fee in minor units.
    pub moneta_fee_minor: i64,
}

impl Split {
    /// Sum of the three parts (saturating; exact for any value returned by [`split`]).
    pub fn total(&self) -> i64 {
        self.publisher_minor
            .saturating_add(self.mo_minor)
            .saturating_add(self.moneta_fee_minor)
    }
}

/// Errors from [`split`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The shares do not sum to 10 000 basis points.
    #[error("shares must sum to {BPS_TOTAL} bps, got {sum}")]
    SharesSum {
        /// The actual sum of the shares.
        sum: u64,
    },
    /// A part did not fit in `i64`; cannot happen for valid shares, kept so the conversion is checked.
    #[error("split part does not fit in i64")]
    Overflow,
}

/// Splits `total_minor` by `shares` using the module's largest-remainder rounding rule.
pub fn split(total_minor: i64, shares: &Shares) -> Result<Split, SplitError> {
    shares.validate()?;
    let abs = i128::from(total_minor).abs();
    let bps = [shares.publisher_bps, shares.mo_bps, shares.moneta_fee_bps].map(i128::from);
    let denom = i128::from(BPS_TOTAL);

    let mut parts = bps.map(|b| abs * b / denom);
    let remainders = bps.map(|b| abs * b % denom);
    let leftover = abs - parts.iter().sum::<i128>();

    // Indices ordered by remainder descending; the stable sort keeps the fixed
    // publisher, mo, moneta-fee order among equal remainders.
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| remainders[b].cmp(&remainders[a]));
    for &i in order
        .iter()
        .take(usize::try_from(leftover).map_err(|_| SplitError::Overflow)?)
    {
        parts[i] += 1;
    }

    let sign: i128 = if total_minor < 0 { -1 } else { 1 };
    let to_i64 = |p: i128| i64::try_from(sign * p).map_err(|_| SplitError::Overflow);
    Ok(Split {
        publisher_minor: to_i64(parts[0])?,
        mo_minor: to_i64(parts[1])?,
        moneta_fee_minor: to_i64(parts[2])?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn shares(p: u32, m: u32, f: u32) -> Shares {
        Shares {
            publisher_bps: p,
            mo_bps: m,
            moneta_fee_bps: f,
        }
    }

    fn parts(s: Split) -> (i64, i64, i64) {
        (s.publisher_minor, s.mo_minor, s.moneta_fee_minor)
    }

    #[test]
    fn hand_checked_1001() {
        // 700.7 -> 700 r7000, 250.25 -> 250 r2500, 50.05 -> 50 r500; leftover 1 -> publisher.
        let s = split(1001, &shares(7000, 2500, 500)).unwrap();
        assert_eq!(parts(s), (701, 250, 50));
        assert_eq!(s.total(), 1001);
    }

    #[test]
    fn hand_checked_negative_1001() {
        let s = split(-1001, &shares(7000, 2500, 500)).unwrap();
        assert_eq!(parts(s), (-701, -250, -50));
    }

    #[test]
    fn leftover_goes_to_largest_remainder_not_largest_share() {
        // 10 × 6000 = 60000 -> 6 r0; 10 × 3333 = 33330 -> 3 r3330; 10 × 667 = 6670 -> 0 r6670.
        // Floors sum 9, leftover 1 -> moneta fee (largest remainder 6670).
        let s = split(10, &shares(6000, 3333, 667)).unwrap();
        assert_eq!(parts(s), (6, 3, 1));
    }

    #[test]
    fn two_leftover_units() {
        // 1 × 3334 -> 0 r3334; 1 × 3333 -> 0 r3333; 1 × 3333 -> 0 r3333. Floors 0, leftover 1 -> publisher.
        assert_eq!(
            parts(split(1, &shares(3334, 3333, 3333)).unwrap()),
            (1, 0, 0)
        );
        // 2 × 3334 = 6668 -> 0 r6668; 2 × 3333 = 6666 -> 0 r6666 (twice). Leftover 2 -> publisher, mo.
        assert_eq!(
            parts(split(2, &shares(3334, 3333, 3333)).unwrap()),
            (1, 1, 0)
        );
    }

    #[test]
    fn ties_broken_publisher_mo_fee() {
        // 1 × 5000 each for mo and fee -> r5000 tie; leftover 1 -> mo (before fee).
        assert_eq!(parts(split(1, &shares(0, 5000, 5000)).unwrap()), (0, 1, 0));
        // Three-way tie: 3333/3333/3334 on 2 -> r6666, r6666, r6668 -> fee first, then publisher.
        assert_eq!(
            parts(split(2, &shares(3333, 3333, 3334)).unwrap()),
            (1, 0, 1)
        );
        // 3 × 5000 = 15000 -> 1 r5000 for both publisher and mo; leftover 1 -> publisher.
        assert_eq!(parts(split(3, &shares(5000, 5000, 0)).unwrap()), (2, 1, 0));
    }

    #[test]
    fn zero_and_whole() {
        assert_eq!(
            parts(split(0, &shares(7000, 2500, 500)).unwrap()),
            (0, 0, 0)
        );
        assert_eq!(
            parts(split(12345, &shares(10_000, 0, 0)).unwrap()),
            (12345, 0, 0)
        );
        assert_eq!(
            parts(split(-12345, &shares(0, 0, 10_000)).unwrap()),
            (0, 0, -12345)
        );
    }

    #[test]
    fn extremes_do_not_overflow() {
        let s = split(i64::MAX, &shares(7000, 2500, 500)).unwrap();
        assert_eq!(s.total(), i64::MAX);
        let s = split(i64::MIN, &shares(7000, 2500, 500)).unwrap();
        assert_eq!(s.total(), i64::MIN);
        let s = split(i64::MIN, &shares(10_000, 0, 0)).unwrap();
        assert_eq!(parts(s), (i64::MIN, 0, 0));
    }

    #[test]
    fn invalid_shares_rejected() {
        assert_eq!(
            split(100, &shares(7000, 2500, 499)),
            Err(SplitError::SharesSum { sum: 9999 })
        );
        assert_eq!(
            split(100, &shares(u32::MAX, u32::MAX, 2)),
            Err(SplitError::SharesSum {
                sum: 2 * u64::from(u32::MAX) + 2
            })
        );
    }
}

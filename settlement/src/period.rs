//! Settlement periods by event time (UTC).
//!
//! A period is a half-open interval `[start_ms, end_ms)` of milliseconds since
//! the Unix epoch, aligned to UTC calendar days: a single day, an ISO week
//! (Monday to Sunday), or a calendar month. Calendar arithmetic uses Howard
//! Hinnant's `days_from_civil` / `civil_from_days` algorithms on the proleptic
//! Gregorian calendar, so any `i64` time (including negative ones) is handled.

use serde::{Deserialize, Serialize};

/// Milliseconds in one UTC day.
pub const MS_PER_DAY: i64 = 86_400_000;

/// The length of a settlement period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodLength {
    /// One UTC calendar day.
    #[default]
    Daily,
    /// One ISO week, Monday 00:00 UTC to the following Monday.
    Weekly,
    /// One calendar month, from the 1st 00:00 UTC to the 1st of the next month.
    Monthly,
}

/// A settlement period: inclusive civil dates plus the half-open millisecond range.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    /// First day of the period, `YYYY-MM-DD`.
    pub start: String,
    /// Last day of the period (inclusive), `YYYY-MM-DD`.
    pub end: String,
    /// Start of the period in ms since the Unix epoch, UTC (inclusive).
    pub start_ms: i64,
    /// End of the period in ms since the Unix epoch, UTC (exclusive).
    pub end_ms: i64,
}

impl Period {
    /// Whether `event_time_ms` falls inside `[start_ms, end_ms)`.
    pub fn contains(&self, event_time_ms: i64) -> bool {
        self.start_ms <= event_time_ms && event_time_ms < self.end_ms
    }
}

/// Returns the period of the given length that contains `event_time_ms`.
///
/// `start_ms`/`end_ms` saturate at the `i64` bounds for the (first and last)
/// periods that straddle them, roughly 292 million years from the epoch.
pub fn period_of(event_time_ms: i64, length: PeriodLength) -> Period {
    let day = event_time_ms.div_euclid(MS_PER_DAY);
    let (first_day, next_first_day) = match length {
        PeriodLength::Daily => (day, day + 1),
        PeriodLength::Weekly => {
            let monday = day - weekday_from_monday(day);
            (monday, monday + 7)
        }
        PeriodLength::Monthly => {
            let (y, m, _) = civil_from_days(day);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (days_from_civil(y, m, 1), days_from_civil(ny, nm, 1))
        }
    };
    Period {
        start: format_date(first_day),
        end: format_date(next_first_day - 1),
        start_ms: first_day.saturating_mul(MS_PER_DAY),
        end_ms: next_first_day.saturating_mul(MS_PER_DAY),
    }
}

/// Days since 1970-01-01 of the proleptic Gregorian date `y-m-d` (`m` in 1..=12, `d` in 1..=31).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Proleptic Gregorian `(year, month, day)` of the given day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March = 0
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = yoe + era * 400 + i64::from(m <= 2);
    // m and d are in small ranges by construction; the fallbacks are never taken.
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

/// ISO weekday of the given day count since 1970-01-01, Monday = 0 … Sunday = 6.
pub fn weekday_from_monday(days: i64) -> i64 {
    // 1970-01-01 was a Thursday (3).
    (days + 3).rem_euclid(7)
}

/// Formats a day count as `YYYY-MM-DD` (years zero-padded to 4 digits; negative years prefixed with `-`).
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    if y < 0 {
        format!("-{:04}-{m:02}-{d:02}", y.unsigned_abs())
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// ms of `y-m-d h:mi` UTC.
    fn ms(y: i64, m: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, m, d) * MS_PER_DAY + h * 3_600_000 + mi * 60_000
    }

    fn dates(p: &Period) -> (&str, &str) {
        (p.start.as_str(), p.end.as_str())
    }

    #[test]
    fn epoch_and_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(format_date(days_from_civil(0, 1, 1)), "0000-01-01");
        assert_eq!(format_date(days_from_civil(-1, 12, 31)), "-0001-12-31");
        // 2024-06-03 00:00 UTC = 1_717_372_800_000 ms.
        assert_eq!(ms(2024, 6, 3, 0, 0), 1_717_372_800_000);
    }

    #[test]
    fn daily() {
        let p = period_of(ms(2024, 6, 3, 13, 45), PeriodLength::Daily);
        assert_eq!(dates(&p), ("2024-06-03", "2024-06-03"));
        assert_eq!(p.start_ms, 1_717_372_800_000);
        assert_eq!(p.end_ms, 1_717_372_800_000 + MS_PER_DAY);
        // Last millisecond of the day stays in the day; the next one does not.
        let last = p.end_ms - 1;
        assert_eq!(period_of(last, PeriodLength::Daily), p);
        assert_eq!(period_of(p.end_ms, PeriodLength::Daily).start, "2024-06-04");
    }

    #[test]
    fn leap_years() {
        let p = period_of(ms(2024, 2, 29, 23, 59), PeriodLength::Daily);
        assert_eq!(dates(&p), ("2024-02-29", "2024-02-29"));
        let p = period_of(ms(2024, 2, 10, 0, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("2024-02-01", "2024-02-29"));
        assert_eq!(p.end_ms - p.start_ms, 29 * MS_PER_DAY);
        let p = period_of(ms(2023, 2, 10, 0, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("2023-02-01", "2023-02-28"));
        // 1900 is not a leap year, 2000 is.
        let p = period_of(ms(1900, 2, 28, 12, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("1900-02-01", "1900-02-28"));
        let p = period_of(ms(2000, 2, 28, 12, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("2000-02-01", "2000-02-29"));
        assert_eq!(
            civil_from_days(days_from_civil(2000, 2, 29) + 1),
            (2000, 3, 1)
        );
        assert_eq!(
            civil_from_days(days_from_civil(2100, 2, 28) + 1),
            (2100, 3, 1)
        );
    }

    #[test]
    fn month_ends() {
        let p = period_of(ms(2024, 12, 31, 23, 59), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("2024-12-01", "2024-12-31"));
        assert_eq!(p.end_ms, ms(2025, 1, 1, 0, 0));
        let p = period_of(ms(2024, 4, 30, 0, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("2024-04-01", "2024-04-30"));
        let p = period_of(ms(2024, 5, 1, 0, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("2024-05-01", "2024-05-31"));
        assert_eq!(p.start_ms, ms(2024, 5, 1, 0, 0));
    }

    #[test]
    fn week_boundaries() {
        // 2024-06-03 is a Monday.
        assert_eq!(weekday_from_monday(days_from_civil(2024, 6, 3)), 0);
        let p = period_of(ms(2024, 6, 3, 0, 0), PeriodLength::Weekly);
        assert_eq!(dates(&p), ("2024-06-03", "2024-06-09"));
        let p2 = period_of(ms(2024, 6, 9, 23, 59), PeriodLength::Weekly);
        assert_eq!(p, p2);
        assert_eq!(
            period_of(p.start_ms - 1, PeriodLength::Weekly).start,
            "2024-05-27"
        );
        // A week spanning a year end: 2024-12-30 (Mon) .. 2025-01-05 (Sun).
        let p = period_of(ms(2025, 1, 1, 8, 0), PeriodLength::Weekly);
        assert_eq!(dates(&p), ("2024-12-30", "2025-01-05"));
        // Epoch was a Thursday: its week starts Monday 1969-12-29.
        let p = period_of(0, PeriodLength::Weekly);
        assert_eq!(dates(&p), ("1969-12-29", "1970-01-04"));
        assert_eq!(p.start_ms, -3 * MS_PER_DAY);
        assert_eq!(p.end_ms, 4 * MS_PER_DAY);
    }

    #[test]
    fn negative_times() {
        let p = period_of(-1, PeriodLength::Daily);
        assert_eq!(dates(&p), ("1969-12-31", "1969-12-31"));
        assert_eq!((p.start_ms, p.end_ms), (-MS_PER_DAY, 0));
        let p = period_of(-1, PeriodLength::Monthly);
        assert_eq!(dates(&p), ("1969-12-01", "1969-12-31"));
        assert_eq!(p.end_ms, 0);
        let p = period_of(-MS_PER_DAY, PeriodLength::Daily);
        assert_eq!(p.start, "1969-12-31");
        let p = period_of(ms(1600, 2, 15, 0, 0), PeriodLength::Monthly);
        assert_eq!(dates(&p), ("1600-02-01", "1600-02-29"));
    }

    #[test]
    fn extremes_saturate() {
        let p = period_of(i64::MAX, PeriodLength::Monthly);
        assert_eq!(p.end_ms, i64::MAX);
        assert!(p.contains(i64::MAX - 1));
        let p = period_of(i64::MIN, PeriodLength::Weekly);
        assert_eq!(p.start_ms, i64::MIN);
        assert!(p.contains(i64::MIN));
    }

    #[test]
    fn serde_lowercase_and_default() {
        assert_eq!(PeriodLength::default(), PeriodLength::Daily);
        // Round-trip through the serde data model via a tiny string deserializer.
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for (s, v) in [
            ("daily", PeriodLength::Daily),
            ("weekly", PeriodLength::Weekly),
            ("monthly", PeriodLength::Monthly),
        ] {
            let de: StrDeserializer<'_, Error> = s.into_deserializer();
            assert_eq!(PeriodLength::deserialize(de).unwrap(), v);
        }
    }
}

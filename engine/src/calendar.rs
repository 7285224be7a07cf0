//! Civil dates and UTC times, the one copy in the workspace: proleptic Gregorian day
//! arithmetic (H. Hinnant's algorithms), a strict ISO 8601 parser and the UTC formatter.
//! The replay's timestamps, the trade ledger's times and the app's run ids all use it; each
//! caller keeps its own rules on top (epoch units, HistData's clock, the range it can hold).
//! Pure: no clock, no I/O.

use thiserror::Error;

/// Nanoseconds in a second.
pub const NS_PER_SEC: i128 = 1_000_000_000;

const SECS_PER_DAY: i64 = 86_400;

/// Why a date or time was refused; the text names the part that was wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum DateTimeError {
    #[error("expected YYYY-MM-DD, optionally followed by THH:MM[:SS[.fraction]] and Z, ±HH, ±HHMM or ±HH:MM")]
    Shape,
    #[error("a field is not digits")]
    NotDigits,
    #[error("fraction of 1 to 9 digits")]
    Fraction,
    #[error("a fraction needs seconds (HH:MM:SS.fraction)")]
    FractionWithoutSeconds,
    #[error("offset must be Z, ±HH, ±HHMM or ±HH:MM")]
    Offset,
    #[error("month {0}")]
    Month(u32),
    #[error("day {day} of {year:04}-{month:02}")]
    Day { year: i64, month: u32, day: u32 },
    #[error("time {hour:02}:{minute:02}:{second:02}")]
    Time { hour: u32, minute: u32, second: u32 },
}

/// A date and time of day as written, not yet checked (see [`civil_to_ns`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CivilDateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0 to 60: a leap second reads as the first second of the next minute (as POSIX time).
    pub second: u32,
    /// Below 10^9.
    pub nanos: u32,
}

/// Whether `year` has a 29 February.
pub fn is_leap(year: i64) -> bool {
    year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0)
}

/// Days in `month` (1 to 12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian (year, month, day) of a day count since 1970-01-01
/// (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    // In range by construction: day 1 to 31, month 1 to 12.
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A civil date and time at `offset_secs` east of UTC, in ns since the epoch, once every
/// field is checked (month, day of that month, hour, minute, second up to 60, nanos).
/// `i128` holds any year; each caller narrows to the range it can store.
pub fn civil_to_ns(t: &CivilDateTime, offset_secs: i64) -> Result<i128, DateTimeError> {
    if !(1..=12).contains(&t.month) {
        return Err(DateTimeError::Month(t.month));
    }
    if t.day == 0 || t.day > days_in_month(t.year, t.month) {
        return Err(DateTimeError::Day { year: t.year, month: t.month, day: t.day });
    }
    if t.hour > 23 || t.minute > 59 || t.second > 60 || i128::from(t.nanos) >= NS_PER_SEC {
        return Err(DateTimeError::Time { hour: t.hour, minute: t.minute, second: t.second });
    }
    let days = i128::from(days_from_civil(t.year, t.month, t.day));
    let secs =
        days * i128::from(SECS_PER_DAY) + i128::from(t.hour) * 3600 + i128::from(t.minute) * 60 + i128::from(t.second)
            - i128::from(offset_secs);
    Ok(secs * NS_PER_SEC + i128::from(t.nanos))
}

/// ISO 8601, strictly: `YYYY-MM-DD` (midnight), or that and `T` (or `t` or a space)
/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.f` (`.` or `,`, 1 to 9 digits), then `Z` (or `z`),
/// `±HH`, `±HHMM`, `±HH:MM` or nothing (UTC). In ns since the epoch (see [`civil_to_ns`]).
pub fn parse_iso8601(text: &str) -> Result<i128, DateTimeError> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(DateTimeError::Shape);
    }
    let num = |range: std::ops::Range<usize>| b.get(range).and_then(digits).ok_or(DateTimeError::NotDigits);
    let mut t =
        CivilDateTime { year: i64::from(num(0..4)?), month: num(5..7)?, day: num(8..10)?, ..Default::default() };
    if b.len() == 10 {
        return civil_to_ns(&t, 0);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 16 || b[13] != b':' {
        return Err(DateTimeError::Shape);
    }
    (t.hour, t.minute) = (num(11..13)?, num(14..16)?);
    let mut rest = &b[16..];
    let with_seconds = rest.first() == Some(&b':');
    if with_seconds {
        t.second = num(17..19)?;
        rest = &b[19..];
    }
    if let Some((b'.' | b',', after)) = rest.split_first() {
        if !with_seconds {
            return Err(DateTimeError::FractionWithoutSeconds);
        }
        let end = after.iter().position(|c| !c.is_ascii_digit()).unwrap_or(after.len());
        let nanos = fraction(&after[..end], 9).ok_or(DateTimeError::Fraction)?;
        t.nanos = u32::try_from(nanos).map_err(|_| DateTimeError::Fraction)?;
        rest = &after[end..];
    }
    let offset = parse_offset(rest).ok_or(DateTimeError::Offset)?;
    civil_to_ns(&t, offset)
}

/// `Z`, `z`, `±HH`, `±HHMM`, `±HH:MM` or nothing (UTC), in seconds east of UTC.
fn parse_offset(text: &[u8]) -> Option<i64> {
    let (sign, body) = match text.split_first() {
        None | Some((b'Z' | b'z', [])) => return Some(0),
        Some((b'+', body)) => (1, body),
        Some((b'-', body)) => (-1, body),
        _ => return None,
    };
    let (h, m) = match body {
        [_, _] => (digits(body)?, 0),
        [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        [h1, h2, b':', m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (i64::from(h) * 3600 + i64::from(m) * 60))
}

/// ASCII digits (1 to 9 of them) as a number; `None` for anything else.
pub fn digits(text: &[u8]) -> Option<u32> {
    if text.is_empty() || text.len() > 9 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(text.iter().fold(0, |n, c| n * 10 + u32::from(c - b'0')))
}

/// The digits after a decimal point in units of 10^-`places` (`"5"`, 9 places: 500,000,000);
/// `None` if they are empty, not digits, or finer than `places`.
pub fn fraction(digits: &[u8], places: u32) -> Option<u64> {
    let len = u32::try_from(digits.len()).ok()?;
    if len == 0 || len > places || places > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().try_fold(0u64, |n, c| n.checked_mul(10)?.checked_add(u64::from(c - b'0')))?;
    value.checked_mul(10u64.checked_pow(places - len)?)
}

/// `YYYY-MM-DDTHH:MM:SS.fZ` of ns since the epoch, the fraction cut (not rounded) to
/// `places` digits (at most 9; none and no point when 0).
pub fn format_utc(ns: i128, places: u32) -> String {
    let secs = ns.div_euclid(NS_PER_SEC);
    let frac = ns.rem_euclid(NS_PER_SEC);
    let secs = i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX });
    let (days, rest) = (secs.div_euclid(SECS_PER_DAY), secs.rem_euclid(SECS_PER_DAY));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let places = places.min(9);
    if places == 0 {
        return format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z");
    }
    let frac = frac / 10i128.pow(9 - places);
    let width = places as usize;
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:0width$}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const T: i128 = 1_704_067_200 * NS_PER_SEC; // 2024-01-01T00:00:00Z

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_413), (2025, 11, 21));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2024, 1, 1), 19_723);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn days_and_dates_invert_each_other() {
        // 1600-01-01 to 2400-12-31: four-century cycles, both sides of the epoch.
        let (first, last) = (days_from_civil(1600, 1, 1), days_from_civil(2400, 12, 31));
        let mut expected = (1600, 1, 1);
        for day in first..=last {
            let date = civil_from_days(day);
            assert_eq!(date, expected, "day {day}");
            assert_eq!(days_from_civil(date.0, date.1, date.2), day);
            let (y, m, d) = expected;
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn leap_years() {
        assert!(is_leap(2024) && is_leap(2000) && is_leap(1600));
        assert!(!is_leap(2023) && !is_leap(1900) && !is_leap(2100));
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2023, 2), 28);
        assert_eq!(days_in_month(2023, 4), 30);
        assert_eq!(days_in_month(2023, 12), 31);
    }

    #[rstest]
    #[case::date_only("2024-01-01", T)]
    #[case::z("2024-01-01T00:00:00Z", T)]
    #[case::lower_case("2024-01-01t00:00:00z", T)]
    #[case::space_no_offset_is_utc("2024-01-01 00:00:00", T)]
    #[case::no_seconds("2024-01-01T00:00Z", T)]
    #[case::no_seconds_offset("2024-01-01T02:00+02:00", T)]
    #[case::fraction("2024-01-01T00:00:00.5Z", T + 500_000_000)]
    #[case::comma_fraction("2024-01-01T00:00:00,25Z", T + 250_000_000)]
    #[case::nanos("2024-01-01T00:00:00.000000001Z", T + 1)]
    #[case::plus_offset("2024-01-01T02:00:00+02:00", T)]
    #[case::minus_offset("2023-12-31T19:00:00-05:00", T)]
    #[case::minus_offset_compact("2023-12-31T19:00:00-0500", T)]
    #[case::hour_offset("2024-01-01T01:00:00+01", T)]
    #[case::leap_day("2024-02-29T00:00:00Z", T + 59 * 86_400 * NS_PER_SEC)]
    #[case::leap_second("2023-12-31T23:59:60Z", T)]
    #[case::before_1970("1969-12-31T23:59:59Z", -NS_PER_SEC)]
    fn iso8601(#[case] text: &str, #[case] ns: i128) {
        assert_eq!(parse_iso8601(text), Ok(ns), "{text}");
    }

    #[rstest]
    #[case::empty("", DateTimeError::Shape)]
    #[case::words("yesterday", DateTimeError::Shape)]
    #[case::month("2024-13-01T00:00:00Z", DateTimeError::Month(13))]
    #[case::day("2023-02-29T00:00:00Z", DateTimeError::Day { year: 2023, month: 2, day: 29 })]
    #[case::hour("2024-01-01T24:00:00Z", DateTimeError::Time { hour: 24, minute: 0, second: 0 })]
    #[case::second("2024-01-01T00:00:61Z", DateTimeError::Time { hour: 0, minute: 0, second: 61 })]
    #[case::offset_hours("2024-01-01T00:00:00+25:00", DateTimeError::Offset)]
    #[case::offset_one_digit("2024-01-01T00:00:00+2", DateTimeError::Offset)]
    #[case::offset_on_a_date("2024-01-01Z", DateTimeError::Shape)]
    #[case::long_fraction("2024-01-01T00:00:00.1234567890Z", DateTimeError::Fraction)]
    #[case::empty_fraction("2024-01-01T00:00:00.Z", DateTimeError::Fraction)]
    #[case::fraction_of_minutes("2024-01-01T00:00.5Z", DateTimeError::FractionWithoutSeconds)]
    #[case::garbage("2024-01-01T00:00:00 garbage", DateTimeError::Offset)]
    #[case::hour_only("2024-01-01T00", DateTimeError::Shape)]
    #[case::not_digits("2024-0a-01", DateTimeError::NotDigits)]
    #[case::not_ascii("2024-01-01T00:0é", DateTimeError::NotDigits)]
    fn bad_iso8601(#[case] text: &str, #[case] error: DateTimeError) {
        assert_eq!(parse_iso8601(text), Err(error), "{text}");
    }

    #[test]
    fn errors_name_what_was_wrong() {
        assert_eq!(DateTimeError::Day { year: 2023, month: 2, day: 29 }.to_string(), "day 29 of 2023-02");
        assert_eq!(DateTimeError::Time { hour: 24, minute: 0, second: 0 }.to_string(), "time 24:00:00");
    }

    #[test]
    fn fractions() {
        assert_eq!(fraction(b"5", 9), Some(500_000_000));
        assert_eq!(fraction(b"123", 3), Some(123));
        assert_eq!(fraction(b"1234", 3), None);
        assert_eq!(fraction(b"", 9), None);
        assert_eq!(fraction(b"1a", 9), None);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_utc(T + 123_456_789, 9), "2024-01-01T00:00:00.123456789Z");
        assert_eq!(format_utc(T + 123_456_789, 3), "2024-01-01T00:00:00.123Z");
        assert_eq!(format_utc(T + 999_999_999, 0), "2024-01-01T00:00:00Z");
        assert_eq!(format_utc(-1, 9), "1969-12-31T23:59:59.999999999Z");
        for text in ["2024-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "1999-12-31T12:34:56.789Z"] {
            assert_eq!(parse_iso8601(text).map(|ns| format_utc(ns, 3)).as_deref(), Ok(text));
        }
    }
}

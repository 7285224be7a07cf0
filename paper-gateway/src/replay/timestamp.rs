//! Timestamps of recorded quotes, to nanoseconds since the Unix epoch (UTC): ISO 8601 with
//! an optional offset, bare epoch numbers whose unit follows from their magnitude, and
//! HistData's `YYYYMMDD HHMMSSmmm` (EST without daylight saving, i.e. UTC−5 all year).
//! Strict: anything out of range or malformed is an error, never a guess.

/// Below this a bare epoch number is seconds (10^11 s is the year 5138; 10^11 ms is 1973).
const SECONDS_BELOW: u64 = 100_000_000_000;
/// Below this (and from `SECONDS_BELOW`) milliseconds.
const MILLIS_BELOW: u64 = 100_000_000_000_000;
/// Below this (and from `MILLIS_BELOW`) microseconds; from it on, nanoseconds.
const MICROS_BELOW: u64 = 100_000_000_000_000_000;

const NS_PER_SEC: i128 = 1_000_000_000;

/// HistData's clock: Eastern Standard Time with no daylight saving, UTC−5 all year.
pub const HISTDATA_UTC_OFFSET_SECS: i64 = -5 * 3600;

/// Why a timestamp was refused (the text of a bad row's reason).
pub type TimestampError = String;

/// A timestamp column: a bare epoch number (unit by magnitude) or ISO 8601.
pub fn parse_timestamp(text: &str) -> Result<u64, TimestampError> {
    if text.is_empty() {
        return Err("empty timestamp".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_epoch(text);
    }
    parse_iso8601(text)
}

/// `SECONDS[.fraction]`, or whole ms / µs / ns, by the magnitude of the integer part.
pub fn parse_epoch(text: &str) -> Result<u64, TimestampError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (text, None),
    };
    let bad = || format!("{text:?} is not an epoch timestamp");
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || whole.len() > 20 {
        return Err(bad());
    }
    let value: u64 = whole.parse().map_err(|_| bad())?;
    let ns_per_unit: u64 = match value {
        v if v < SECONDS_BELOW => 1_000_000_000,
        v if v < MILLIS_BELOW => 1_000_000,
        v if v < MICROS_BELOW => 1_000,
        _ => 1,
    };
    let mut ns = value.checked_mul(ns_per_unit).ok_or_else(|| format!("{text:?} is out of range"))?;
    if let Some(f) = fraction {
        ns = ns.checked_add(fraction_ns(f, ns_per_unit).ok_or_else(bad)?).ok_or_else(bad)?;
    }
    Ok(ns)
}

/// The digits after the point, in ns, for a unit of `ns_per_unit`; `None` if they are not
/// digits or are finer than a nanosecond.
fn fraction_ns(digits: &str, ns_per_unit: u64) -> Option<u64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let places = ns_per_unit.ilog10() as usize;
    if digits.len() > places {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(value * 10u64.pow(u32::try_from(places - digits.len()).ok()?))
}

/// `YYYY-MM-DD[T| ]HH:MM:SS[.f{1,9}][Z|±HH[:MM]|±HHMM]`; no offset means UTC.
pub fn parse_iso8601(text: &str) -> Result<u64, TimestampError> {
    let bad = |why: &str| format!("{text:?} is not an ISO 8601 timestamp: {why}");
    let b = text.as_bytes();
    if b.len() < 19 {
        return Err(bad("too short (need YYYY-MM-DDTHH:MM:SS)"));
    }
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return Err(bad("expected YYYY-MM-DDTHH:MM:SS"));
    }
    let num = |range: std::ops::Range<usize>| digits(&text[range]).ok_or_else(|| bad("a field is not digits"));
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos = 0u64;
    if let Some(after) = rest.strip_prefix(['.', ',']) {
        let end = after.bytes().position(|c| !c.is_ascii_digit()).unwrap_or(after.len());
        nanos = fraction_ns(&after[..end], 1_000_000_000).ok_or_else(|| bad("fraction of 1 to 9 digits"))?;
        rest = &after[end..];
    }
    let offset = parse_offset(rest).ok_or_else(|| bad("offset must be Z, ±HH, ±HHMM or ±HH:MM"))?;
    civil_to_ns(year, month, day, (hour, minute, second), nanos, offset).map_err(|why| bad(&why))
}

/// `Z`, `±HH`, `±HHMM`, `±HH:MM` or nothing (UTC), in seconds east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    match text {
        "" | "Z" | "z" => return Some(0),
        _ => {}
    }
    let (sign, body) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = match body.len() {
        2 => (digits(body)?, 0),
        4 => (digits(&body[..2])?, digits(&body[2..])?),
        5 if body.as_bytes()[2] == b':' => (digits(&body[..2])?, digits(&body[3..])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (i64::from(h) * 3600 + i64::from(m) * 60))
}

/// HistData's `YYYYMMDD HHMMSSmmm` (EST, UTC−5, no daylight saving) in UTC ns.
pub fn parse_histdata(text: &str) -> Result<u64, TimestampError> {
    let bad = |why: &str| format!("{text:?} is not a HistData timestamp (YYYYMMDD HHMMSSmmm): {why}");
    let b = text.as_bytes();
    if b.len() != 18 || b[8] != b' ' {
        return Err(bad("wrong shape"));
    }
    let num = |range: std::ops::Range<usize>| digits(&text[range]).ok_or_else(|| bad("not digits"));
    let (year, month, day) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hour, minute, second, millis) = (num(9..11)?, num(11..13)?, num(13..15)?, num(15..18)?);
    let nanos = u64::from(millis) * 1_000_000;
    civil_to_ns(year, month, day, (hour, minute, second), nanos, HISTDATA_UTC_OFFSET_SECS).map_err(|why| bad(&why))
}

/// Whether a text is shaped like a HistData timestamp (for format detection).
pub fn looks_like_histdata(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 18 && b[8] == b' ' && b.iter().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit())
}

fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A civil date and time at `offset_secs` east of UTC, in ns since the epoch.
fn civil_to_ns(
    year: u32,
    month: u32,
    day: u32,
    (hour, minute, second): (u32, u32, u32),
    nanos: u64,
    offset_secs: i64,
) -> Result<u64, String> {
    if !(1..=12).contains(&month) {
        return Err(format!("month {month}"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(format!("day {day} of {year}-{month:02}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!("time {hour:02}:{minute:02}:{second:02}"));
    }
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let secs = days * 86_400 + i64::from(hour) * 3600 + i64::from(minute) * 60 + i64::from(second) - offset_secs;
    let ns = i128::from(secs) * NS_PER_SEC + i128::from(nanos);
    u64::try_from(ns).map_err(|_| "before 1970 or after 2554".to_string())
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of ns since the epoch (for summaries and reports).
pub fn format_utc(ns: u64) -> String {
    let secs = i64::try_from(ns / 1_000_000_000).unwrap_or(i64::MAX);
    let millis = (ns % 1_000_000_000) / 1_000_000;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const T: u64 = 1_704_067_200_000_000_000; // 2024-01-01T00:00:00Z

    #[rstest]
    #[case::iso_z("2024-01-01T00:00:00Z", T)]
    #[case::iso_no_offset_is_utc("2024-01-01 00:00:00", T)]
    #[case::iso_fraction("2024-01-01T00:00:00.5Z", T + 500_000_000)]
    #[case::iso_nanos("2024-01-01T00:00:00.000000001Z", T + 1)]
    #[case::iso_plus_offset("2024-01-01T02:00:00+02:00", T)]
    #[case::iso_minus_offset_compact("2023-12-31T19:00:00-0500", T)]
    #[case::iso_hour_offset("2024-01-01T01:00:00+01", T)]
    #[case::leap_day("2024-02-29T00:00:00Z", T + 59 * 86_400 * 1_000_000_000)]
    #[case::epoch_s("1704067200", T)]
    #[case::epoch_s_fraction("1704067200.25", T + 250_000_000)]
    #[case::epoch_ms("1704067200000", T)]
    #[case::epoch_us("1704067200000000", T)]
    #[case::epoch_ns("1704067200000000000", T)]
    fn timestamps(#[case] text: &str, #[case] ns: u64) {
        assert_eq!(parse_timestamp(text), Ok(ns), "{text}");
    }

    #[rstest]
    #[case("")]
    #[case("2024-13-01T00:00:00Z")]
    #[case("2023-02-29T00:00:00Z")]
    #[case("2024-01-01T24:00:00Z")]
    #[case("2024-01-01T00:00:00+25:00")]
    #[case("2024-01-01T00:00:00.1234567890Z")]
    #[case("2024-01-01T00:00:00 garbage")]
    #[case("1969-12-31T23:59:59Z")]
    #[case("1.2.3")]
    #[case("1704067200000.5.")]
    #[case("99999999999999999999999")]
    #[case("NaN")]
    #[case("-1704067200")]
    fn bad_timestamps(#[case] text: &str) {
        assert!(parse_timestamp(text).is_err(), "{text} accepted");
    }

    #[test]
    fn formatting_inverts_parsing() {
        for text in ["2024-01-01T00:00:00.000Z", "2024-02-29T23:59:59.999Z", "1999-12-31T12:34:56.789Z"] {
            assert_eq!(format_utc(parse_iso8601(text).unwrap()), text);
        }
    }

    #[test]
    fn histdata_is_est_without_daylight_saving() {
        // 2024-07-01 12:00:00.123 EST (even in July: no DST) = 17:00:00.123 UTC.
        let july = parse_histdata("20240701 120000123").unwrap();
        assert_eq!(july, parse_iso8601("2024-07-01T17:00:00.123Z").unwrap());
        let jan = parse_histdata("20240101 000000000").unwrap();
        assert_eq!(jan, T + 5 * 3600 * 1_000_000_000);
        assert!(parse_histdata("20240101 246000000").is_err());
        assert!(parse_histdata("2024010 1000000000").is_err());
        assert!(looks_like_histdata("20240101 000000000"));
        assert!(!looks_like_histdata("timestamp"));
    }
}

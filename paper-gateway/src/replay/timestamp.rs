//! Timestamps of recorded quotes, to nanoseconds since the Unix epoch (UTC): ISO 8601 with
//! an optional offset, bare epoch numbers whose unit follows from their magnitude, and
//! HistData's `YYYYMMDD HHMMSSmmm` (EST without daylight saving, i.e. UTC−5 all year).
//! Strict: anything out of range or malformed is an error, never a guess. The calendar and
//! the ISO 8601 grammar are `engine::calendar`'s; the epoch units and HistData's clock are here.

use engine::calendar::{self, CivilDateTime};

/// Below this a bare epoch number is seconds (10^11 s is the year 5138; 10^11 ms is 1973).
const SECONDS_BELOW: u64 = 100_000_000_000;
/// Below this (and from `SECONDS_BELOW`) milliseconds.
const MILLIS_BELOW: u64 = 100_000_000_000_000;
/// Below this (and from `MILLIS_BELOW`) microseconds; from it on, nanoseconds.
const MICROS_BELOW: u64 = 100_000_000_000_000_000;

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
        ns = ns.checked_add(calendar::fraction(f.as_bytes(), ns_per_unit.ilog10()).ok_or_else(bad)?).ok_or_else(bad)?;
    }
    Ok(ns)
}

/// ISO 8601 (`engine::calendar::parse_iso8601`: a date, optionally a time to the minute,
/// second or ns, and `Z`, `±HH`, `±HHMM` or `±HH:MM`; no offset means UTC), from 1970 to 2554.
pub fn parse_iso8601(text: &str) -> Result<u64, TimestampError> {
    let bad = |why: &dyn std::fmt::Display| format!("{text:?} is not an ISO 8601 timestamp: {why}");
    let ns = calendar::parse_iso8601(text).map_err(|why| bad(&why))?;
    u64::try_from(ns).map_err(|_| bad(&OUT_OF_RANGE))
}

/// HistData's `YYYYMMDD HHMMSSmmm` (EST, UTC−5, no daylight saving) in UTC ns.
pub fn parse_histdata(text: &str) -> Result<u64, TimestampError> {
    let bad = |why: &dyn std::fmt::Display| format!("{text:?} is not a HistData timestamp (YYYYMMDD HHMMSSmmm): {why}");
    let b = text.as_bytes();
    if b.len() != 18 || b[8] != b' ' {
        return Err(bad(&"wrong shape"));
    }
    let num = |range: std::ops::Range<usize>| calendar::digits(&b[range]).ok_or_else(|| bad(&"not digits"));
    let t = CivilDateTime {
        year: i64::from(num(0..4)?),
        month: num(4..6)?,
        day: num(6..8)?,
        hour: num(9..11)?,
        minute: num(11..13)?,
        second: num(13..15)?,
        nanos: num(15..18)? * 1_000_000,
    };
    let ns = calendar::civil_to_ns(&t, HISTDATA_UTC_OFFSET_SECS).map_err(|why| bad(&why))?;
    u64::try_from(ns).map_err(|_| bad(&OUT_OF_RANGE))
}

/// Why a valid date is refused: nanoseconds since 1970 in a `u64`.
const OUT_OF_RANGE: &str = "before 1970 or after 2554";

/// Whether a text is shaped like a HistData timestamp (for format detection).
pub fn looks_like_histdata(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 18 && b[8] == b' ' && b.iter().enumerate().all(|(i, c)| i == 8 || c.is_ascii_digit())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of ns since the epoch (for summaries and reports).
pub fn format_utc(ns: u64) -> String {
    calendar::format_utc(i128::from(ns), 3)
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

//! Times of the ledger: ns since the Unix epoch, shown as ISO 8601 UTC, and read from
//! `--from`/`--to` as ISO 8601 (`2026-05-01`, `2026-05-01T12:00:00`, with optional
//! fractional seconds and `Z` or a `±HH:MM`, `±HHMM` or `±HH` offset) or as epoch seconds (`1767225600`,
//! `1767225600.5`). The calendar and the ISO 8601 grammar are `engine::calendar`'s.

use engine::calendar;

/// Nanoseconds since the Unix epoch.
pub type EpochNs = i64;

const NS: i64 = 1_000_000_000;

/// `2026-05-01T12:00:00.123456789Z`.
pub fn format_ns(ns: EpochNs) -> String {
    calendar::format_utc(i128::from(ns), 9)
}

/// Parses a time given on the command line; the error says what was wrong and what is
/// accepted.
pub fn parse_time(text: &str) -> Result<EpochNs, String> {
    let text = text.trim();
    let expected = |why: &dyn std::fmt::Display| {
        format!("{text:?} is not a time ({why}): use ISO 8601 (2026-05-01, 2026-05-01T12:00:00Z, 2026-05-01T14:00:00+02:00) or epoch seconds")
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.contains('-') {
        return epoch_seconds(text).ok_or_else(|| expected(&"not epoch seconds"));
    }
    let ns = calendar::parse_iso8601(text).map_err(|why| expected(&why))?;
    EpochNs::try_from(ns).map_err(|_| expected(&"outside 1677-09-21 to 2262-04-11"))
}

fn epoch_seconds(text: &str) -> Option<EpochNs> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || frac.len() > 9 || frac.contains('.') {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let frac_ns = if frac.is_empty() { 0 } else { calendar::fraction(frac.as_bytes(), 9)? };
    secs.checked_mul(NS)?.checked_add(i64::try_from(frac_ns).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_and_epoch_agree() {
        let t = 1_767_225_600 * NS; // 2026-01-01T00:00:00Z
        for text in [
            "2026-01-01",
            "2026-01-01T00:00:00Z",
            "2026-01-01T00:00Z",
            "2026-01-01T02:00:00+02:00",
            "2025-12-31T19:00:00-05:00",
            "2026-01-01 00:00:00",
            "1767225600",
            "1767225600.000",
        ] {
            assert_eq!(parse_time(text), Ok(t), "{text}");
        }
        assert_eq!(parse_time("2026-01-01T00:00:00.5Z"), Ok(t + NS / 2));
        assert_eq!(parse_time("1767225600.25"), Ok(t + NS / 4));
        assert_eq!(format_ns(t + 5), "2026-01-01T00:00:00.000000005Z");
        assert_eq!(parse_time(&format_ns(t + 123_456_789)), Ok(t + 123_456_789), "the output reads back");
    }

    #[test]
    fn bad_times_are_refused_never_a_panic() {
        for text in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-01-01T25:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+2",
            "1.2.3",
            "99999999999999999999",
            "2026-01-01T00:00:00.1234567891Z",
        ] {
            assert!(parse_time(text).is_err(), "{text:?}");
        }
        assert!(parse_time("2024-02-29").is_ok(), "a leap day");
    }
}

//! Times of the ledger: ns since the Unix epoch, shown as ISO 8601 UTC, and read from
//! `--from`/`--to` as ISO 8601 (`2026-05-01`, `2026-05-01T12:00:00`, with optional
//! fractional seconds and `Z` or a `±HH:MM` offset) or as epoch seconds (`1767225600`,
//! `1767225600.5`).

/// Nanoseconds since the Unix epoch.
pub type EpochNs = i64;

const NS: i64 = 1_000_000_000;

/// `2026-05-01T12:00:00.123456789Z`.
pub fn format_ns(ns: EpochNs) -> String {
    let (secs, frac) = (ns.div_euclid(NS), ns.rem_euclid(NS));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:09}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Parses a time given on the command line; the error says what is accepted.
pub fn parse_time(text: &str) -> Result<EpochNs, String> {
    let text = text.trim();
    let expected = || {
        format!("{text:?} is not a time: use ISO 8601 (2026-05-01, 2026-05-01T12:00:00Z, 2026-05-01T14:00:00+02:00) or epoch seconds")
    };
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.contains('-') {
        return epoch_seconds(text).ok_or_else(expected);
    }
    iso(text).ok_or_else(expected)
}

fn epoch_seconds(text: &str) -> Option<EpochNs> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || frac.len() > 9 || frac.contains('.') {
        return None;
    }
    let secs: i64 = whole.parse().ok()?;
    let frac_ns: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
    secs.checked_mul(NS)?.checked_add(frac_ns)
}

fn number(text: &str, digits: usize) -> Option<i64> {
    (text.len() == digits && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

fn iso(text: &str) -> Option<EpochNs> {
    let (date, rest) = match text.split_once(['T', ' ']) {
        Some((d, r)) => (d, Some(r)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let (y, m, d) = (number(parts.next()?, 4)?, number(parts.next()?, 2)?, number(parts.next()?, 2)?);
    if parts.next().is_some() || !(1..=12).contains(&m) || !(1..=days_in_month(y, m)).contains(&d) {
        return None;
    }
    let mut ns = days_from_civil(y, m, d).checked_mul(86_400 * NS)?;
    let Some(rest) = rest else { return Some(ns) };
    let (clock, offset_secs) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let (c, off) = rest.split_at(i);
        let sign = if off.starts_with('-') { -1 } else { 1 };
        let (oh, om) = off[1..].split_once(':').unwrap_or((&off[1..], "00"));
        let (oh, om) = (number(oh, 2)?, number(om, 2)?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60))
    } else {
        (rest, 0)
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.split(':');
    let h = number(hms.next()?, 2)?;
    let mi = number(hms.next()?, 2)?;
    let s = match hms.next() {
        Some(s) => number(s, 2)?,
        None => 0,
    };
    if hms.next().is_some() || h > 23 || mi > 59 || s > 60 || frac.len() > 9 {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (clock.contains('.') && frac.is_empty()) {
        return None;
    }
    let frac_ns: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<9}").parse().ok()? };
    ns = ns.checked_add(((h * 3600 + mi * 60 + s) - offset_secs) * NS)?.checked_add(frac_ns)?;
    Some(ns)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
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

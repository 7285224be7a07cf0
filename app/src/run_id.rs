//! Run identifiers and wall-clock time for the binaries. (A process's session id is
//! `protocol::SessionId::fresh()`; the calendar is `engine::calendar`.)

use std::time::{SystemTime, UNIX_EPOCH};

use engine::calendar::civil_from_days;

/// Nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A run id for `logs/<run-id>/`: UTC time to the second, plus the pid.
pub fn run_id() -> String {
    let secs = wall_ns() / 1_000_000_000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let (y, mo, d) = civil_from_days(days as i64);
    format!("{y:04}{mo:02}{d:02}T{h:02}{m:02}{s:02}Z-{}", std::process::id())
}

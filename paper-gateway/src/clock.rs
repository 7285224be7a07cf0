//! Wall time and the session id of a gateway run. (The engine has the same two functions in
//! `engine-app`'s `run_id`; the gateway keeps its own so that it depends on no part of the
//! engine application.)

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A session id that differs between process starts (time mixed with the pid).
pub fn session_id() -> u64 {
    let mut z = wall_ns() ^ (u64::from(std::process::id()) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_differ_over_time() {
        let a = session_id();
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_ne!(a, session_id());
    }
}

//! Time sources for the shell: wall-clock nanoseconds (what the core and the wire use) and
//! microseconds since the run started (the `mono_us` of lock events).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Microseconds since the first call in this process (monotonic).
pub fn mono_us() -> u64 {
    u64::try_from(start().elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The engine's clock for `engine::Clock` users.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl engine::Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        wall_ns()
    }
}

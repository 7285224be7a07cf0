//! Time as nanoseconds, and the injected clock the shell provides.

use std::sync::atomic::{AtomicU64, Ordering};

/// Nanoseconds since the Unix epoch (or since an arbitrary start in tests).
pub type TimeNs = u64;

/// Nanoseconds per second / millisecond.
pub const NS_PER_SEC: u64 = 1_000_000_000;
pub const NS_PER_MS: u64 = 1_000_000;

/// A source of time. The core never reads a clock itself: the shell passes `now` in.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> TimeNs;
}

/// A clock that moves only when told to; for tests and replays.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start: TimeNs) -> ManualClock {
        ManualClock(AtomicU64::new(start))
    }
    pub fn advance(&self, by: u64) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }
    pub fn set(&self, to: TimeNs) {
        self.0.store(to, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> TimeNs {
        self.0.load(Ordering::SeqCst)
    }
}

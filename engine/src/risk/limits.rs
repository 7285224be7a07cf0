//! Order-rate limit (sliding one-second window) and the shared total-exposure budget.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};

use protocol::Money;

use crate::clock::{TimeNs, NS_PER_SEC};

/// At most `max` events in any window of one second. Memory is bounded by `max` and grows
/// only with use (a symbol that trades once a second holds one timestamp; preallocating
/// `max` cost 8 KiB per symbol, 82 MB at 10,000 symbols).
#[derive(Clone, Debug)]
pub struct RateLimit {
    max: usize,
    times: VecDeque<TimeNs>,
}

impl RateLimit {
    pub fn per_second(max: u32) -> RateLimit {
        RateLimit { max: max as usize, times: VecDeque::new() }
    }

    fn expire(&mut self, now: TimeNs) {
        while self.times.front().is_some_and(|t| now.saturating_sub(*t) >= NS_PER_SEC) {
            self.times.pop_front();
        }
    }

    /// Would one more event at `now` stay within the limit?
    pub fn allows(&mut self, now: TimeNs) -> bool {
        self.expire(now);
        self.times.len() < self.max
    }

    /// Records an event (call after `allows`, once the event really happens). Events
    /// recorded past the limit (exits are never refused for rate) still only keep `max`.
    pub fn record(&mut self, now: TimeNs) {
        self.expire(now);
        if self.times.len() == self.max {
            self.times.pop_front();
        }
        if self.max > 0 {
            self.times.push_back(now);
        }
    }
}

/// Total exposure across symbols: reservations are checked against a limit atomically,
/// so two symbols racing cannot both pass and together exceed it.
#[derive(Debug, Default)]
pub struct ExposureBudget {
    total_raw: AtomicI64,
}

impl ExposureBudget {
    pub fn total(&self) -> Money {
        Money::from_raw_signed(self.total_raw.load(Ordering::Acquire))
    }

    /// Adds `amount` if the new total stays within `limit`; otherwise changes nothing.
    pub fn try_reserve(&self, amount: Money, limit: Money) -> bool {
        let mut current = self.total_raw.load(Ordering::Acquire);
        loop {
            let Some(next) = current.checked_add(amount.raw()) else { return false };
            if next > limit.raw() {
                return false;
            }
            match self.total_raw.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Applies a correction (fills at a different price than estimated, closes). Never
    /// refused: it records what already happened.
    pub fn adjust(&self, delta: Money) {
        self.total_raw.fetch_add(delta.raw(), Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rate_limit_slides() {
        let mut r = RateLimit::per_second(2);
        assert!(r.allows(0));
        r.record(0);
        r.record(500_000_000);
        assert!(!r.allows(999_999_999));
        assert!(r.allows(1_000_000_000));
        r.record(1_000_000_000);
        assert!(!r.allows(1_200_000_000));
    }

    #[test]
    fn rate_limit_memory_is_bounded() {
        let mut r = RateLimit::per_second(3);
        for _ in 0..100 {
            r.record(5);
        }
        assert_eq!(r.times.len(), 3);
        let mut zero = RateLimit::per_second(0);
        assert!(!zero.allows(0));
        zero.record(0);
        assert!(zero.times.is_empty());
    }

    #[test]
    fn exposure_never_exceeds_limit_under_contention() {
        let budget = Arc::new(ExposureBudget::default());
        let limit = Money::from_raw_signed(1_000);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = Arc::clone(&budget);
                std::thread::spawn(move || {
                    (0..1_000).filter(|_| b.try_reserve(Money::from_raw_signed(7), limit)).count()
                })
            })
            .collect();
        let granted: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(granted, 1_000 / 7);
        assert_eq!(budget.total().raw(), 7 * (1_000 / 7));
    }
}

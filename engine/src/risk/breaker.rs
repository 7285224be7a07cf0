//! The global circuit breaker: trips on consecutive order failures or on drawdown,
//! goes half-open after a cool-off (exactly one probe order allowed), closes when the
//! probe succeeds and re-opens when it fails. It can never stay open forever.
//!
//! ```text
//! Closed ──(N consecutive failures | drawdown ≥ max)──▶ Open
//! Open ──(admit after cool-off)──▶ HalfOpen{probe in flight}
//! HalfOpen ──probe success──▶ Closed   HalfOpen ──probe failure──▶ Open (cool-off restarts)
//! HalfOpen ──(probe silent for a cool-off)──▶ Open
//! ```
//! Only the probe's outcome moves a half-open breaker: a late result of an order sent
//! before the trip, or an exit, does not.

use protocol::Money;

use super::Refusal;
use crate::clock::TimeNs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerConfig {
    pub max_consecutive_failures: u32,
    pub cooloff_ns: u64,
    /// Trip when equity falls this far below its high-water mark.
    pub max_drawdown: Money,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        since: TimeNs,
    },
    /// `since`: when the current probe permit was granted.
    HalfOpen {
        probe_in_flight: bool,
        since: TimeNs,
    },
}

impl BreakerState {
    pub const fn name(&self) -> &'static str {
        match self {
            BreakerState::Closed { .. } => "closed",
            BreakerState::Open { .. } => "open",
            BreakerState::HalfOpen { .. } => "half_open",
        }
    }
}

/// What the breaker allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Normal,
    /// The single probe of a half-open breaker.
    Probe,
}

#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    trips: u64,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker { config, state: BreakerState::Closed { consecutive_failures: 0 }, trips: 0 }
    }
    pub fn state(&self) -> BreakerState {
        self.state
    }
    pub fn trips(&self) -> u64 {
        self.trips
    }

    /// May a new entry order go out now?
    pub fn admit(&mut self, now: TimeNs) -> Result<Admission, Refusal> {
        match self.state {
            BreakerState::Closed { .. } => Ok(Admission::Normal),
            BreakerState::Open { since } if now.saturating_sub(since) >= self.config.cooloff_ns => {
                self.state = BreakerState::HalfOpen { probe_in_flight: true, since: now };
                Ok(Admission::Probe)
            }
            BreakerState::Open { .. } => Err(Refusal::BreakerOpen),
            // A probe that has not been heard of for a whole cool-off counts as failed, so the
            // breaker can never wait on a lost probe forever.
            BreakerState::HalfOpen { probe_in_flight: true, since }
                if now.saturating_sub(since) >= self.config.cooloff_ns =>
            {
                self.trip(now);
                Err(Refusal::BreakerOpen)
            }
            BreakerState::HalfOpen { probe_in_flight: true, .. } => Err(Refusal::BreakerProbeInFlight),
            BreakerState::HalfOpen { probe_in_flight: false, .. } => {
                self.state = BreakerState::HalfOpen { probe_in_flight: true, since: now };
                Ok(Admission::Probe)
            }
        }
    }

    /// A probe permit was granted but no order was sent: let the next caller probe.
    pub fn return_probe(&mut self) {
        if let BreakerState::HalfOpen { probe_in_flight: true, since } = self.state {
            self.state = BreakerState::HalfOpen { probe_in_flight: false, since };
        }
    }

    /// An order that was not the probe filled: resets the failure count when closed.
    /// Only the probe's own outcome moves a half-open breaker.
    pub fn on_success(&mut self) {
        if let BreakerState::Closed { .. } = self.state {
            self.state = BreakerState::Closed { consecutive_failures: 0 };
        }
    }

    /// An order that was not the probe failed. Returns true if this tripped the breaker.
    pub fn on_failure(&mut self, now: TimeNs) -> bool {
        if let BreakerState::Closed { consecutive_failures } = self.state {
            let failures = consecutive_failures + 1;
            if failures >= self.config.max_consecutive_failures {
                self.trip(now);
                return true;
            }
            self.state = BreakerState::Closed { consecutive_failures: failures };
        }
        false
    }

    /// The outcome of the probe granted at `granted_at`: success closes a half-open
    /// breaker, failure re-opens it. The result of an older probe (one that went silent and
    /// was given up) is ignored. Returns true if the state changed.
    pub fn on_probe_outcome(&mut self, success: bool, granted_at: TimeNs, now: TimeNs) -> bool {
        if !matches!(self.state, BreakerState::HalfOpen { since, .. } if since == granted_at) {
            return false;
        }
        if success {
            self.state = BreakerState::Closed { consecutive_failures: 0 };
        } else {
            self.trip(now);
        }
        true
    }

    /// Equity fell `drawdown` below its high-water mark. Returns true if this tripped.
    pub fn on_drawdown(&mut self, drawdown: Money, now: TimeNs) -> bool {
        if drawdown >= self.config.max_drawdown && !matches!(self.state, BreakerState::Open { .. }) {
            self.trip(now);
            return true;
        }
        false
    }

    fn trip(&mut self, now: TimeNs) {
        self.state = BreakerState::Open { since: now };
        self.trips += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            max_consecutive_failures: 3,
            cooloff_ns: 100,
            max_drawdown: Money::from_raw_signed(1_000),
        })
    }

    /// Walks every edge of the breaker diagram.
    #[test]
    fn every_edge() {
        let mut b = breaker();
        // Closed: failures below the limit, then a success resets the count.
        assert!(!b.on_failure(1));
        assert!(!b.on_failure(2));
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 2 });
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 0 });
        // Closed -> Open on the third consecutive failure.
        b.on_failure(3);
        b.on_failure(4);
        assert!(b.on_failure(5));
        assert_eq!(b.state(), BreakerState::Open { since: 5 });
        // Open refuses during the cool-off; late outcomes of older orders change nothing.
        assert_eq!(b.admit(104), Err(Refusal::BreakerOpen));
        b.on_success();
        assert!(!b.on_failure(50));
        assert!(!b.on_probe_outcome(true, 0, 50), "no probe while open");
        assert_eq!(b.state(), BreakerState::Open { since: 5 });
        // Open -> HalfOpen after the cool-off: one probe only.
        assert_eq!(b.admit(105), Ok(Admission::Probe));
        assert_eq!(b.admit(106), Err(Refusal::BreakerProbeInFlight));
        // Outcomes of orders that are not the probe do not move it.
        b.on_success();
        b.on_failure(107);
        assert_eq!(b.state(), BreakerState::HalfOpen { probe_in_flight: true, since: 105 });
        // HalfOpen -> Open when the probe fails; the cool-off restarts.
        assert!(b.on_probe_outcome(false, 105, 110));
        assert_eq!(b.state(), BreakerState::Open { since: 110 });
        assert_eq!(b.admit(150), Err(Refusal::BreakerOpen));
        // An unused probe permit goes back.
        assert_eq!(b.admit(210), Ok(Admission::Probe));
        b.return_probe();
        assert_eq!(b.admit(211), Ok(Admission::Probe));
        // HalfOpen -> Closed when the probe succeeds.
        assert!(!b.on_probe_outcome(true, 105, 212), "a stale probe's result is ignored");
        assert!(b.on_probe_outcome(true, 211, 212));
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 0 });
        assert_eq!(b.admit(213), Ok(Admission::Normal));
        assert_eq!(b.trips(), 2);
    }

    #[test]
    fn a_lost_probe_cannot_hold_the_breaker_half_open_forever() {
        let mut b = breaker();
        for t in 0..3 {
            b.on_failure(t);
        }
        assert_eq!(b.admit(200), Ok(Admission::Probe));
        // The probe's outcome never comes back.
        assert_eq!(b.admit(250), Err(Refusal::BreakerProbeInFlight));
        assert_eq!(b.admit(300), Err(Refusal::BreakerOpen), "silent for a cool-off: failed");
        assert_eq!(b.admit(400), Ok(Admission::Probe), "and a new probe after the next cool-off");
    }

    #[test]
    fn drawdown_trips_and_recovers_the_same_way() {
        let mut b = breaker();
        assert!(!b.on_drawdown(Money::from_raw_signed(999), 1));
        assert!(b.on_drawdown(Money::from_raw_signed(1_000), 2));
        assert!(!b.on_drawdown(Money::from_raw_signed(5_000), 3), "already open");
        assert_eq!(b.admit(102), Ok(Admission::Probe));
        assert!(b.on_probe_outcome(true, 102, 103));
    }
}

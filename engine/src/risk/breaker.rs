//! The global circuit breaker: trips on consecutive order failures or on drawdown,
//! goes half-open after a cool-off (exactly one probe order allowed), closes when the
//! probe succeeds and re-opens when it fails. It can never stay open forever.
//!
//! ```text
//! Closed ──(N consecutive failures | drawdown ≥ max)──▶ Open
//! Open ──(admit after cool-off)──▶ HalfOpen{probe in flight}
//! HalfOpen ──probe success──▶ Closed   HalfOpen ──probe failure──▶ Open (cool-off restarts)
//! HalfOpen ──(probe silent for a cool-off)──▶ Open
//! any ──operator reset──▶ Closed
//! ```
//! A breaker tripped by drawdown stays open while the drawdown lasts: it half-opens only
//! once the drawdown is back inside `max_drawdown` (and the cool-off has passed), or when an
//! operator resets it. Every transition is recorded ([`BreakerTransition`]) for the shell
//! to log and count.
//! Only the probe's outcome moves a half-open breaker: a late result of an order sent
//! before the trip, or an exit, does not.

use std::collections::VecDeque;

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

/// Why the breaker moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerCause {
    Failures,
    Drawdown,
    CoolOffOver,
    ProbeSucceeded,
    ProbeFailed,
    ProbeSilent,
    OperatorReset,
}

impl BreakerCause {
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerCause::Failures => "consecutive_failures",
            BreakerCause::Drawdown => "drawdown",
            BreakerCause::CoolOffOver => "cool_off_over",
            BreakerCause::ProbeSucceeded => "probe_succeeded",
            BreakerCause::ProbeFailed => "probe_failed",
            BreakerCause::ProbeSilent => "probe_silent",
            BreakerCause::OperatorReset => "operator_reset",
        }
    }
}

/// One state change of the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakerTransition {
    pub from: &'static str,
    pub to: &'static str,
    pub cause: BreakerCause,
    pub at: TimeNs,
    /// The drawdown when it happened (for drawdown trips and holds).
    pub drawdown: Money,
}

/// How many transitions wait for the shell to log them (older ones are dropped, still
/// counted).
pub const MAX_PENDING_TRANSITIONS: usize = 64;

#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: BreakerState,
    trips: u64,
    /// Tripped by drawdown: no half-open while the drawdown is at or beyond the limit.
    drawdown_hold: bool,
    transitions: u64,
    pending: VecDeque<BreakerTransition>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> CircuitBreaker {
        CircuitBreaker {
            config,
            state: BreakerState::Closed { consecutive_failures: 0 },
            trips: 0,
            drawdown_hold: false,
            transitions: 0,
            pending: VecDeque::new(),
        }
    }
    /// State changes so far.
    pub fn transitions(&self) -> u64 {
        self.transitions
    }
    /// True when transitions wait to be taken.
    pub fn has_pending_transitions(&self) -> bool {
        !self.pending.is_empty()
    }
    /// Takes the transitions not yet logged.
    pub fn drain_transitions(&mut self) -> Vec<BreakerTransition> {
        self.pending.drain(..).collect()
    }
    /// True while a drawdown trip keeps the breaker open.
    pub fn held_by_drawdown(&self) -> bool {
        self.drawdown_hold
    }

    fn move_to(&mut self, next: BreakerState, cause: BreakerCause, at: TimeNs, drawdown: Money) {
        let from = self.state.name();
        self.state = next;
        if from != next.name() || cause == BreakerCause::ProbeFailed {
            self.transitions += 1;
            if self.pending.len() == MAX_PENDING_TRANSITIONS {
                self.pending.pop_front();
            }
            self.pending.push_back(BreakerTransition { from, to: next.name(), cause, at, drawdown });
        }
    }

    /// Operator: close the breaker now (a drawdown is then measured from here by the owner).
    pub fn reset(&mut self, now: TimeNs) {
        self.drawdown_hold = false;
        self.move_to(BreakerState::Closed { consecutive_failures: 0 }, BreakerCause::OperatorReset, now, Money::ZERO);
    }
    pub fn state(&self) -> BreakerState {
        self.state
    }
    pub fn trips(&self) -> u64 {
        self.trips
    }

    /// May a new entry order go out now? `drawdown`: the current drawdown from the peak.
    pub fn admit(&mut self, now: TimeNs, drawdown: Money) -> Result<Admission, Refusal> {
        if self.drawdown_hold {
            if drawdown >= self.config.max_drawdown {
                return Err(Refusal::BreakerOpen);
            }
            self.drawdown_hold = false;
        }
        match self.state {
            BreakerState::Closed { .. } => Ok(Admission::Normal),
            BreakerState::Open { since } if now.saturating_sub(since) >= self.config.cooloff_ns => {
                self.move_to(
                    BreakerState::HalfOpen { probe_in_flight: true, since: now },
                    BreakerCause::CoolOffOver,
                    now,
                    drawdown,
                );
                Ok(Admission::Probe)
            }
            BreakerState::Open { .. } => Err(Refusal::BreakerOpen),
            // A probe that has not been heard of for a whole cool-off counts as failed, so the
            // breaker can never wait on a lost probe forever.
            BreakerState::HalfOpen { probe_in_flight: true, since }
                if now.saturating_sub(since) >= self.config.cooloff_ns =>
            {
                self.trip(now, BreakerCause::ProbeSilent, drawdown);
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
                self.trip(now, BreakerCause::Failures, Money::ZERO);
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
            self.move_to(
                BreakerState::Closed { consecutive_failures: 0 },
                BreakerCause::ProbeSucceeded,
                now,
                Money::ZERO,
            );
        } else {
            self.trip(now, BreakerCause::ProbeFailed, Money::ZERO);
        }
        true
    }

    /// Equity fell `drawdown` below its high-water mark. Returns true if this tripped.
    pub fn on_drawdown(&mut self, drawdown: Money, now: TimeNs) -> bool {
        if drawdown < self.config.max_drawdown {
            return false;
        }
        self.drawdown_hold = true;
        if matches!(self.state, BreakerState::Open { .. }) {
            return false;
        }
        self.trip(now, BreakerCause::Drawdown, drawdown);
        true
    }

    fn trip(&mut self, now: TimeNs, cause: BreakerCause, drawdown: Money) {
        self.move_to(BreakerState::Open { since: now }, cause, now, drawdown);
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
        assert_eq!(b.admit(104, Money::ZERO), Err(Refusal::BreakerOpen));
        b.on_success();
        assert!(!b.on_failure(50));
        assert!(!b.on_probe_outcome(true, 0, 50), "no probe while open");
        assert_eq!(b.state(), BreakerState::Open { since: 5 });
        // Open -> HalfOpen after the cool-off: one probe only.
        assert_eq!(b.admit(105, Money::ZERO), Ok(Admission::Probe));
        assert_eq!(b.admit(106, Money::ZERO), Err(Refusal::BreakerProbeInFlight));
        // Outcomes of orders that are not the probe do not move it.
        b.on_success();
        b.on_failure(107);
        assert_eq!(b.state(), BreakerState::HalfOpen { probe_in_flight: true, since: 105 });
        // HalfOpen -> Open when the probe fails; the cool-off restarts.
        assert!(b.on_probe_outcome(false, 105, 110));
        assert_eq!(b.state(), BreakerState::Open { since: 110 });
        assert_eq!(b.admit(150, Money::ZERO), Err(Refusal::BreakerOpen));
        // An unused probe permit goes back.
        assert_eq!(b.admit(210, Money::ZERO), Ok(Admission::Probe));
        b.return_probe();
        assert_eq!(b.admit(211, Money::ZERO), Ok(Admission::Probe));
        // HalfOpen -> Closed when the probe succeeds.
        assert!(!b.on_probe_outcome(true, 105, 212), "a stale probe's result is ignored");
        assert!(b.on_probe_outcome(true, 211, 212));
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 0 });
        assert_eq!(b.admit(213, Money::ZERO), Ok(Admission::Normal));
        assert_eq!(b.trips(), 2);
    }

    #[test]
    fn a_lost_probe_cannot_hold_the_breaker_half_open_forever() {
        let mut b = breaker();
        for t in 0..3 {
            b.on_failure(t);
        }
        assert_eq!(b.admit(200, Money::ZERO), Ok(Admission::Probe));
        // The probe's outcome never comes back.
        assert_eq!(b.admit(250, Money::ZERO), Err(Refusal::BreakerProbeInFlight));
        assert_eq!(b.admit(300, Money::ZERO), Err(Refusal::BreakerOpen), "silent for a cool-off: failed");
        assert_eq!(b.admit(400, Money::ZERO), Ok(Admission::Probe), "and a new probe after the next cool-off");
    }

    #[test]
    fn a_drawdown_trip_holds_while_the_drawdown_lasts() {
        let mut b = breaker();
        let dd = Money::from_raw_signed;
        assert!(!b.on_drawdown(dd(999), 1));
        assert!(b.on_drawdown(dd(1_000), 2));
        assert!(!b.on_drawdown(dd(5_000), 3), "already open");
        // Long after the cool-off, still refused while the drawdown is twice the limit.
        assert_eq!(b.admit(10_000, dd(2_000)), Err(Refusal::BreakerOpen));
        assert!(b.held_by_drawdown());
        // Back inside the limit: the normal half-open recovery.
        assert_eq!(b.admit(10_001, dd(999)), Ok(Admission::Probe));
        assert!(b.on_probe_outcome(true, 10_001, 10_002));
        assert_eq!(b.state(), BreakerState::Closed { consecutive_failures: 0 });
    }

    #[test]
    fn an_operator_reset_ends_a_drawdown_hold() {
        let mut b = breaker();
        assert!(b.on_drawdown(Money::from_raw_signed(3_000), 1));
        b.reset(2);
        assert_eq!(b.admit(3, Money::ZERO), Ok(Admission::Normal));
    }

    #[test]
    fn every_transition_is_recorded_with_its_cause() {
        let mut b = breaker();
        for t in 0..3 {
            b.on_failure(t);
        }
        assert_eq!(b.admit(200, Money::ZERO), Ok(Admission::Probe));
        assert!(b.on_probe_outcome(false, 200, 201));
        b.reset(300);
        let causes: Vec<_> = b.drain_transitions().iter().map(|t| (t.from, t.to, t.cause)).collect();
        assert_eq!(
            causes,
            vec![
                ("closed", "open", BreakerCause::Failures),
                ("open", "half_open", BreakerCause::CoolOffOver),
                ("half_open", "open", BreakerCause::ProbeFailed),
                ("open", "closed", BreakerCause::OperatorReset),
            ]
        );
        assert_eq!(b.transitions(), 4);
        assert!(b.drain_transitions().is_empty());
    }
}

//! `PortfolioRisk`: what every symbol shares — equity and drawdown, the circuit breaker,
//! the total-exposure budget, the global order rate, the global control flags, gateway
//! health, and the intent-id sequence. Thread-safe; each lock is held for a few
//! instructions and never across I/O.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use protocol::{IntentId, Money, Ppm, Qty};

use super::breaker::{Admission, BreakerConfig, BreakerState, BreakerTransition, CircuitBreaker};
use super::control::{AtomicFlags, ControlFlags};
use super::limits::{ExposureBudget, RateLimit};
use super::Refusal;
use crate::clock::TimeNs;

/// Risk limits. Fractions of equity are in parts per million.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RiskConfig {
    pub initial_equity: Money,
    pub max_position_qty: Qty,
    pub max_symbol_exposure: Ppm,
    pub max_total_exposure: Ppm,
    pub max_orders_per_sec_symbol: u32,
    pub max_orders_per_sec_total: u32,
    pub breaker: BreakerConfig,
}

impl Default for RiskConfig {
    fn default() -> Self {
        let money = |units: i64| Money::units(units).unwrap_or(Money::ZERO);
        RiskConfig {
            initial_equity: money(1_000_000),
            max_position_qty: Qty::units(1_000).unwrap_or(Qty::ZERO),
            max_symbol_exposure: Ppm(100_000),  // 10 % of equity per symbol
            max_total_exposure: Ppm(1_000_000), // 100 % of equity in total
            max_orders_per_sec_symbol: 50,
            max_orders_per_sec_total: 100_000,
            breaker: BreakerConfig {
                max_consecutive_failures: 5,
                cooloff_ns: 5_000_000_000,
                max_drawdown: money(50_000),
            },
        }
    }
}

#[derive(Debug)]
struct Equity {
    realized_net: Money,
    high_water: Money,
}

/// Shared portfolio-level risk state.
#[derive(Debug)]
pub struct PortfolioRisk {
    config: RiskConfig,
    flags: AtomicFlags,
    gateway_up: AtomicBool,
    venue_reconciling: AtomicBool,
    breaker: Mutex<CircuitBreaker>,
    global_rate: Mutex<RateLimit>,
    exposure: ExposureBudget,
    equity: Mutex<Equity>,
    next_intent: AtomicU64,
    /// Set (under the breaker's lock) when transitions wait to be drained and logged.
    breaker_pending: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks cannot leave half-written state (every
    // critical section is a single assignment), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl PortfolioRisk {
    /// `first_intent_id` should differ between runs (e.g. derived from the start time) so
    /// that intent ids never repeat across restarts.
    pub fn new(config: RiskConfig, first_intent_id: u64) -> PortfolioRisk {
        PortfolioRisk {
            config,
            flags: AtomicFlags::new(ControlFlags::default()),
            gateway_up: AtomicBool::new(true),
            venue_reconciling: AtomicBool::new(false),
            breaker: Mutex::new(CircuitBreaker::new(config.breaker)),
            global_rate: Mutex::new(RateLimit::per_second(config.max_orders_per_sec_total)),
            exposure: ExposureBudget::default(),
            equity: Mutex::new(Equity { realized_net: Money::ZERO, high_water: Money::ZERO }),
            next_intent: AtomicU64::new(first_intent_id.max(1)),
            breaker_pending: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Global control flags.
    pub fn flags(&self) -> ControlFlags {
        self.flags.load()
    }
    /// Replaces the global flags, returning the old ones.
    pub fn set_flags(&self, flags: ControlFlags) -> ControlFlags {
        self.flags.swap(flags)
    }

    pub fn gateway_up(&self) -> bool {
        self.gateway_up.load(Ordering::Acquire)
    }
    /// Records gateway health, returning the previous value.
    pub fn set_gateway_up(&self, up: bool) -> bool {
        self.gateway_up.swap(up, Ordering::AcqRel)
    }

    /// True from a gateway restart until its snapshot has reached every symbol: no order
    /// (entry or exit) goes out meanwhile.
    pub fn venue_reconciling(&self) -> bool {
        self.venue_reconciling.load(Ordering::Acquire)
    }
    /// Sets the flag above, returning the previous value.
    pub fn set_venue_reconciling(&self, reconciling: bool) -> bool {
        self.venue_reconciling.swap(reconciling, Ordering::AcqRel)
    }

    /// A fresh intent id, unique in this process.
    pub fn next_intent_id(&self) -> IntentId {
        IntentId(self.next_intent.fetch_add(1, Ordering::Relaxed))
    }

    /// Initial equity plus net realized PnL.
    pub fn equity(&self) -> Money {
        let realized = lock(&self.equity).realized_net;
        self.config.initial_equity.checked_add(realized).unwrap_or(self.config.initial_equity)
    }

    pub fn symbol_exposure_limit(&self) -> Money {
        self.equity().mul_ppm(self.config.max_symbol_exposure).unwrap_or(Money::ZERO)
    }

    pub fn total_exposure_limit(&self) -> Money {
        self.equity().mul_ppm(self.config.max_total_exposure).unwrap_or(Money::ZERO)
    }

    pub fn total_exposure(&self) -> Money {
        self.exposure.total()
    }

    pub fn breaker_state(&self) -> BreakerState {
        lock(&self.breaker).state()
    }

    pub fn breaker_trips(&self) -> u64 {
        lock(&self.breaker).trips()
    }

    /// Portfolio-level admission of an entry of estimated `notional`: global rate, total
    /// exposure (reserved atomically on success), then the breaker (last, so a probe
    /// permit is only taken by an order that will really be sent).
    pub fn admit_entry(&self, notional: Money, now: TimeNs) -> Result<Admission, Refusal> {
        let mut rate = lock(&self.global_rate);
        if !rate.allows(now) {
            return Err(Refusal::GlobalRate);
        }
        if !self.exposure.try_reserve(notional, self.total_exposure_limit()) {
            return Err(Refusal::TotalExposure);
        }
        let drawdown = self.drawdown();
        match self.with_breaker(|b| b.admit(now, drawdown)) {
            Ok(admission) => {
                rate.record(now);
                Ok(admission)
            }
            Err(refusal) => {
                self.exposure.adjust(Money::from_raw_signed(-notional.raw()));
                Err(refusal)
            }
        }
    }

    /// Gives back a probe permit that was granted but not used.
    pub fn return_probe(&self) {
        lock(&self.breaker).return_probe();
    }

    /// Counts an exit order against the global rate (exits are never refused for rate).
    pub fn record_exit(&self, now: TimeNs) {
        lock(&self.global_rate).record(now);
    }

    /// Corrects the total exposure by `delta` (fills, closes, released reservations).
    pub fn adjust_exposure(&self, delta: Money) {
        if !delta.is_zero() {
            self.exposure.adjust(delta);
        }
    }

    /// An order (not the breaker's probe) filled.
    pub fn on_order_success(&self) {
        lock(&self.breaker).on_success();
    }

    /// An order (not the breaker's probe) failed. Returns true if this tripped the breaker.
    pub fn on_order_failure(&self, now: TimeNs) -> bool {
        self.with_breaker(|b| b.on_failure(now))
    }

    /// The breaker's probe order (granted at `granted_at`) resolved. Returns true if the
    /// breaker changed state.
    pub fn on_probe_outcome(&self, success: bool, granted_at: TimeNs, now: TimeNs) -> bool {
        self.with_breaker(|b| b.on_probe_outcome(success, granted_at, now))
    }

    /// Books net realized PnL into equity and checks drawdown. Returns true if it tripped.
    pub fn record_realized(&self, net: Money, now: TimeNs) -> bool {
        let drawdown = {
            let mut eq = lock(&self.equity);
            eq.realized_net = eq.realized_net.checked_add(net).unwrap_or(eq.realized_net);
            if eq.realized_net > eq.high_water {
                eq.high_water = eq.realized_net;
            }
            eq.high_water.checked_sub(eq.realized_net).unwrap_or(Money::ZERO)
        };
        self.with_breaker(|b| b.on_drawdown(drawdown, now))
    }

    /// The current drawdown: how far realized net PnL is below its high-water mark.
    pub fn drawdown(&self) -> Money {
        let eq = lock(&self.equity);
        eq.high_water.checked_sub(eq.realized_net).unwrap_or(Money::ZERO)
    }

    /// Operator: close the breaker, and measure drawdown from the current equity on.
    pub fn reset_breaker(&self, now: TimeNs) {
        {
            let mut eq = lock(&self.equity);
            eq.high_water = eq.realized_net;
        }
        self.with_breaker(|b| b.reset(now));
    }

    /// Breaker transitions not yet logged (cheap when there are none).
    pub fn drain_breaker_transitions(&self) -> Vec<BreakerTransition> {
        // Read before swapping: every step of every shard asks, and a swap would write the
        // shared line each time (a cache-line transfer between cores per step).
        if !self.breaker_pending.load(Ordering::Acquire) || !self.breaker_pending.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        lock(&self.breaker).drain_transitions()
    }

    /// Breaker state changes since start.
    pub fn breaker_transitions(&self) -> u64 {
        lock(&self.breaker).transitions()
    }

    /// Runs `f` on the breaker under one lock and flags any transition it recorded.
    fn with_breaker<R>(&self, f: impl FnOnce(&mut CircuitBreaker) -> R) -> R {
        let mut breaker = lock(&self.breaker);
        let result = f(&mut breaker);
        if breaker.has_pending_transitions() {
            self.breaker_pending.store(true, Ordering::Release);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn risk() -> PortfolioRisk {
        let mut config = RiskConfig {
            initial_equity: Money::units(1_000).unwrap(),
            max_total_exposure: Ppm(500_000), // 500
            max_orders_per_sec_total: 3,
            ..Default::default()
        };
        config.breaker.max_drawdown = Money::units(100).unwrap();
        PortfolioRisk::new(config, 10)
    }

    #[test]
    fn total_exposure_is_reserved_and_refused_past_the_limit() {
        let r = risk();
        assert!(r.admit_entry(Money::units(300).unwrap(), 0).is_ok());
        assert_eq!(r.admit_entry(Money::units(201).unwrap(), 1), Err(Refusal::TotalExposure));
        assert!(r.admit_entry(Money::units(200).unwrap(), 2).is_ok());
        assert_eq!(r.total_exposure(), Money::units(500).unwrap());
    }

    #[test]
    fn global_rate_is_enforced() {
        let r = risk();
        for t in 0..3 {
            assert!(r.admit_entry(Money::ZERO, t).is_ok());
        }
        assert_eq!(r.admit_entry(Money::ZERO, 4), Err(Refusal::GlobalRate));
    }

    #[test]
    fn breaker_refusal_releases_the_reservation() {
        let r = risk();
        for t in 0..5 {
            r.on_order_failure(t);
        }
        assert_eq!(r.admit_entry(Money::units(10).unwrap(), 10), Err(Refusal::BreakerOpen));
        assert_eq!(r.total_exposure(), Money::ZERO);
    }

    #[test]
    fn drawdown_trips_and_equity_tracks_realized() {
        let r = risk();
        assert!(!r.record_realized(Money::units(50).unwrap(), 1));
        assert_eq!(r.equity(), Money::units(1_050).unwrap());
        assert!(!r.record_realized(Money::units(-99).unwrap(), 2));
        assert!(r.record_realized(Money::units(-1).unwrap(), 3));
        assert_eq!(r.breaker_state().name(), "open");
    }

    #[test]
    fn a_drawdown_trip_does_not_half_open_while_the_drawdown_lasts() {
        let r = risk();
        assert!(r.record_realized(Money::units(-200).unwrap(), 1));
        let cooloff = r.config().breaker.cooloff_ns;
        assert_eq!(r.admit_entry(Money::ZERO, 10 * cooloff), Err(Refusal::BreakerOpen));
        assert_eq!(r.drawdown(), Money::units(200).unwrap());
        let logged = r.drain_breaker_transitions();
        assert_eq!(logged.len(), 1);
        assert_eq!((logged[0].to, logged[0].drawdown), ("open", Money::units(200).unwrap()));
        // An operator reset measures drawdown from here and closes the breaker.
        r.reset_breaker(11 * cooloff);
        assert_eq!(r.admit_entry(Money::ZERO, 11 * cooloff + 1), Ok(Admission::Normal));
        assert_eq!(r.drain_breaker_transitions().len(), 1);
        assert!(r.drain_breaker_transitions().is_empty());
    }

    #[test]
    fn intent_ids_are_unique_and_increasing() {
        let r = risk();
        let a = r.next_intent_id();
        let b = r.next_intent_id();
        assert!(b > a);
    }
}

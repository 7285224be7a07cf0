//! Strategies: tick in, signal out. A strategy decides; it never checks risk or state.
//!
//! Built-ins: [`zscore::ZScore`] (mean reversion), [`breakout::Breakout`] (momentum),
//! [`churn::Churn`] (load generation for stress runs only) and [`hold::Hold`] (never
//! decides).
//! None uses randomness, and the windows hold integer mids (exact i128 sums for the z-score,
//! exact highs and lows for the breakout), so the same tick sequence always gives the same
//! signals.

pub mod breakout;
pub mod churn;
pub mod hold;
pub mod zscore;

use protocol::{Qty, Tick};

use crate::efsm::Direction;
use crate::intent::{ExitRules, Intent};

/// What a strategy wants after a tick. Both parts may be set: "close the long and go
/// short" is an exit now and an entry later, never a reversal in one order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Signal {
    /// Close a long position, if one is open.
    pub exit_long: bool,
    /// Close a short position, if one is open.
    pub exit_short: bool,
    /// Open a position, if flat.
    pub enter: Option<Intent>,
}

impl Signal {
    pub const HOLD: Signal = Signal { exit_long: false, exit_short: false, enter: None };

    /// Does this signal ask to close a position in `direction`?
    pub fn exits(&self, direction: Direction) -> bool {
        match direction {
            Direction::Long => self.exit_long,
            Direction::Short => self.exit_short,
        }
    }
}

/// A trading strategy for one symbol.
pub trait Strategy: Send {
    fn name(&self) -> &'static str;
    fn on_tick(&mut self, tick: &Tick) -> Signal;
    /// The symbol's order reached its end and the symbol may trade again (flat or open,
    /// nothing on the wire). Most strategies wait for the next tick; a back-to-back one
    /// sends its next order now.
    fn on_order_done(&mut self) -> Signal {
        Signal::HOLD
    }
}

/// Size and exit rules a strategy puts on every intent it emits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntentTemplate {
    pub qty: Qty,
    pub exits: ExitRules,
}

impl IntentTemplate {
    pub fn intent(&self, direction: Direction) -> Intent {
        Intent { direction, qty: self.qty, exits: self.exits }
    }
}

/// A fixed-capacity window of mid prices (raw), with exact integer sums.
#[derive(Clone, Debug)]
pub(crate) struct PriceWindow {
    values: std::collections::VecDeque<i64>,
    capacity: usize,
    sum: i128,
    sum_sq: i128,
}

impl PriceWindow {
    pub(crate) fn new(capacity: usize) -> PriceWindow {
        let capacity = capacity.max(2);
        PriceWindow { values: std::collections::VecDeque::with_capacity(capacity), capacity, sum: 0, sum_sq: 0 }
    }
    pub(crate) fn push(&mut self, value: i64) {
        if self.values.len() == self.capacity {
            if let Some(old) = self.values.pop_front() {
                self.sum -= i128::from(old);
                self.sum_sq -= i128::from(old) * i128::from(old);
            }
        }
        self.values.push_back(value);
        self.sum += i128::from(value);
        self.sum_sq += i128::from(value) * i128::from(value);
    }
    pub(crate) fn is_full(&self) -> bool {
        self.values.len() == self.capacity
    }
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        self.values.iter().copied()
    }
}

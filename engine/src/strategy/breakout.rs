//! Momentum breakout (Donchian channel): go long when the mid breaks above the highest mid
//! of the last `entry_window` ticks, short below the lowest; exit a long when the mid
//! breaks below the lowest of the last `exit_window` ticks (and the reverse for shorts).

use protocol::Tick;

use super::{IntentTemplate, PriceWindow, Signal, Strategy};
use crate::efsm::Direction;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BreakoutConfig {
    pub entry_window: usize,
    pub exit_window: usize,
    pub template: IntentTemplate,
}

pub struct Breakout {
    config: BreakoutConfig,
    entry: PriceWindow,
    exit: PriceWindow,
}

impl Breakout {
    pub fn new(config: BreakoutConfig) -> Breakout {
        Breakout { entry: PriceWindow::new(config.entry_window), exit: PriceWindow::new(config.exit_window), config }
    }
}

fn range(window: &PriceWindow) -> Option<(i64, i64)> {
    if !window.is_full() {
        return None;
    }
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for v in window.iter() {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    Some((lo, hi))
}

impl Strategy for Breakout {
    fn name(&self) -> &'static str {
        "breakout"
    }

    fn on_tick(&mut self, tick: &Tick) -> Signal {
        let mid = tick.bid.mid(tick.ask).raw();
        let mut signal = Signal::HOLD;
        if let Some((lo, hi)) = range(&self.entry) {
            if mid > hi {
                signal.enter = Some(self.config.template.intent(Direction::Long));
            } else if mid < lo {
                signal.enter = Some(self.config.template.intent(Direction::Short));
            }
        }
        if let Some((lo, hi)) = range(&self.exit) {
            signal.exit_long = mid < lo;
            signal.exit_short = mid > hi;
        }
        self.entry.push(mid);
        self.exit.push(mid);
        signal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::ExitRules;
    use protocol::{Price, Symbol};

    fn tick(mid_units: i64) -> Tick {
        let mid = Price::units(mid_units).unwrap();
        Tick { symbol: Symbol::new("T").unwrap(), bid: mid, ask: mid, ts_ns: 0, md_seq: 0 }
    }

    #[test]
    fn breaks_out_both_ways_and_exits_on_the_short_channel() {
        let mut s = Breakout::new(BreakoutConfig {
            entry_window: 5,
            exit_window: 3,
            template: IntentTemplate { qty: "1".parse().unwrap(), exits: ExitRules::default() },
        });
        for m in [100, 101, 102, 101, 100] {
            assert_eq!(s.on_tick(&tick(m)).enter, None);
        }
        assert_eq!(s.on_tick(&tick(103)).enter.map(|i| i.direction), Some(Direction::Long));
        // exit window now holds 100, 103 plus 101: a mid of 99 breaks below it
        s.on_tick(&tick(101));
        let sig = s.on_tick(&tick(99));
        assert!(sig.exit_long && !sig.exit_short);
        assert_eq!(s.on_tick(&tick(90)).enter.map(|i| i.direction), Some(Direction::Short));
    }
}

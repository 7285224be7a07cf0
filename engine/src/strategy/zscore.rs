//! Z-score mean reversion: buy when the mid is far below its rolling mean, sell when far
//! above, exit when it has come back.
//!
//! z = (x − mean) / stddev over the last `window` mids, computed from exact i128 sums
//! (n·Σx² − (Σx)² is exact); only the final ratio is floating point (a signal, not money).

use protocol::Tick;

use super::{IntentTemplate, PriceWindow, Signal, Strategy};
use crate::efsm::Direction;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZScoreConfig {
    pub window: usize,
    /// Enter when |z| >= this.
    pub entry_z: f64,
    /// Exit a long when z >= −exit_z, a short when z <= exit_z.
    pub exit_z: f64,
    pub template: IntentTemplate,
}

pub struct ZScore {
    config: ZScoreConfig,
    window: PriceWindow,
}

impl ZScore {
    pub fn new(config: ZScoreConfig) -> ZScore {
        ZScore { window: PriceWindow::new(config.window), config }
    }

    /// The z-score of `x` against the window, once the window is full and not constant.
    fn z_of(&self, x: i64) -> Option<f64> {
        if !self.window.is_full() {
            return None;
        }
        let n = self.window.len() as i128;
        let variance_num = n * self.window.sum_sq - self.window.sum * self.window.sum;
        if variance_num <= 0 {
            return None;
        }
        let deviation_num = n * i128::from(x) - self.window.sum;
        Some(deviation_num as f64 / (variance_num as f64).sqrt())
    }
}

impl Strategy for ZScore {
    fn name(&self) -> &'static str {
        "zscore"
    }

    fn on_tick(&mut self, tick: &Tick) -> Signal {
        let mid = tick.bid.mid(tick.ask).raw();
        let z = self.z_of(mid);
        self.window.push(mid);
        let Some(z) = z else { return Signal::HOLD };
        let c = &self.config;
        let enter = if z <= -c.entry_z {
            Some(c.template.intent(Direction::Long))
        } else if z >= c.entry_z {
            Some(c.template.intent(Direction::Short))
        } else {
            None
        };
        Signal { exit_long: z >= -c.exit_z, exit_short: z <= c.exit_z, enter }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::ExitRules;
    use protocol::{Price, Symbol};

    fn tick(mid_units: i64, seq: u64) -> Tick {
        let mid = Price::units(mid_units).unwrap();
        Tick { symbol: Symbol::new("T").unwrap(), bid: mid, ask: mid, ts_ns: seq, md_seq: seq }
    }

    fn strategy() -> ZScore {
        ZScore::new(ZScoreConfig {
            window: 10,
            entry_z: 2.0,
            exit_z: 0.5,
            template: IntentTemplate { qty: "1".parse().unwrap(), exits: ExitRules::default() },
        })
    }

    #[test]
    fn holds_until_the_window_is_full() {
        let mut s = strategy();
        for i in 0..10 {
            assert_eq!(s.on_tick(&tick(100 + (i % 2), i as u64)), Signal::HOLD);
        }
    }

    #[test]
    fn a_drop_signals_long_and_a_spike_signals_short() {
        let mut s = strategy();
        for i in 0..10 {
            s.on_tick(&tick(100 + (i % 2), i as u64));
        }
        let down = s.on_tick(&tick(90, 11));
        assert_eq!(down.enter.map(|i| i.direction), Some(Direction::Long));
        assert!(!down.exit_long && down.exit_short);
        let mut s = strategy();
        for i in 0..10 {
            s.on_tick(&tick(100 + (i % 2), i as u64));
        }
        let up = s.on_tick(&tick(110, 11));
        assert_eq!(up.enter.map(|i| i.direction), Some(Direction::Short));
        assert!(up.exit_long && !up.exit_short);
    }

    #[test]
    fn near_the_mean_both_exits_and_no_entry() {
        let mut s = strategy();
        for i in 0..10 {
            s.on_tick(&tick(100 + (i % 2), i as u64));
        }
        // bid 100, ask 101: the mid is 100.5, exactly the window mean (z = 0)
        let mut at_mean = tick(100, 11);
        at_mean.ask = Price::units(101).unwrap();
        let calm = s.on_tick(&at_mean);
        assert!(calm.exit_long && calm.exit_short && calm.enter.is_none());
    }

    #[test]
    fn constant_prices_never_signal() {
        let mut s = strategy();
        for i in 0..50 {
            assert_eq!(s.on_tick(&tick(100, i)), Signal::HOLD);
        }
    }
}

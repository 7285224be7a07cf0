//! A strategy that never decides: every tick is `Signal::HOLD`. For a symbol that only
//! watches (its exits still run), and for tests that need a core with no decisions of its
//! own.

use protocol::Tick;

use super::{Signal, Strategy};

#[derive(Clone, Copy, Debug, Default)]
pub struct Hold;

impl Strategy for Hold {
    fn name(&self) -> &'static str {
        "hold"
    }

    fn on_tick(&mut self, _: &Tick) -> Signal {
        Signal::HOLD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Price, Symbol};

    #[test]
    fn it_holds_on_any_tick() {
        let px = Price::units(100).unwrap();
        let tick = Tick { symbol: Symbol::new("T").unwrap(), bid: px, ask: px, ts_ns: 1, md_seq: 1 };
        assert_eq!(Hold.on_tick(&tick), Signal::HOLD);
    }
}

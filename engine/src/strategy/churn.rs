//! Churn: a load-generating strategy for stress runs. It asks to enter on every tick while
//! flat (alternating direction) and to exit on every tick while open, so a symbol keeps
//! exactly one order on the wire whenever the engine allows. Back to back, it also asks as
//! soon as the previous order is done, without waiting for a tick: the peer benchmark's
//! workload (buy, sell, buy, ... one in flight). Not a trading strategy.

use protocol::Tick;

use super::{IntentTemplate, Signal, Strategy};
use crate::efsm::Direction;

pub struct Churn {
    template: IntentTemplate,
    next: Direction,
    back_to_back: bool,
}

impl Churn {
    pub fn new(template: IntentTemplate) -> Churn {
        Churn { template, next: Direction::Long, back_to_back: false }
    }

    /// Also decides the moment the previous order is done.
    pub fn back_to_back(template: IntentTemplate) -> Churn {
        Churn { back_to_back: true, ..Churn::new(template) }
    }

    fn next_signal(&mut self) -> Signal {
        let direction = self.next;
        self.next = direction.opposite();
        Signal { exit_long: true, exit_short: true, enter: Some(self.template.intent(direction)) }
    }
}

impl Strategy for Churn {
    fn name(&self) -> &'static str {
        if self.back_to_back {
            "back_to_back"
        } else {
            "churn"
        }
    }

    fn on_tick(&mut self, _: &Tick) -> Signal {
        self.next_signal()
    }

    fn on_order_done(&mut self) -> Signal {
        if self.back_to_back {
            self.next_signal()
        } else {
            Signal::HOLD
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::ExitRules;
    use protocol::{Price, Symbol};

    #[test]
    fn alternates_and_always_asks_to_exit() {
        let mut c = Churn::new(IntentTemplate { qty: "1".parse().unwrap(), exits: ExitRules::default() });
        let t = Tick {
            symbol: Symbol::new("A").unwrap(),
            bid: Price::units(1).unwrap(),
            ask: Price::units(1).unwrap(),
            ts_ns: 0,
            md_seq: 1,
        };
        let a = c.on_tick(&t);
        let b = c.on_tick(&t);
        assert_eq!(a.enter.map(|i| i.direction), Some(Direction::Long));
        assert_eq!(b.enter.map(|i| i.direction), Some(Direction::Short));
        assert!(a.exit_long && a.exit_short);
        assert_eq!(c.on_order_done(), Signal::HOLD, "plain churn waits for a tick");
        let mut b2b = Churn::back_to_back(IntentTemplate { qty: "1".parse().unwrap(), exits: ExitRules::default() });
        assert_eq!(b2b.on_order_done().enter.map(|i| i.direction), Some(Direction::Long));
        assert_eq!(b2b.on_order_done().enter.map(|i| i.direction), Some(Direction::Short));
    }
}

//! Exit decisions for an open trade (stop-loss, trailing stop, take-profit, time limit)
//! and the per-direction cooldown after a close. Pure functions of position, mark and time.
//!
//! All comparisons are exact integer arithmetic on the cost basis: a return of `r` ppm
//! is `pnl × 10^6 >= r × cost`, so no average price is rounded on the way.

use protocol::{Money, Ppm, Price};

use crate::book::Position;
use crate::clock::TimeNs;
use crate::efsm::{Direction, ExitReason, OpenTrade};

/// The favourable extreme a trade has reached, for the trailing stop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrailState {
    pub best_mark: Option<Price>,
}

impl TrailState {
    /// Records a new mark if it improves on the best so far.
    pub fn observe(&mut self, direction: Direction, mark: Price) {
        let better = match (self.best_mark, direction) {
            (None, _) => true,
            (Some(best), Direction::Long) => mark > best,
            (Some(best), Direction::Short) => mark < best,
        };
        if better {
            self.best_mark = Some(mark);
        }
    }
}

fn pnl_at(position: &Position, mark: Price) -> Option<i128> {
    position.unrealized_at(mark).ok().map(|m| i128::from(m.raw()))
}

fn return_at_least(pnl: i128, cost: Money, ppm: Ppm) -> bool {
    pnl * 1_000_000 >= i128::from(ppm.0) * i128::from(cost.raw())
}

/// The exit a trade should take at this mark and time, if any. Priority when several
/// trigger together: stop-loss, trailing stop, take-profit, time limit.
pub fn exit_due(
    trade: &OpenTrade,
    position: &Position,
    mark: Price,
    trail: &TrailState,
    now: TimeNs,
) -> Option<ExitReason> {
    let rules = &trade.rules;
    let pnl = pnl_at(position, mark)?;
    if let Some(sl) = rules.stop_loss {
        if return_at_least(-pnl, position.cost, sl) {
            return Some(ExitReason::StopLoss);
        }
    }
    if let (Some(trailing), Some(best)) = (rules.trailing, trail.best_mark) {
        let best_pnl = pnl_at(position, best)?;
        let armed = best_pnl > 0 && return_at_least(best_pnl, position.cost, trailing.activation);
        // Give-back from the best mark, as a fraction of the best mark.
        let give_back = match trade.direction {
            Direction::Long => i128::from(best.raw()) - i128::from(mark.raw()),
            Direction::Short => i128::from(mark.raw()) - i128::from(best.raw()),
        };
        if armed && give_back * 1_000_000 >= i128::from(trailing.distance.0) * i128::from(best.raw()) {
            return Some(ExitReason::TrailingStop);
        }
    }
    if let Some(tp) = rules.take_profit {
        if pnl > 0 && return_at_least(pnl, position.cost, tp) {
            return Some(ExitReason::TakeProfit);
        }
    }
    if let Some(limit) = rules.max_hold_ns() {
        if now.saturating_sub(trade.opened_at) >= limit {
            return Some(ExitReason::TimeLimit);
        }
    }
    None
}

/// Per-direction re-entry cooldowns for one symbol. Kept in one place and serializable,
/// so the shell can persist it and a restart keeps it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cooldowns {
    until: [TimeNs; 2],
}

impl Cooldowns {
    /// Starts a cooldown for `direction` after a close at `closed_at`.
    pub fn start(&mut self, direction: Direction, closed_at: TimeNs, length_ns: u64) {
        let until = closed_at.saturating_add(length_ns);
        let slot = &mut self.until[direction.index()];
        *slot = (*slot).max(until);
    }
    /// When the cooldown for `direction` ends, if it is still running at `now`.
    pub fn active_until(&self, direction: Direction, now: TimeNs) -> Option<TimeNs> {
        let until = self.until[direction.index()];
        (now < until).then_some(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::{ExitRules, Trailing};
    use rstest::rstest;

    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }

    fn trade(direction: Direction, rules: ExitRules) -> (OpenTrade, Position) {
        let position = Position { direction, qty: "1".parse().unwrap(), cost: "100".parse().unwrap() };
        (OpenTrade { direction, opened_at: 0, rules }, position)
    }

    fn rules() -> ExitRules {
        ExitRules {
            take_profit: Some(Ppm(20_000)), // 2 %
            stop_loss: Some(Ppm(10_000)),   // 1 %
            trailing: None,
            max_hold_secs: Some(60),
            cooldown_secs: 10,
        }
    }

    #[rstest]
    #[case(Direction::Long, "102", Some(ExitReason::TakeProfit))]
    #[case(Direction::Long, "101.99", None)]
    #[case(Direction::Long, "99", Some(ExitReason::StopLoss))]
    #[case(Direction::Long, "99.01", None)]
    #[case(Direction::Short, "98", Some(ExitReason::TakeProfit))]
    #[case(Direction::Short, "101", Some(ExitReason::StopLoss))]
    #[case(Direction::Short, "100.5", None)]
    fn thresholds_are_exact(#[case] direction: Direction, #[case] mark: &str, #[case] expected: Option<ExitReason>) {
        let (t, pos) = trade(direction, rules());
        assert_eq!(exit_due(&t, &pos, p(mark), &TrailState::default(), 1), expected);
    }

    #[test]
    fn time_limit_fires_at_the_limit() {
        let (t, pos) = trade(Direction::Long, rules());
        assert_eq!(exit_due(&t, &pos, p("100"), &TrailState::default(), 59_999_999_999), None);
        assert_eq!(exit_due(&t, &pos, p("100"), &TrailState::default(), 60_000_000_000), Some(ExitReason::TimeLimit));
    }

    #[test]
    fn trailing_stop_arms_then_fires_on_give_back() {
        let mut r = rules();
        r.take_profit = None;
        r.trailing = Some(Trailing { activation: Ppm(10_000), distance: Ppm(5_000) });
        let (t, pos) = trade(Direction::Long, r);
        let mut trail = TrailState::default();
        // Not armed yet: best return 0.5 %.
        trail.observe(Direction::Long, p("100.5"));
        assert_eq!(exit_due(&t, &pos, p("99.5"), &trail, 1), None);
        // Armed at +2 %; a 0.5 % give-back from 102 is 101.49.
        trail.observe(Direction::Long, p("102"));
        assert_eq!(exit_due(&t, &pos, p("101.5"), &trail, 1), None);
        assert_eq!(exit_due(&t, &pos, p("101.49"), &trail, 1), Some(ExitReason::TrailingStop));
    }

    #[test]
    fn trail_state_keeps_the_favourable_extreme() {
        let mut trail = TrailState::default();
        for m in ["100", "99", "103", "101"] {
            trail.observe(Direction::Short, p(m));
        }
        assert_eq!(trail.best_mark, Some(p("99")));
    }

    #[test]
    fn stop_loss_beats_take_profit_and_time() {
        let mut r = rules();
        r.take_profit = Some(Ppm(1)); // absurdly tight, still loses to the stop
        let (t, pos) = trade(Direction::Long, r);
        assert_eq!(exit_due(&t, &pos, p("98"), &TrailState::default(), u64::MAX), Some(ExitReason::StopLoss));
    }

    #[test]
    fn cooldowns_are_per_direction() {
        let mut c = Cooldowns::default();
        c.start(Direction::Long, 100, 50);
        assert_eq!(c.active_until(Direction::Long, 120), Some(150));
        assert_eq!(c.active_until(Direction::Long, 150), None);
        assert_eq!(c.active_until(Direction::Short, 120), None);
        c.start(Direction::Long, 10, 5); // an older, shorter cooldown never shortens one
        assert_eq!(c.active_until(Direction::Long, 120), Some(150));
    }
}

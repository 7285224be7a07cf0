//! One symbol's one-way position book: quantity, cost basis, realized PnL, fees.
//!
//! Accounting rule (the same one docs/PROTOCOL.md gives gateways, so ledgers agree exactly):
//! - notional = price × qty, rounded half-to-even (`Price::notional`);
//! - a fill on the position's side (or when flat) adds qty and adds its notional to `cost`;
//! - a fill of `q` against a position of `Q`: `released = cost` if `q == Q`, else
//!   `round_half_even(cost × q / Q)`; realized += notional − released (long) or
//!   released − notional (short); cost −= released;
//! - a fill larger than the position closes it and opens the remainder the other way.
//!
//! Fills are de-duplicated by `exec_id` over a bounded window. A position exists only
//! because fills say so; sending an order changes nothing here.

use std::collections::{HashSet, VecDeque};

use protocol::fixed::{self, FixedError};
use protocol::{ExecId, Money, Price, Qty, Side};

use crate::efsm::Direction;

/// How many recent exec ids each book remembers for de-duplication.
pub const DEDUPE_WINDOW: usize = 4096;

/// An open position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Position {
    pub direction: Direction,
    pub qty: Qty,
    /// Sum of entry notionals of the open quantity (proportionally reduced on partial closes).
    pub cost: Money,
}

impl Position {
    /// `long 0.01 cost 1000.5`, or `flat` for none: one wording for logs and summaries.
    pub fn describe(position: Option<Position>) -> String {
        position.map_or_else(|| "flat".to_string(), |p| format!("{} {} cost {}", p.direction.as_str(), p.qty, p.cost))
    }

    /// Average entry price, rounded half-to-even (display only; accounting uses `cost`).
    pub fn avg_price(&self) -> Result<Price, FixedError> {
        let scaled = i128::from(self.cost.raw()) * i128::from(fixed::SCALE);
        Price::from_raw(fixed::narrow(fixed::div_round_half_even(scaled, i128::from(self.qty.raw()))?)?)
    }

    /// Gross PnL if closed at `mark`: exact integer arithmetic.
    pub fn unrealized_at(&self, mark: Price) -> Result<Money, FixedError> {
        let value = mark.notional(self.qty)?;
        match self.direction {
            Direction::Long => value.checked_sub(self.cost),
            Direction::Short => self.cost.checked_sub(value),
        }
    }
}

/// What one fill did to the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillEffect {
    /// Gross PnL realized by this fill (zero for opening fills).
    pub realized: Money,
    pub fee: Money,
    pub position_after: Option<Position>,
    /// True when the fill turned the position to the other direction.
    pub flipped: bool,
    /// True when this fill brought the position to flat (a trade closed).
    pub closed: bool,
}

/// Why a fill could not be booked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookError {
    #[error("fill quantity must be > 0")]
    ZeroQty,
    #[error("money arithmetic: {0}")]
    Fixed(#[from] FixedError),
}

/// Result of offering a fill to the book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillOutcome {
    Applied(FillEffect),
    /// The exec id was seen before: nothing changed.
    Duplicate,
}

/// A bounded set of recently seen ids: O(1) lookup, oldest evicted first.
#[derive(Clone, Debug, Default)]
struct RecentIds {
    order: VecDeque<ExecId>,
    set: HashSet<ExecId>,
}

impl RecentIds {
    fn contains(&self, id: ExecId) -> bool {
        self.set.contains(&id)
    }
    fn insert(&mut self, id: ExecId) {
        if self.order.len() == DEDUPE_WINDOW {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.order.push_back(id);
        self.set.insert(id);
    }
}

/// The book of one symbol.
#[derive(Clone, Debug, Default)]
pub struct PositionBook {
    position: Option<Position>,
    realized: Money,
    fees: Money,
    fills: u64,
    seen: RecentIds,
}

impl PositionBook {
    pub fn position(&self) -> Option<Position> {
        self.position
    }
    /// Gross realized PnL since the book began.
    pub fn realized(&self) -> Money {
        self.realized
    }
    pub fn fees(&self) -> Money {
        self.fees
    }
    pub fn fills(&self) -> u64 {
        self.fills
    }
    /// Realized PnL net of fees.
    pub fn net_realized(&self) -> Result<Money, FixedError> {
        self.realized.checked_sub(self.fees)
    }
    /// Cost basis of the open position (the symbol's exposure), zero when flat.
    pub fn exposure(&self) -> Money {
        self.position.map_or(Money::ZERO, |p| p.cost)
    }
    pub fn has_seen(&self, exec_id: ExecId) -> bool {
        self.seen.contains(exec_id)
    }

    /// Restores a book from durable state or a reconciled snapshot.
    pub fn restore(position: Option<Position>, realized: Money, fees: Money, fills: u64) -> PositionBook {
        PositionBook { position, realized, fees, fills, seen: RecentIds::default() }
    }

    /// Remembers an exec id without booking it (a report refused as a discrepancy), so that
    /// its replays are duplicates rather than new discrepancies.
    pub fn mark_seen(&mut self, exec_id: ExecId) {
        if !self.seen.contains(exec_id) {
            self.seen.insert(exec_id);
        }
    }

    /// Takes the venue's position and this session's realized PnL and fees (an operator's
    /// `adopt`), keeping the exec ids already seen.
    pub fn adopt(&mut self, position: Option<Position>, realized: Money, fees: Money) {
        self.position = position;
        self.realized = realized;
        self.fees = fees;
    }

    /// Books one fill, unless its exec id was already booked. Either the whole fill is
    /// booked or, on an arithmetic error, nothing changes.
    pub fn apply_fill(
        &mut self,
        exec_id: ExecId,
        side: Side,
        qty: Qty,
        price: Price,
        fee: Money,
    ) -> Result<FillOutcome, BookError> {
        if self.seen.contains(exec_id) {
            return Ok(FillOutcome::Duplicate);
        }
        let effect = compute_fill(self.position, side, qty, price, fee)?;
        let realized = self.realized.checked_add(effect.realized)?;
        let fees = self.fees.checked_add(fee)?;
        self.realized = realized;
        self.fees = fees;
        self.position = effect.position_after;
        self.fills += 1;
        self.seen.insert(exec_id);
        Ok(FillOutcome::Applied(effect))
    }
}

/// The effect of a fill on a position, without changing anything (pure).
pub fn compute_fill(
    position: Option<Position>,
    side: Side,
    qty: Qty,
    price: Price,
    fee: Money,
) -> Result<FillEffect, BookError> {
    if qty.is_zero() {
        return Err(BookError::ZeroQty);
    }
    let fill_direction = Direction::from_entry_side(side);
    let opening = |existing: Option<Position>, open_qty: Qty| -> Result<Position, BookError> {
        let notional = price.notional(open_qty)?;
        Ok(match existing {
            Some(p) => Position {
                direction: p.direction,
                qty: p.qty.checked_add(open_qty)?,
                cost: p.cost.checked_add(notional)?,
            },
            None => Position { direction: fill_direction, qty: open_qty, cost: notional },
        })
    };
    match position {
        None => Ok(FillEffect {
            realized: Money::ZERO,
            fee,
            position_after: Some(opening(None, qty)?),
            flipped: false,
            closed: false,
        }),
        Some(p) if p.direction == fill_direction => Ok(FillEffect {
            realized: Money::ZERO,
            fee,
            position_after: Some(opening(Some(p), qty)?),
            flipped: false,
            closed: false,
        }),
        Some(p) => {
            let close_qty = qty.min(p.qty);
            let notional = price.notional(close_qty)?;
            let released = if close_qty == p.qty {
                p.cost
            } else {
                let share = i128::from(p.cost.raw()) * i128::from(close_qty.raw());
                Money::from_raw_signed(fixed::narrow(fixed::div_round_half_even(share, i128::from(p.qty.raw()))?)?)
            };
            let realized = match p.direction {
                Direction::Long => notional.checked_sub(released)?,
                Direction::Short => released.checked_sub(notional)?,
            };
            let remaining = p.qty.checked_sub(close_qty)?;
            let leftover = qty.checked_sub(close_qty)?;
            let position_after = if !remaining.is_zero() {
                Some(Position { direction: p.direction, qty: remaining, cost: p.cost.checked_sub(released)? })
            } else if !leftover.is_zero() {
                Some(opening(None, leftover)?)
            } else {
                None
            };
            Ok(FillEffect { realized, fee, position_after, flipped: !leftover.is_zero(), closed: remaining.is_zero() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn q(s: &str) -> Qty {
        s.parse().unwrap()
    }
    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[test]
    fn long_round_trip_realizes_the_difference() {
        let mut book = PositionBook::default();
        book.apply_fill(ExecId(1), Side::Buy, q("0.5"), p("100"), m("0.01")).unwrap();
        let FillOutcome::Applied(effect) =
            book.apply_fill(ExecId(2), Side::Sell, q("0.5"), p("110"), m("0.01")).unwrap()
        else {
            panic!("expected applied");
        };
        assert_eq!(effect.realized, m("5"));
        assert!(effect.closed);
        assert_eq!(book.position(), None);
        assert_eq!(book.realized(), m("5"));
        assert_eq!(book.fees(), m("0.02"));
        assert_eq!(book.net_realized().unwrap(), m("4.98"));
    }

    #[test]
    fn short_round_trip() {
        let mut book = PositionBook::default();
        book.apply_fill(ExecId(1), Side::Sell, q("2"), p("50"), Money::ZERO).unwrap();
        book.apply_fill(ExecId(2), Side::Buy, q("2"), p("45.5"), Money::ZERO).unwrap();
        assert_eq!(book.realized(), m("9"));
    }

    #[test]
    fn duplicate_exec_id_is_ignored() {
        let mut book = PositionBook::default();
        book.apply_fill(ExecId(7), Side::Buy, q("1"), p("10"), m("0.1")).unwrap();
        assert_eq!(book.apply_fill(ExecId(7), Side::Buy, q("1"), p("10"), m("0.1")).unwrap(), FillOutcome::Duplicate);
        assert_eq!(book.position().unwrap().qty, q("1"));
        assert_eq!(book.fees(), m("0.1"));
        assert_eq!(book.fills(), 1);
    }

    #[test]
    fn partial_fills_average_the_entry() {
        let mut book = PositionBook::default();
        book.apply_fill(ExecId(1), Side::Buy, q("1"), p("100"), Money::ZERO).unwrap();
        book.apply_fill(ExecId(2), Side::Buy, q("1"), p("102"), Money::ZERO).unwrap();
        let pos = book.position().unwrap();
        assert_eq!(pos.cost, m("202"));
        assert_eq!(pos.avg_price().unwrap(), p("101"));
        book.apply_fill(ExecId(3), Side::Sell, q("0.5"), p("103"), Money::ZERO).unwrap();
        assert_eq!(book.realized(), m("1")); // 51.5 - 50.5
        assert_eq!(book.position().unwrap().cost, m("151.5"));
    }

    #[rstest]
    #[case("3", "1", "33.33333333")] // 100 * 1/3 rounds down
    #[case("3", "2", "66.66666667")]
    fn partial_close_releases_a_rounded_share(#[case] open: &str, #[case] close: &str, #[case] released: &str) {
        let pos = Position { direction: Direction::Long, qty: q(open), cost: m("100") };
        let effect = compute_fill(Some(pos), Side::Sell, q(close), p("0.00000001"), Money::ZERO).unwrap();
        let notional = p("0.00000001").notional(q(close)).unwrap();
        assert_eq!(effect.realized, notional.checked_sub(m(released)).unwrap());
    }

    #[test]
    fn overfill_flips_the_position() {
        let pos = Position { direction: Direction::Long, qty: q("1"), cost: m("100") };
        let effect = compute_fill(Some(pos), Side::Sell, q("3"), p("110"), Money::ZERO).unwrap();
        assert!(effect.flipped);
        assert_eq!(effect.realized, m("10"));
        assert_eq!(effect.position_after, Some(Position { direction: Direction::Short, qty: q("2"), cost: m("220") }));
    }

    #[test]
    fn zero_qty_fill_is_refused() {
        assert_eq!(compute_fill(None, Side::Buy, Qty::ZERO, p("1"), Money::ZERO), Err(BookError::ZeroQty));
    }

    #[test]
    fn overflow_changes_nothing() {
        let mut book = PositionBook::default();
        book.apply_fill(ExecId(1), Side::Buy, q("1"), p("1"), Money::ZERO).unwrap();
        let huge = Price::from_raw(i64::MAX).unwrap();
        assert!(book.apply_fill(ExecId(2), Side::Buy, q("1000"), huge, Money::ZERO).is_err());
        assert_eq!(book.position().unwrap().qty, q("1"));
        assert!(!book.has_seen(ExecId(2)));
    }

    #[test]
    fn dedupe_window_is_bounded() {
        let mut book = PositionBook::default();
        for i in 0..(DEDUPE_WINDOW as u64 + 10) {
            book.apply_fill(ExecId(i), if i % 2 == 0 { Side::Buy } else { Side::Sell }, q("1"), p("1"), Money::ZERO)
                .unwrap();
        }
        assert!(!book.has_seen(ExecId(0)));
        assert!(book.has_seen(ExecId(DEDUPE_WINDOW as u64 + 9)));
        assert_eq!(book.seen.set.len(), DEDUPE_WINDOW);
    }

    #[test]
    fn unrealized_marks_exactly() {
        let pos = Position { direction: Direction::Short, qty: q("0.001"), cost: m("100") };
        assert_eq!(pos.unrealized_at(p("99000")).unwrap(), m("1"));
    }
}

//! Trades as records: every booked fill, every closed trade (exactly once, with why it
//! closed and who decided its entry), and every change of the books that no fill explains
//! (an operator's `adopt`). The [`TradeTracker`] follows the book of one symbol fill by
//! fill; the core turns what it returns into actions for the trade ledger.
//!
//! Accounting: a trade runs from the fill that opens a position to the fill that brings it
//! back to flat. Its realized PnL is the sum of the book's realized PnL of its fills, its
//! fees the sum of their fees (entry and exit), so the closed trades of a symbol, plus the
//! open one, plus the adjustments, sum exactly to the book. A fill that flips the position
//! closes the trade (its whole fee and realized PnL belong to it) and opens the next one
//! with the remainder.

use protocol::fixed::{self, FixedError};
use protocol::{ExecId, IntentId, Money, Price, Qty, Side, Symbol};

use crate::agent::AgentId;
use crate::book::{FillEffect, Position};
use crate::clock::TimeNs;
use crate::efsm::{Direction, ExitReason};

/// Who decided a trade's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DecidedBy {
    /// A built-in strategy, by its name (`Strategy::name`).
    Strategy(&'static str),
    /// The position was restored from durable state at start (the decision predates this
    /// process), or its entry order was restored from the journal.
    Restored,
    /// An operator's `adopt` took the position from the venue.
    Operator,
    /// No decision opened it: an overfilled order flipped the position.
    Unplanned,
    /// An external agent, through the intent endpoint (docs/AGENTS.md).
    Agent(AgentId),
}

impl DecidedBy {
    /// The kind, for storage (`strategy`, `restored`, `operator`, `unplanned`, `agent`).
    pub const fn kind(self) -> &'static str {
        match self {
            DecidedBy::Strategy(_) => "strategy",
            DecidedBy::Agent(_) => "agent",
            DecidedBy::Restored => "restored",
            DecidedBy::Operator => "operator",
            DecidedBy::Unplanned => "unplanned",
        }
    }
    /// The deciding strategy's name or agent's id, if any.
    pub fn name(&self) -> Option<&str> {
        match self {
            DecidedBy::Strategy(name) => Some(name),
            DecidedBy::Agent(agent) => Some(agent.as_str()),
            _ => None,
        }
    }
}

/// Why a trade closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The exit order the core sent, for this reason (TP, SL, trailing, time limit, the
    /// strategy's own exit, or the flatten of an exit order restored after a restart).
    Exit(ExitReason),
    /// An operator's `adopt` replaced the position with the venue's.
    Adopt,
    /// A fill of an order that was not an exit brought the position to flat (an entry
    /// filled the wrong way, for example).
    Unplanned,
}

impl CloseReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            CloseReason::Exit(reason) => reason.as_str(),
            CloseReason::Adopt => "adopt",
            CloseReason::Unplanned => "unplanned",
        }
    }
}

/// One booked fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookedFill {
    pub symbol: Symbol,
    /// The trade this fill belongs to (per symbol, from 1).
    pub trade_seq: u64,
    pub exec_id: ExecId,
    pub intent_id: IntentId,
    pub side: Side,
    pub qty: Qty,
    pub price: Price,
    pub fee: Money,
    /// Gross PnL this fill realized (zero for an opening fill).
    pub realized: Money,
    pub at: TimeNs,
}

/// A trade that closed: exactly one per trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClosedTrade {
    pub symbol: Symbol,
    /// Per symbol, from 1, in the order trades opened.
    pub trade_seq: u64,
    pub direction: Direction,
    /// Everything the trade opened (the sum of its opening fills).
    pub qty: Qty,
    pub entry_at: TimeNs,
    pub exit_at: TimeNs,
    /// Average entry price (opening notionals / qty, rounded half-to-even).
    pub entry_price: Price,
    /// Average exit price of its closing fills; `None` when none closed it (adopt).
    pub exit_price: Option<Price>,
    /// Gross realized PnL of the trade.
    pub realized: Money,
    /// Fees of every fill of the trade, entry and exit.
    pub fees: Money,
    pub reason: CloseReason,
    /// The order that opened it (`None` for a restored or adopted position).
    pub entry_intent: Option<IntentId>,
    /// The order that closed it (`None` for adopt).
    pub exit_intent: Option<IntentId>,
    pub decided_by: DecidedBy,
    /// Fills booked for the trade.
    pub fills: u32,
}

impl ClosedTrade {
    /// Realized PnL net of fees (a win when > 0).
    pub fn net(&self) -> Result<Money, FixedError> {
        self.realized.checked_sub(self.fees)
    }
}

/// A change of the book's PnL that no fill explains (an operator's `adopt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookAdjustment {
    pub symbol: Symbol,
    pub realized: Money,
    pub fees: Money,
    pub at: TimeNs,
}

/// The trade now open, as it accumulates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenTradeRecord {
    pub trade_seq: u64,
    pub direction: Direction,
    pub opened_at: TimeNs,
    pub entry_intent: Option<IntentId>,
    pub decided_by: DecidedBy,
    pub entry_qty: Qty,
    /// Sum of opening notionals, raw (i128: never overflows before the book would).
    entry_notional: i128,
    exit_qty: Qty,
    exit_notional: i128,
    pub realized: Money,
    pub fees: Money,
    pub fills: u32,
}

impl OpenTradeRecord {
    fn new(seq: u64, direction: Direction, at: TimeNs, intent: Option<IntentId>, by: DecidedBy) -> OpenTradeRecord {
        OpenTradeRecord {
            trade_seq: seq,
            direction,
            opened_at: at,
            entry_intent: intent,
            decided_by: by,
            entry_qty: Qty::ZERO,
            entry_notional: 0,
            exit_qty: Qty::ZERO,
            exit_notional: 0,
            realized: Money::ZERO,
            fees: Money::ZERO,
            fills: 0,
        }
    }
}

/// Average price of `notional` (raw) over `qty`, half-to-even; zero for no quantity.
fn average(notional: i128, qty: Qty) -> Result<Price, FixedError> {
    if qty.is_zero() {
        return Ok(Price::ZERO);
    }
    let scaled = notional.checked_mul(i128::from(fixed::SCALE)).ok_or(FixedError::Overflow)?;
    Price::from_raw(fixed::narrow(fixed::div_round_half_even(scaled, i128::from(qty.raw()))?)?)
}

/// What one booked fill meant for the trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FillRecords {
    pub fill: BookedFill,
    pub closed: Option<ClosedTrade>,
}

/// A booked fill whose trade records failed (their figures overflowed): the fill, as
/// belonging to no trade (`trade_seq` 0), and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UntrackedFill {
    pub fill: BookedFill,
    pub error: FixedError,
}

/// Follows one symbol's trades, fill by fill.
#[derive(Clone, Debug, Default)]
pub struct TradeTracker {
    /// Trades opened so far (the last one's sequence number).
    opened: u64,
    open: Option<OpenTradeRecord>,
    /// The entry order on the wire and who decided it.
    entry: Option<(IntentId, DecidedBy)>,
    /// The exit order on the wire and why.
    exit: Option<(IntentId, ExitReason)>,
}

impl TradeTracker {
    /// The trade now open, if any.
    pub fn open(&self) -> Option<&OpenTradeRecord> {
        self.open.as_ref()
    }

    /// An entry order was placed (or restored), decided by `by`.
    pub fn entry_placed(&mut self, intent: IntentId, by: DecidedBy) {
        self.entry = Some((intent, by));
    }

    /// An exit order was placed (or restored) for `reason`.
    pub fn exit_placed(&mut self, intent: IntentId, reason: ExitReason) {
        self.exit = Some((intent, reason));
    }

    /// A position restored from durable state: an open trade whose entry predates us.
    pub fn restore(&mut self, position: Option<Position>, at: TimeNs) {
        self.open = position.map(|p| self.start_from(p, at, DecidedBy::Restored));
    }

    /// Gives a restored trade the time of the first step (restoring happens before it).
    pub fn stamp_restored(&mut self, at: TimeNs) {
        if let Some(t) = self.open.as_mut().filter(|t| t.decided_by == DecidedBy::Restored && t.opened_at == 0) {
            t.opened_at = at;
        }
    }

    fn start_from(&mut self, p: Position, at: TimeNs, by: DecidedBy) -> OpenTradeRecord {
        self.opened += 1;
        let mut record = OpenTradeRecord::new(self.opened, p.direction, at, None, by);
        record.entry_qty = p.qty;
        record.entry_notional = i128::from(p.cost.raw());
        record
    }

    /// Records a booked fill (its `effect` as the book computed it). If the trade's figures
    /// overflow, the fill is still returned, as belonging to no trade (`trade_seq` 0).
    #[allow(clippy::too_many_arguments)] // one fill's facts, each needed in the records
    pub fn on_fill(
        &mut self,
        symbol: Symbol,
        exec_id: ExecId,
        intent: IntentId,
        side: Side,
        qty: Qty,
        price: Price,
        effect: &FillEffect,
        at: TimeNs,
    ) -> Result<FillRecords, Box<UntrackedFill>> {
        let fill = BookedFill {
            symbol,
            trade_seq: 0,
            exec_id,
            intent_id: intent,
            side,
            qty,
            price,
            fee: effect.fee,
            realized: effect.realized,
            at,
        };
        self.track(fill, effect).map_err(|error| Box::new(UntrackedFill { fill, error }))
    }

    /// The trade records of `fill` (whose `trade_seq` it sets).
    fn track(&mut self, mut fill: BookedFill, effect: &FillEffect) -> Result<FillRecords, FixedError> {
        let BookedFill { symbol, intent_id: intent, side, qty, price, at, .. } = fill;
        let fill_direction = Direction::from_entry_side(side);
        let mut trade = match self.open {
            Some(t) => t,
            None => {
                let by = self.entry.filter(|(i, _)| *i == intent).map_or(DecidedBy::Unplanned, |(_, by)| by);
                self.opened += 1;
                OpenTradeRecord::new(self.opened, fill_direction, at, Some(intent), by)
            }
        };
        fill.trade_seq = trade.trade_seq;
        trade.fills = trade.fills.saturating_add(1);
        trade.fees = trade.fees.checked_add(effect.fee)?;
        trade.realized = trade.realized.checked_add(effect.realized)?;
        if fill_direction == trade.direction {
            trade.entry_qty = trade.entry_qty.checked_add(qty)?;
            trade.entry_notional += i128::from(price.notional(qty)?.raw());
            self.open = Some(trade);
            return Ok(FillRecords { fill, closed: None });
        }
        // Closing (part of) the position; anything beyond it opens the other way.
        let open_qty = trade.entry_qty.checked_sub(trade.exit_qty)?;
        let close_qty = qty.min(open_qty);
        trade.exit_qty = trade.exit_qty.checked_add(close_qty)?;
        trade.exit_notional += i128::from(price.notional(close_qty)?.raw());
        if !effect.closed {
            self.open = Some(trade);
            return Ok(FillRecords { fill, closed: None });
        }
        let reason = match self.exit.filter(|(i, _)| *i == intent) {
            Some((_, reason)) => CloseReason::Exit(reason),
            None => CloseReason::Unplanned,
        };
        let closed = self.close(symbol, trade, reason, Some(intent), Some(trade.exit_notional), at)?;
        self.open = effect.position_after.map(|p| {
            self.opened += 1;
            let mut next = OpenTradeRecord::new(self.opened, p.direction, at, Some(intent), DecidedBy::Unplanned);
            next.entry_qty = p.qty;
            next.entry_notional = i128::from(p.cost.raw());
            next
        });
        Ok(FillRecords { fill, closed: Some(closed) })
    }

    fn close(
        &self,
        symbol: Symbol,
        trade: OpenTradeRecord,
        reason: CloseReason,
        exit_intent: Option<IntentId>,
        exit_notional: Option<i128>,
        at: TimeNs,
    ) -> Result<ClosedTrade, FixedError> {
        Ok(ClosedTrade {
            symbol,
            trade_seq: trade.trade_seq,
            direction: trade.direction,
            qty: trade.entry_qty,
            entry_at: trade.opened_at,
            exit_at: at,
            entry_price: average(trade.entry_notional, trade.entry_qty)?,
            exit_price: exit_notional.map(|n| average(n, trade.exit_qty)).transpose()?,
            realized: trade.realized,
            fees: trade.fees,
            reason,
            entry_intent: trade.entry_intent,
            exit_intent,
            decided_by: trade.decided_by,
            fills: trade.fills,
        })
    }

    /// An operator's `adopt` replaced the book's position with `after`: a trade open under
    /// another position closes (reason `Adopt`), and the venue's position, if any, opens a
    /// trade decided by the operator. Nothing happens when the position is unchanged.
    pub fn adopt(
        &mut self,
        symbol: Symbol,
        before: Option<Position>,
        after: Option<Position>,
        at: TimeNs,
    ) -> Result<Option<ClosedTrade>, FixedError> {
        if before == after {
            return Ok(None);
        }
        let closed = match self.open.take() {
            Some(trade) => Some(self.close(symbol, trade, CloseReason::Adopt, None, None, at)?),
            None => None,
        };
        self.open = after.map(|p| self.start_from(p, at, DecidedBy::Operator));
        Ok(closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::{compute_fill, FillOutcome, PositionBook};

    fn q(s: &str) -> Qty {
        s.parse().unwrap()
    }
    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }
    fn sym() -> Symbol {
        Symbol::new("BTCUSD.s").unwrap()
    }

    /// Books a fill and tracks it.
    fn fill(
        book: &mut PositionBook,
        t: &mut TradeTracker,
        (exec, intent): (u64, u64),
        side: Side,
        qty: &str,
        px: &str,
        fee: &str,
    ) -> FillRecords {
        let before = book.position();
        let FillOutcome::Applied(effect) = book.apply_fill(ExecId(exec), side, q(qty), p(px), m(fee)).unwrap() else {
            panic!("duplicate");
        };
        assert_eq!(effect, compute_fill(before, side, q(qty), p(px), m(fee)).unwrap());
        t.on_fill(sym(), ExecId(exec), IntentId(intent), side, q(qty), p(px), &effect, exec).unwrap()
    }

    #[test]
    fn a_round_trip_in_partial_fills_is_one_trade_with_every_fee() {
        let (mut book, mut t) = (PositionBook::default(), TradeTracker::default());
        t.entry_placed(IntentId(1), DecidedBy::Strategy("zscore"));
        assert!(fill(&mut book, &mut t, (1, 1), Side::Buy, "1", "100", "0.1").closed.is_none());
        assert!(fill(&mut book, &mut t, (2, 1), Side::Buy, "1", "102", "0.1").closed.is_none());
        t.exit_placed(IntentId(2), ExitReason::TakeProfit);
        let half = fill(&mut book, &mut t, (3, 2), Side::Sell, "0.5", "110", "0.05");
        assert!(half.closed.is_none());
        assert_eq!(half.fill.trade_seq, 1);
        let last = fill(&mut book, &mut t, (4, 2), Side::Sell, "1.5", "104", "0.15").closed.unwrap();
        assert_eq!(last.trade_seq, 1);
        assert_eq!(last.direction, Direction::Long);
        assert_eq!(last.qty, q("2"));
        assert_eq!(last.entry_price, p("101"));
        assert_eq!(last.exit_price, Some(p("105.5")));
        assert_eq!(last.realized, book.realized());
        assert_eq!(last.fees, m("0.4"));
        assert_eq!(last.fees, book.fees());
        assert_eq!(last.reason, CloseReason::Exit(ExitReason::TakeProfit));
        assert_eq!((last.entry_intent, last.exit_intent), (Some(IntentId(1)), Some(IntentId(2))));
        assert_eq!(last.decided_by, DecidedBy::Strategy("zscore"));
        assert_eq!((last.entry_at, last.exit_at, last.fills), (1, 4, 4));
        assert!(t.open().is_none());
    }

    #[test]
    fn a_flip_closes_the_trade_and_opens_an_unplanned_one() {
        let (mut book, mut t) = (PositionBook::default(), TradeTracker::default());
        t.entry_placed(IntentId(1), DecidedBy::Strategy("s"));
        fill(&mut book, &mut t, (1, 1), Side::Buy, "1", "100", "0");
        let flip = fill(&mut book, &mut t, (2, 9), Side::Sell, "3", "110", "0.3");
        let closed = flip.closed.unwrap();
        assert_eq!(closed.reason, CloseReason::Unplanned, "intent 9 was not an exit we sent");
        assert_eq!((closed.realized, closed.fees, closed.exit_price), (m("10"), m("0.3"), Some(p("110"))));
        let next = t.open().unwrap();
        assert_eq!((next.trade_seq, next.direction, next.entry_qty), (2, Direction::Short, q("2")));
        assert_eq!(next.decided_by, DecidedBy::Unplanned);
        assert_eq!(next.fees, Money::ZERO);
    }

    #[test]
    fn adopt_closes_the_open_trade_and_opens_the_venues() {
        let (mut book, mut t) = (PositionBook::default(), TradeTracker::default());
        fill(&mut book, &mut t, (1, 1), Side::Buy, "1", "100", "0.1");
        let venue = Position { direction: Direction::Short, qty: q("2"), cost: m("190") };
        let closed = t.adopt(sym(), book.position(), Some(venue), 50).unwrap().unwrap();
        assert_eq!((closed.reason, closed.exit_price, closed.exit_intent), (CloseReason::Adopt, None, None));
        assert_eq!(closed.fees, m("0.1"));
        let open = t.open().unwrap();
        assert_eq!((open.decided_by, open.entry_qty, open.trade_seq), (DecidedBy::Operator, q("2"), 2));
        assert_eq!(t.adopt(sym(), Some(venue), Some(venue), 60).unwrap(), None, "nothing changed");
    }

    #[test]
    fn a_restored_position_is_an_open_trade_with_its_cost() {
        let mut t = TradeTracker::default();
        let pos = Position { direction: Direction::Long, qty: q("3"), cost: m("100") };
        t.restore(Some(pos), 7);
        t.exit_placed(IntentId(5), ExitReason::StopLoss);
        let mut book = PositionBook::restore(Some(pos), Money::ZERO, Money::ZERO, 0);
        let closed = fill(&mut book, &mut t, (1, 5), Side::Sell, "3", "30", "0").closed.unwrap();
        assert_eq!(closed.entry_price, p("33.33333333"));
        assert_eq!(closed.decided_by, DecidedBy::Restored);
        assert_eq!(closed.entry_intent, None);
        assert_eq!(closed.realized, m("-10"));
        assert_eq!(closed.reason.as_str(), "stop_loss");
    }
}

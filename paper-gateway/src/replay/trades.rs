//! The round trips of a run, from the venue's fills in execution order: a trade opens when
//! a symbol's position leaves flat and closes when it is flat again. Booked with the
//! engine's own accounting (`PositionBook`), so a trade's net PnL is exact. In a replay
//! every fill carries the recorded time of the quote it filled at, so the list is the same
//! at every speed (`app/tests/e2e_replay.rs` holds the engine to that).

use std::collections::BTreeMap;

use engine::book::PositionBook;
use protocol::{ExecReport, Money, Price, Qty, Side, Symbol};

/// One closed trade.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoundTrip {
    pub symbol: Symbol,
    /// The side of the entry (buy: long).
    pub side: Side,
    /// The largest position held.
    pub qty: Qty,
    pub entry_ns: u64,
    pub entry_px: Price,
    pub exit_ns: u64,
    pub exit_px: Price,
    /// Realized PnL less every fee of the trade.
    pub net: Money,
}

struct Open {
    side: Side,
    qty: Qty,
    entry_ns: u64,
    entry_px: Price,
    net_before: Money,
}

/// The closed round trips in the fills (each fill once, in `exec_id` order per symbol),
/// by entry time then symbol; a position still open at the end is not a trade.
pub fn round_trips(fills: &[ExecReport]) -> Vec<RoundTrip> {
    let mut books: BTreeMap<Symbol, (PositionBook, Option<Open>)> = BTreeMap::new();
    let mut trips = Vec::new();
    let mut ordered: Vec<&ExecReport> = fills.iter().filter(|f| f.is_fill()).collect();
    ordered.sort_by_key(|f| f.exec_id);
    for fill in ordered {
        let (book, open) = books.entry(fill.symbol).or_default();
        let net = |b: &PositionBook| b.realized().checked_sub(b.fees()).unwrap_or(Money::ZERO);
        let before = net(book);
        if book.apply_fill(fill.exec_id, fill.side, fill.last_qty, fill.last_px, fill.fee).is_err() {
            continue;
        }
        match (book.position(), open.take()) {
            (Some(p), None) => {
                *open = Some(Open {
                    side: fill.side,
                    qty: p.qty,
                    entry_ns: fill.transact_ns,
                    entry_px: fill.last_px,
                    net_before: before,
                });
            }
            (Some(p), Some(mut o)) => {
                o.qty = o.qty.max(p.qty);
                *open = Some(o);
            }
            (None, Some(o)) => trips.push(RoundTrip {
                symbol: fill.symbol,
                side: o.side,
                qty: o.qty,
                entry_ns: o.entry_ns,
                entry_px: o.entry_px,
                exit_ns: fill.transact_ns,
                exit_px: fill.last_px,
                net: net(book).checked_sub(o.net_before).unwrap_or(Money::ZERO),
            }),
            (None, None) => {}
        }
    }
    // One order whatever the interleaving of symbols: by entry time, then symbol.
    trips.sort_by_key(|t| (t.entry_ns, t.symbol));
    trips
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExecId, ExecType, IntentId, OrdStatus, OrderId, RejectCode};

    fn fill(id: u64, side: Side, px: &str, ts: u64) -> ExecReport {
        ExecReport {
            intent_id: IntentId(id),
            order_id: OrderId(id),
            exec_id: ExecId(id),
            symbol: Symbol::new("X").unwrap(),
            side,
            exec_type: ExecType::Fill,
            ord_status: OrdStatus::Filled,
            last_qty: "2".parse().unwrap(),
            last_px: px.parse().unwrap(),
            cum_qty: "2".parse().unwrap(),
            leaves_qty: Qty::ZERO,
            fee: "0.01".parse().unwrap(),
            reject_code: RejectCode::None,
            reject_text: String::new(),
            poss_dup: false,
            transact_ns: ts,
        }
    }

    #[test]
    fn trips_are_booked_exactly_and_an_open_position_is_no_trip() {
        let fills = [
            fill(3, Side::Sell, "10.5", 30),
            fill(1, Side::Buy, "10", 10),
            fill(4, Side::Sell, "11", 40),
            fill(5, Side::Buy, "12", 50),
        ];
        let trips = round_trips(&fills);
        assert_eq!(trips.len(), 2);
        assert_eq!((trips[0].side, trips[0].entry_ns, trips[0].exit_ns), (Side::Buy, 10, 30));
        assert_eq!(trips[0].net, "0.98".parse().unwrap()); // 2 × 0.5 − 2 × 0.01
        assert_eq!((trips[1].side, trips[1].exit_px), (Side::Sell, "12".parse().unwrap()));
        assert_eq!(trips[1].net, "-2.02".parse().unwrap());
    }
}

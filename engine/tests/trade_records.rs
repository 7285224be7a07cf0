//! Property test of the trade records a `SymbolCore` emits, over random sequences of
//! signals, ticks (which fire TP/SL/time exits), full and partial fills at random prices and
//! fees, duplicates, rejects, timeouts with status replays, and operator adopts:
//! - exactly one `TradeClosed` per closed trade: their number equals the core's `trades`
//!   counter, and no trade closes twice;
//! - money is exact: the closed trades plus the open trade plus the adjustments sum to the
//!   book's realized PnL and fees, and so do the booked fills; each closed trade's realized
//!   PnL and fees are the sums of its own fills.

mod common;

use std::collections::BTreeMap;

use common::*;
use engine::book::Position;
use engine::efsm::{Direction, HaltReason};
use engine::reconcile::VenueView;
use engine::symbol_core::{Action, OrderRequest};
use engine::trade::{BookedFill, ClosedTrade};
use proptest::prelude::*;
use protocol::*;

#[derive(Clone, Debug)]
enum Op {
    Enter {
        long: bool,
    },
    ExitSignal,
    Tick {
        mid_delta: i64,
    },
    /// 1..=100 percent of what is left of the order, at mid + offset, with this fee.
    Fill {
        pct: i64,
        offset: i64,
        fee_raw: i64,
        terminal: bool,
    },
    Duplicate,
    Reject,
    TimeoutThenReplay,
    Wait {
        secs: u64,
    },
    HaltAdopt {
        venue_qty_thousandths: i64,
        long: bool,
        realized_units: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<bool>().prop_map(|long| Op::Enter { long }),
        1 => Just(Op::ExitSignal),
        3 => (-3_000i64..3_000).prop_map(|mid_delta| Op::Tick { mid_delta }),
        6 => (1i64..=100, -50i64..50, 0i64..10_000_000, any::<bool>())
            .prop_map(|(pct, offset, fee_raw, terminal)| Op::Fill { pct, offset, fee_raw, terminal }),
        1 => Just(Op::Duplicate),
        1 => Just(Op::Reject),
        1 => Just(Op::TimeoutThenReplay),
        1 => (1u64..90).prop_map(|secs| Op::Wait { secs }),
        1 => (0i64..30, any::<bool>(), -50i64..50)
            .prop_map(|(venue_qty_thousandths, long, realized_units)| Op::HaltAdopt { venue_qty_thousandths, long, realized_units }),
    ]
}

/// What the test remembers of the records.
#[derive(Default)]
struct Records {
    fills: Vec<BookedFill>,
    closed: Vec<ClosedTrade>,
    adjusted_realized: i128,
    adjusted_fees: i128,
}

impl Records {
    fn take(&mut self, actions: &[Action], order: &mut Option<(OrderRequest, Qty)>) {
        for a in actions {
            match a {
                Action::FillBooked(f) => self.fills.push(*f),
                Action::TradeClosed(t) => self.closed.push(*t),
                Action::BookAdjusted(adj) => {
                    self.adjusted_realized += i128::from(adj.realized.raw());
                    self.adjusted_fees += i128::from(adj.fees.raw());
                }
                Action::PlaceOrder(o) => *order = Some((*o, Qty::ZERO)),
                _ => {}
            }
        }
    }
}

fn sum(values: impl Iterator<Item = Money>) -> i128 {
    values.map(|m| i128::from(m.raw())).sum()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn one_close_per_trade_and_the_records_sum_to_the_book(ops in proptest::collection::vec(op(), 1..80)) {
        let mut h = Harness::new();
        let mut rec = Records::default();
        let mut mid: i64 = 100_000;
        let mut order: Option<(OrderRequest, Qty)> = None;
        let mut last_fill: Option<ExecReport> = None;
        let a = h.tick_at(&mid.to_string());
        rec.take(&a, &mut order);
        for op in &ops {
            let actions = match *op {
                Op::Enter { long } => {
                    let direction = if long { Direction::Long } else { Direction::Short };
                    h.signal(enter(direction), &mid.to_string())
                }
                Op::ExitSignal => h.signal(exit_both(), &mid.to_string()),
                Op::Tick { mid_delta } => {
                    mid = (mid + mid_delta).max(1_000);
                    h.tick_at(&mid.to_string())
                }
                Op::Fill { pct, offset, fee_raw, terminal } => {
                    let Some((o, filled)) = order else { continue };
                    let left = o.qty.checked_sub(filled).unwrap();
                    let q = Qty::from_raw((i128::from(left.raw()) * i128::from(pct) / 100) as i64).unwrap();
                    if q.is_zero() { continue; }
                    let cum = filled.checked_add(q).unwrap();
                    let mut r = h.fill_report(&o, &(mid + offset).to_string(), "0");
                    r.fee = Money::from_raw_signed(fee_raw);
                    r.last_qty = q;
                    r.cum_qty = cum;
                    let done = terminal || cum == o.qty;
                    r.leaves_qty = if done { Qty::ZERO } else { o.qty.checked_sub(cum).unwrap() };
                    (r.exec_type, r.ord_status) = if cum == o.qty {
                        (ExecType::Fill, OrdStatus::Filled)
                    } else if done {
                        (ExecType::PartialFill, OrdStatus::Canceled)
                    } else {
                        (ExecType::PartialFill, OrdStatus::PartiallyFilled)
                    };
                    order = if done { None } else { Some((o, cum)) };
                    last_fill = Some(r.clone());
                    h.report(&r)
                }
                Op::Duplicate => {
                    let Some(r) = last_fill.clone() else { continue };
                    h.report(&r)
                }
                Op::Reject => {
                    let Some((o, filled)) = order.take() else { continue };
                    let mut r = h.reject_report(&o, RejectCode::GatewayRisk);
                    r.cum_qty = filled;
                    h.report(&r)
                }
                Op::TimeoutThenReplay => {
                    let Some((o, filled)) = order.take() else { continue };
                    h.now += SEC;
                    let mut actions = h.core.on_order_timeout(o.intent_id, h.now, &h.risk);
                    // The status query's answer: the order ended with what was filled.
                    let mut r = h.reject_report(&o, RejectCode::None);
                    (r.exec_type, r.ord_status, r.cum_qty) = (ExecType::OrderStatus, OrdStatus::Canceled, filled);
                    actions.extend(h.report(&r));
                    actions
                }
                Op::Wait { secs } => {
                    h.now += secs * SEC;
                    h.core.on_timer(h.now, &h.risk)
                }
                Op::HaltAdopt { venue_qty_thousandths, long, realized_units } => {
                    if h.core.has_unresolved_order() { continue; }
                    let mut actions = h.core.halt(HaltReason::Manual);
                    let position = (venue_qty_thousandths > 0).then(|| Position {
                        direction: if long { Direction::Long } else { Direction::Short },
                        qty: Qty::from_raw(venue_qty_thousandths * 100_000).unwrap(),
                        cost: Money::units(venue_qty_thousandths * 100).unwrap(),
                    });
                    let book = h.core.book();
                    let venue = VenueView {
                        position,
                        realized: book.realized().checked_add(Money::units(realized_units).unwrap()).unwrap(),
                        fees: book.fees(),
                    };
                    actions.extend(h.core.adopt(&venue, h.now, &h.risk).unwrap());
                    actions.extend(h.core.resume(&venue, h.now, &h.risk).unwrap());
                    actions
                }
            };
            rec.take(&actions, &mut order);
        }

        let counters = h.core.counters();
        let book = h.core.book();
        prop_assert_eq!(counters.trade_record_errors, 0);
        // Exactly one close per trade.
        prop_assert_eq!(rec.closed.len() as u64, counters.trades);
        let mut seqs: Vec<u64> = rec.closed.iter().map(|t| t.trade_seq).collect();
        seqs.dedup();
        prop_assert_eq!(seqs.len(), rec.closed.len(), "no trade closes twice");
        // The fills sum to the book (adjustments aside).
        prop_assert_eq!(sum(rec.fills.iter().map(|f| f.realized)) + rec.adjusted_realized, i128::from(book.realized().raw()));
        prop_assert_eq!(sum(rec.fills.iter().map(|f| f.fee)) + rec.adjusted_fees, i128::from(book.fees().raw()));
        // Closed trades + the open trade + adjustments sum to the book.
        let (open_realized, open_fees) = h.core.open_trade().map_or((0, 0), |t| (i128::from(t.realized.raw()), i128::from(t.fees.raw())));
        prop_assert_eq!(sum(rec.closed.iter().map(|t| t.realized)) + open_realized + rec.adjusted_realized, i128::from(book.realized().raw()));
        prop_assert_eq!(sum(rec.closed.iter().map(|t| t.fees)) + open_fees + rec.adjusted_fees, i128::from(book.fees().raw()));
        prop_assert_eq!(h.core.open_trade().is_some(), book.position().is_some(), "a trade is open exactly while a position is");
        // Each closed trade is the sum of its own fills.
        let mut by_trade: BTreeMap<u64, (i128, i128, u32)> = BTreeMap::new();
        for f in &rec.fills {
            let e = by_trade.entry(f.trade_seq).or_default();
            e.0 += i128::from(f.realized.raw());
            e.1 += i128::from(f.fee.raw());
            e.2 += 1;
        }
        for t in &rec.closed {
            let (realized, fees, fills) = by_trade.get(&t.trade_seq).copied().unwrap_or_default();
            prop_assert_eq!((realized, fees, fills), (i128::from(t.realized.raw()), i128::from(t.fees.raw()), t.fills), "trade {}", t.trade_seq);
            prop_assert!(t.exit_at >= t.entry_at);
        }
    }
}

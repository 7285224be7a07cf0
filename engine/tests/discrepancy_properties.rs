//! Property tests of report vetting through a whole `SymbolCore`: whatever a hostile venue
//! reports (any side, quantity, cumulative quantity, price, intent, exec id, order status,
//! in any order), the book never holds more than was asked, never the other side, and the
//! PnL deltas it emits always sum to the book; every refused fill is a counted discrepancy
//! that halts the symbol.

mod common;

use common::*;
use engine::efsm::Direction;
use engine::symbol_core::Action;
use proptest::prelude::*;
use protocol::*;

#[derive(Clone, Debug)]
struct HostileReport {
    own_intent: bool,
    buy: bool,
    last_thousandths: i64,
    cum_thousandths: i64,
    price_factor_pct: i64,
    exec_id: u64,
    terminal: bool,
    fill: bool,
}

fn hostile() -> impl Strategy<Value = HostileReport> {
    (any::<bool>(), any::<bool>(), 1i64..40, 0i64..40, 1i64..300, 1u64..12, any::<bool>(), any::<bool>()).prop_map(
        |(own_intent, buy, last_thousandths, cum_thousandths, price_factor_pct, exec_id, terminal, fill)| {
            HostileReport {
                own_intent,
                buy,
                last_thousandths,
                cum_thousandths,
                price_factor_pct,
                exec_id,
                terminal,
                fill,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_report_sequence_books_more_than_was_asked_or_the_wrong_side(reports in proptest::collection::vec(hostile(), 1..25)) {
        let mut h = Harness::new();
        let entry = only_order(&h.signal(enter(Direction::Long), "100000")).expect("entry");
        let asked = entry.qty; // 0.01 long
        let mut pnl_realized = Money::ZERO;
        let mut pnl_fees = Money::ZERO;
        let mut refused = 0u64;
        for r in &reports {
            let mut report = h.fill_report(&entry, "100000.5", "0.01");
            if !r.own_intent {
                report.intent_id = IntentId(entry.intent_id.0 + 1_000);
            }
            report.side = if r.buy { Side::Buy } else { Side::Sell };
            report.exec_id = ExecId(r.exec_id);
            report.last_qty = Qty::from_raw(r.last_thousandths * 100_000).unwrap();
            report.cum_qty = Qty::from_raw(r.cum_thousandths.max(r.last_thousandths) * 100_000).unwrap();
            report.last_px = Price::from_raw(100_000 * 100_000_000 / 100 * r.price_factor_pct).unwrap();
            (report.exec_type, report.ord_status) = match (r.fill, r.terminal) {
                (true, true) => (ExecType::Fill, OrdStatus::Filled),
                (true, false) => (ExecType::PartialFill, OrdStatus::PartiallyFilled),
                (false, _) => (ExecType::Canceled, OrdStatus::Canceled),
            };
            if !r.fill {
                report.last_qty = Qty::ZERO;
                report.last_px = Price::ZERO;
                report.fee = Money::ZERO;
            }
            let actions = h.report(&report);
            for a in &actions {
                match a {
                    Action::Pnl(d) => {
                        pnl_realized = pnl_realized.checked_add(d.realized).unwrap();
                        pnl_fees = pnl_fees.checked_add(d.fee).unwrap();
                    }
                    Action::Discrepancy(_) => refused += 1,
                    Action::PlaceOrder(_) => prop_assert!(false, "a report never causes an order here"),
                    _ => {}
                }
            }
            if let Some(p) = h.core.book().position() {
                prop_assert_eq!(p.direction, Direction::Long, "never the other side");
                prop_assert!(p.qty <= asked, "never more than asked: {:?}", p);
            }
        }
        prop_assert_eq!(pnl_realized, h.core.book().realized());
        prop_assert_eq!(pnl_fees, h.core.book().fees());
        prop_assert_eq!(refused, h.core.status().discrepancies.total());
        if refused > 0 {
            prop_assert!(h.core.state().is_halted());
        }
        prop_assert_eq!(h.core.efsm_errors(), 0);
    }
}

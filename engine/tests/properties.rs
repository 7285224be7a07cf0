//! Property tests of the money path and the exposure limits:
//! - the sum of PnL deltas equals the book's total, exactly;
//! - a position's realized PnL equals the PnL of its fills (sell notionals − buy notionals);
//! - folding deltas in any order, with duplicates, gives the same exact totals;
//! - total exposure never exceeds its limit, however entries interleave.

mod common;

use engine::book::{FillOutcome, PositionBook};
use engine::ledger::{PnlDelta, PnlLedger};
use engine::risk::{PortfolioRisk, RiskConfig};
use proptest::prelude::*;
use protocol::*;

/// A fill that never flips the position: `close_fraction` closes part of what is open.
#[derive(Clone, Debug)]
enum Step {
    Open { qty_raw: i64, price_raw: i64, fee_raw: i64 },
    Close { fraction_pct: i64, price_raw: i64, fee_raw: i64 },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..10_000_000_000, 1i64..20_000_000_000_000, 0i64..1_000_000)
            .prop_map(|(qty_raw, price_raw, fee_raw)| Step::Open { qty_raw, price_raw, fee_raw }),
        (1i64..=100, 1i64..20_000_000_000_000, 0i64..1_000_000)
            .prop_map(|(fraction_pct, price_raw, fee_raw)| Step::Close { fraction_pct, price_raw, fee_raw }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn deltas_sum_to_the_book_and_fills_explain_realized_pnl(steps in proptest::collection::vec(step(), 1..60), short in any::<bool>()) {
        let (open_side, close_side) = if short { (Side::Sell, Side::Buy) } else { (Side::Buy, Side::Sell) };
        let mut book = PositionBook::default();
        let mut deltas = Vec::new();
        let mut buy_notional: i128 = 0;
        let mut sell_notional: i128 = 0;
        let mut exec = 0u64;
        let mut apply = |book: &mut PositionBook, side: Side, qty: Qty, price: Price, fee: Money, deltas: &mut Vec<Money>| {
            exec += 1;
            let notional = price.notional(qty).unwrap().raw() as i128;
            if side == Side::Buy { buy_notional += notional } else { sell_notional += notional }
            match book.apply_fill(ExecId(exec), side, qty, price, fee).unwrap() {
                FillOutcome::Applied(effect) => deltas.push(effect.realized),
                FillOutcome::Duplicate => unreachable!(),
            }
        };
        for s in &steps {
            match *s {
                Step::Open { qty_raw, price_raw, fee_raw } => {
                    apply(&mut book, open_side, Qty::from_raw(qty_raw).unwrap(), Price::from_raw(price_raw).unwrap(), Money::from_raw_signed(fee_raw), &mut deltas);
                }
                Step::Close { fraction_pct, price_raw, fee_raw } => {
                    let Some(pos) = book.position() else { continue };
                    let q = (pos.qty.raw() as i128 * fraction_pct as i128 / 100) as i64;
                    if q == 0 { continue; }
                    apply(&mut book, close_side, Qty::from_raw(q).unwrap(), Price::from_raw(price_raw).unwrap(), Money::from_raw_signed(fee_raw), &mut deltas);
                }
            }
            // Sum of deltas equals the total, exactly, after every fill.
            prop_assert_eq!(Money::checked_sum(deltas.iter().copied()).unwrap(), book.realized());
        }
        // Flatten, then the position's PnL must be the fills' PnL.
        if let Some(pos) = book.position() {
            apply(&mut book, close_side, pos.qty, Price::from_raw(1_000_000).unwrap(), Money::ZERO, &mut deltas);
        }
        prop_assert_eq!(book.position(), None);
        prop_assert_eq!(book.realized().raw() as i128, sell_notional - buy_notional);
        prop_assert_eq!(Money::checked_sum(deltas.iter().copied()).unwrap(), book.realized());
    }

    #[test]
    fn folding_in_any_order_with_duplicates_is_exact(
        amounts in proptest::collection::vec((0usize..5, -10_000_000_000i64..10_000_000_000, 0i64..10_000_000), 1..80),
        shuffle_seed in any::<u64>(),
        dup_every in 2usize..7,
    ) {
        let symbols: Vec<Symbol> = (0..5).map(|i| Symbol::new(&format!("S{i}")).unwrap()).collect();
        let mut seq = [0u64; 5];
        let mut deltas: Vec<PnlDelta> = amounts.iter().map(|(s, realized, fee)| {
            seq[*s] += 1;
            PnlDelta { symbol: symbols[*s], seq: seq[*s], realized: Money::from_raw_signed(*realized), fee: Money::from_raw_signed(*fee), closed_trade: None, exposure_after: Money::ZERO }
        }).collect();
        let expected_net: i128 = amounts.iter().map(|(_, r, f)| (*r - *f) as i128).sum();
        // duplicates, then a deterministic shuffle (per-symbol order no longer guaranteed)
        let dups: Vec<PnlDelta> = deltas.iter().step_by(dup_every).copied().collect();
        deltas.extend(dups.iter().copied());
        let mut rng = engine::feed::Rng::new(shuffle_seed);
        for i in (1..deltas.len()).rev() {
            let j = rng.range(0, i as u64) as usize;
            deltas.swap(i, j);
        }
        let mut ledger = PnlLedger::default();
        for d in &deltas {
            ledger.fold(d).unwrap();
            prop_assert!(ledger.is_consistent());
            prop_assert_eq!(ledger.sum_of_symbols_net().unwrap(), ledger.total_net());
        }
        prop_assert_eq!(ledger.total_net().raw() as i128, expected_net);
        prop_assert_eq!(ledger.duplicates(), dups.len() as u64);
        for s in &symbols {
            prop_assert_eq!(ledger.missing(s), 0);
        }
    }

    #[test]
    fn total_exposure_never_exceeds_its_limit(
        ops in proptest::collection::vec((any::<bool>(), 1i64..400, 0usize..8), 1..200),
    ) {
        let config = RiskConfig {
            initial_equity: Money::units(10_000).unwrap(),
            max_total_exposure: Ppm(250_000), // 2,500
            max_orders_per_sec_total: u32::MAX,
            ..Default::default()
        };
        let risk = PortfolioRisk::new(config, 1);
        let limit = risk.total_exposure_limit();
        let mut held: Vec<Vec<Money>> = vec![Vec::new(); 8];
        for (t, (reserve, units, slot)) in ops.into_iter().enumerate() {
            if reserve {
                let amount = Money::units(units).unwrap();
                if risk.admit_entry(amount, t as u64).is_ok() {
                    held[slot].push(amount);
                }
            } else if let Some(amount) = held[slot].pop() {
                risk.adjust_exposure(amount.checked_neg().unwrap());
            }
            prop_assert!(risk.total_exposure() <= limit, "{} > {}", risk.total_exposure(), limit);
            let sum = Money::checked_sum(held.iter().flatten().copied()).unwrap();
            prop_assert_eq!(risk.total_exposure(), sum);
        }
    }
}

/// Exposure through real cores: many symbols entering at once never exceed the total limit,
/// and a symbol never exceeds its own limit.
#[test]
fn cores_respect_symbol_and_total_exposure_limits() {
    use common::{enter, Script};
    use engine::efsm::Direction;
    use engine::symbol_core::{Action, CoreConfig, SymbolCore};
    let config = RiskConfig {
        initial_equity: Money::units(10_000).unwrap(),
        max_symbol_exposure: Ppm(100_000), // 1,000 per symbol
        max_total_exposure: Ppm(300_000),  // 3,000 in total
        ..Default::default()
    };
    let risk = PortfolioRisk::new(config, 1);
    let mut cores: Vec<(SymbolCore, Script)> = (0..10)
        .map(|i| {
            let script = Script::default();
            let core = SymbolCore::new(
                CoreConfig::new(Symbol::new(&format!("S{i}")).unwrap()),
                Box::new(script.clone()),
                &risk,
            );
            (core, script)
        })
        .collect();
    let mut placed = 0;
    let mut refused = Vec::new();
    for (i, (core, script)) in cores.iter_mut().enumerate() {
        // 0.01 × 95,000 = 950 per entry: fits the symbol limit; only three fit the total.
        script.push(enter(Direction::Long));
        let tick = Tick {
            symbol: core.symbol(),
            bid: Price::units(94_999).unwrap(),
            ask: Price::units(95_000).unwrap(),
            ts_ns: 0,
            md_seq: 1,
        };
        for a in core.on_tick(&tick, i as u64, &risk) {
            match a {
                Action::PlaceOrder(_) => placed += 1,
                Action::Refused(r) => refused.push(r.code()),
                _ => {}
            }
        }
        assert!(risk.total_exposure() <= risk.total_exposure_limit());
    }
    assert_eq!(placed, 3);
    assert_eq!(refused, vec!["total_exposure"; 7]);
}

//! End-to-end scenarios through one `SymbolCore`: the lessons of earlier engines, each
//! written as a test that would fail if the bug came back.

mod common;

use common::*;
use engine::discrepancy::DiscrepancyCode;
use engine::efsm::Direction;
use engine::reconcile::{MismatchField, VenueView};
use engine::risk::ControlFlags;
use engine::strategy::Signal;
use engine::symbol_core::OperatorError;
use engine::symbol_core::{Action, FeedHealth};
use engine::Position;
use protocol::*;

#[test]
fn full_round_trip_books_pnl_only_from_fills() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    assert_eq!(entry.side, Side::Buy);
    // Sending an order records no position (no phantom positions).
    assert_eq!(h.core.book().position(), None);
    assert_eq!(h.core.state().name(), "entry_pending");
    let fill = h.fill_report(&entry, "100000.5", "0.1");
    let actions = h.report(&fill);
    assert!(actions.iter().any(|a| matches!(a, Action::Pnl(d) if d.seq == 1 && d.fee == money("0.1"))));
    assert_eq!(h.core.book().position().unwrap().qty, qty("0.01"));
    // Take-profit at +1 %: bid must reach 101000.505 → mid 101001.01.
    assert!(orders(&h.tick_at("101000")).is_empty());
    let exit = only_order(&h.tick_at("101002")).unwrap();
    assert_eq!(exit.side, Side::Sell);
    assert_eq!(exit.qty, qty("0.01"));
    let fill = h.fill_report(&exit, "101001.5", "0.1");
    let actions = h.report(&fill);
    // The close moves the EFSM to flat in the same call that books it.
    assert_eq!(h.core.state().name(), "flat");
    assert_eq!(h.core.book().position(), None);
    let delta = actions.iter().find_map(|a| if let Action::Pnl(d) = a { Some(*d) } else { None }).unwrap();
    assert_eq!(delta.seq, 2);
    assert_eq!(delta.realized, money("10.01")); // (101001.5 − 100000.5) × 0.01
    assert_eq!(delta.closed_trade, Some(money("9.81")));
    assert_eq!(h.core.book().net_realized().unwrap(), money("9.81"));
    // The next tick does not sell again (tracking was told).
    assert!(orders(&h.tick_at("101500")).is_empty());
    assert_eq!(h.core.counters().wins, 1);
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn a_rejected_entry_leaves_no_position() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let reject = h.reject_report(&entry, RejectCode::GatewayRisk);
    h.report(&reject);
    assert_eq!(h.core.state().name(), "flat");
    assert_eq!(h.core.book().position(), None);
    assert_eq!(h.core.counters().rejects, 1);
    assert_eq!(h.risk.total_exposure(), Money::ZERO, "reservation released");
}

#[test]
fn one_order_in_flight_and_only_one_exit() {
    let mut h = Harness::new();
    only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    // Another entry signal while the first is on the wire: nothing is sent.
    assert!(orders(&h.signal(enter(Direction::Long), "100000")).is_empty());
    let mut h = Harness::new();
    h.open_long();
    // Stop-loss and strategy exit fire together: one exit order.
    let exit = only_order(&h.signal(exit_both(), "98000")).unwrap();
    assert_eq!(exit.side, Side::Sell);
    // Still below the stop, strategy still says exit: no second exit while one is in flight.
    for _ in 0..5 {
        assert!(orders(&h.signal(exit_both(), "97000")).is_empty());
    }
    assert_eq!(h.core.state().name(), "exit_pending");
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn timeout_goes_unknown_queries_and_resolves_from_the_replay() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    h.now += 1_000_000_000;
    let actions = h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    assert!(actions.contains(&Action::QueryStatus { intent_id: entry.intent_id }));
    assert_eq!(h.core.state().name(), "unknown");
    // No new order for this symbol while unknown.
    assert!(orders(&h.signal(enter(Direction::Long), "100000")).is_empty());
    // The status replay carries the fill that was lost: it is booked exactly once.
    let mut replay = h.fill_report(&entry, "100000.5", "0.1");
    replay.poss_dup = true;
    h.report(&replay);
    assert_eq!(h.core.state().name(), "open");
    // The replay is re-sent (a retried query): the same exec id is not booked twice.
    h.report(&replay);
    // The final order_status report of the query is stale by now and changes nothing.
    let mut status = replay.clone();
    status.exec_type = ExecType::OrderStatus;
    h.report(&status);
    assert_eq!(h.core.book().fills(), 1);
    assert_eq!(h.core.counters().duplicate_fills, 1);
    assert_eq!(h.core.counters().stale_reports, 2);
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn unknown_order_answer_resolves_to_flat() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Short), "100000")).unwrap();
    h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    let mut answer = h.reject_report(&entry, RejectCode::UnknownOrder);
    answer.exec_type = ExecType::OrderStatus;
    h.report(&answer);
    assert_eq!(h.core.state().name(), "flat");
    assert_eq!(h.core.book().position(), None);
    assert_eq!(h.risk.total_exposure(), Money::ZERO);
}

#[test]
fn a_status_query_timeout_queries_again() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    let again = h.core.on_order_timeout(entry.intent_id, h.now + 1, &h.risk);
    assert!(again.contains(&Action::QueryStatus { intent_id: entry.intent_id }));
    assert_eq!(h.core.counters().timeouts, 1, "one order timed out (its status query's timeout is not another)");
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn duplicate_fill_reports_are_booked_once() {
    let mut h = Harness::new();
    let entry = h.open_long();
    let mut dup = h.fill_report(&entry, "100000.5", "0.1");
    dup.exec_id = ExecId(1); // the id of the fill already booked
    dup.poss_dup = true;
    h.report(&dup);
    assert_eq!(h.core.book().position().unwrap().qty, qty("0.01"));
    assert_eq!(h.core.book().fills(), 1);
}

#[test]
fn a_fill_nobody_waited_for_is_a_discrepancy_and_never_booked() {
    let mut h = Harness::new();
    let ghost = engine::symbol_core::OrderRequest {
        intent_id: IntentId(999_999),
        symbol: sym(),
        side: Side::Buy,
        qty: qty("1"),
        ord_type: OrdType::Market,
        limit_price: None,
        purpose: engine::symbol_core::OrderPurpose::Entry(Direction::Long),
        placed_at: 0,
    };
    let report = h.fill_report(&ghost, "100", "0");
    let actions = h.report(&report);
    assert_eq!(discrepancies(&actions), vec![DiscrepancyCode::UnknownIntent]);
    assert!(actions.contains(&Action::RequestSnapshot));
    assert!(h.core.state().is_halted());
    assert_eq!(h.core.book().position(), None, "the books follow the venue only through a snapshot");
    assert!(orders(&h.signal(enter(Direction::Long), "100")).is_empty());
    // A second such fill while halted is a discrepancy too: logged, counted, not booked.
    let second = h.fill_report(&ghost, "100", "0");
    assert_eq!(discrepancies(&h.report(&second)), vec![DiscrepancyCode::UnknownIntent]);
    assert_eq!(h.core.status().discrepancies.get(DiscrepancyCode::UnknownIntent), 2);
    assert_eq!(h.core.book().position(), None);
    // Its replay is a duplicate, not a third discrepancy.
    assert!(discrepancies(&h.report(&second)).is_empty());
}

#[test]
fn reconcile_resumes_on_agreement_and_halts_on_mismatch() {
    let mut h = Harness::new();
    h.open_long();
    h.core.begin_reconcile(h.now);
    let venue = agreeing(&h.core);
    h.core.reconcile(&venue, h.now, &h.risk);
    assert_eq!(h.core.state().name(), "open");
    h.core.begin_reconcile(h.now);
    h.core.reconcile(&VenueView::default(), h.now, &h.risk);
    assert!(h.core.state().is_halted());
}

#[test]
fn cooldown_is_per_direction_after_a_close() {
    let mut h = Harness::new();
    h.open_long();
    let exit = only_order(&h.signal(exit_both(), "100000")).unwrap();
    let fill = h.fill_report(&exit, "100000", "0");
    h.report(&fill);
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["cooldown"]);
    assert!(only_order(&h.signal(enter(Direction::Short), "100000")).is_some(), "the other direction is free");
    assert!(h.core.cooldowns().active_until(Direction::Long, h.now).is_some());
}

#[test]
fn opposite_signal_while_open_is_refused_not_reversed() {
    let mut h = Harness::new();
    h.open_long();
    let actions = h.signal(enter(Direction::Short), "100000");
    assert!(orders(&actions).is_empty());
    assert_eq!(refusals(&actions), vec!["reversal_disabled"]);
    assert_eq!(h.core.state().name(), "open");
}

#[test]
fn control_flags_take_effect_on_the_next_tick() {
    let mut h = Harness::new();
    h.risk.set_flags(ControlFlags { entry_enabled: false, ..ControlFlags::default() });
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["entry_disabled"]);
    h.risk.set_flags(ControlFlags::default());
    h.core.set_flags(ControlFlags { global_lock: true, ..ControlFlags::default() });
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["global_lock"]);
    h.core.set_flags(ControlFlags::default());
    h.open_long();
    h.risk.set_flags(ControlFlags { exit_enabled: false, ..ControlFlags::default() });
    assert_eq!(refusals(&h.signal(exit_both(), "100000")), vec!["exit_disabled"]);
    h.risk.set_flags(ControlFlags { global_lock: true, ..ControlFlags::default() });
    assert_eq!(refusals(&h.signal(exit_both(), "100000")), vec!["global_lock"]);
    h.risk.set_flags(ControlFlags::default());
    assert!(only_order(&h.signal(exit_both(), "100000")).is_some());
}

#[test]
fn time_limit_exit_fires_from_the_timer_without_ticks() {
    let mut h = Harness::new();
    h.open_long();
    h.now += 61 * SEC;
    let actions = h.core.on_timer(h.now, &h.risk);
    let exit = only_order(&actions).unwrap();
    assert!(matches!(exit.purpose, engine::symbol_core::OrderPurpose::Exit(engine::efsm::ExitReason::TimeLimit)));
}

#[test]
fn stale_feed_and_gaps_block_entries_until_fresh_ticks() {
    let mut h = Harness::new();
    h.tick_at("100000");
    h.now += 3 * SEC;
    h.core.on_timer(h.now, &h.risk);
    assert_eq!(h.core.status().feed, FeedHealth::Stale);
    // fresh ticks end the stale spell after a resync, like a gap
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["feed_stale"]);
    h.tick_at("100000");
    h.tick_at("100000");
    assert!(matches!(h.core.status().feed, FeedHealth::Resyncing { remaining: 1, .. }));
    h.tick_at("100000");
    assert_eq!(h.core.status().feed, FeedHealth::Ok);
    // a gap: entries resume on the third in-sequence tick after it
    h.md_seq += 5;
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["feed_gap"]);
    h.tick_at("100000");
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["feed_gap"]);
    assert!(only_order(&h.signal(enter(Direction::Long), "100000")).is_some());
    assert_eq!(h.core.counters().md_gaps, 1);
}

#[test]
fn out_of_order_ticks_are_ignored() {
    let mut h = Harness::new();
    h.tick_at("100000");
    h.md_seq -= 1;
    h.script.push(enter(Direction::Long));
    let actions = h.tick_at("100000");
    assert!(actions.is_empty());
    assert_eq!(h.core.counters().md_out_of_order, 1);
}

#[test]
fn determinism_same_ticks_same_actions() {
    use engine::feed::{IntervalMs, SyntheticFeed};
    use engine::registry::{default_model, default_order_qty};
    use engine::strategy::zscore::{ZScore, ZScoreConfig};
    use engine::strategy::IntentTemplate;
    let run = || {
        let risk = engine::risk::PortfolioRisk::new(engine::risk::RiskConfig::default(), 1);
        let strategy = ZScore::new(ZScoreConfig {
            window: 20,
            entry_z: 1.5,
            exit_z: 0.3,
            template: IntentTemplate { qty: default_order_qty(sym()), exits: rules() },
        });
        let mut core = engine::SymbolCore::new(engine::CoreConfig::new(sym()), Box::new(strategy), &risk);
        let mut feed = SyntheticFeed::new(&[default_model(sym())], 99, IntervalMs::default());
        let mut log = Vec::new();
        let mut now = 0;
        for _ in 0..2_000 {
            let (tick, delay) = feed.next_tick(0, now).unwrap();
            now += delay;
            for action in core.on_tick(&tick, now, &risk) {
                if let Action::PlaceOrder(o) = &action {
                    // fill immediately at the touch
                    let price = if o.side == Side::Buy { tick.ask } else { tick.bid };
                    let report = ExecReport {
                        intent_id: o.intent_id,
                        order_id: OrderId(1),
                        exec_id: ExecId(o.intent_id.0),
                        symbol: o.symbol,
                        side: o.side,
                        exec_type: ExecType::Fill,
                        ord_status: OrdStatus::Filled,
                        last_qty: o.qty,
                        last_px: price,
                        cum_qty: o.qty,
                        leaves_qty: Qty::ZERO,
                        fee: Money::ZERO,
                        reject_code: RejectCode::None,
                        reject_text: String::new(),
                        poss_dup: false,
                        transact_ns: now,
                    };
                    core.on_report(&report, now, &risk);
                }
                log.push(format!("{action:?}"));
            }
        }
        (log, core.book().realized())
    };
    let (a, pnl_a) = run();
    let (b, pnl_b) = run();
    assert!(a.iter().filter(|l| l.starts_with("PlaceOrder")).count() > 4, "the strategy trades");
    assert_eq!(a, b);
    assert_eq!(pnl_a, pnl_b);
}

#[test]
fn hold_signals_do_nothing() {
    let mut h = Harness::new();
    for _ in 0..10 {
        assert!(h.signal(Signal::HOLD, "100000").is_empty());
    }
}

#[test]
fn a_restarted_feed_resyncs_instead_of_looking_out_of_order() {
    let mut h = Harness::new();
    for _ in 0..5 {
        h.tick_at("100000");
    }
    h.core.reset_feed();
    h.md_seq = 0; // the new gateway session starts over
    assert_eq!(refusals(&h.signal(enter(Direction::Long), "100000")), vec!["feed_gap"]);
    assert_eq!(h.core.counters().md_out_of_order, 0);
    h.tick_at("100000");
    h.tick_at("100000");
    assert!(only_order(&h.signal(enter(Direction::Long), "100000")).is_some());
}

#[test]
fn an_entry_filled_the_wrong_way_is_a_discrepancy_not_a_short() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let mut wrong = h.fill_report(&entry, "100000", "0");
    wrong.side = Side::Sell;
    let actions = h.report(&wrong);
    assert_eq!(discrepancies(&actions), vec![DiscrepancyCode::WrongSide]);
    assert!(h.core.state().is_halted());
    assert_eq!(h.core.status().halt_reason.map(|r| r.as_str()), Some("WRONG_SIDE"));
    assert_eq!(h.core.book().position(), None, "the engine never ends short on a buy");
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn a_timeout_for_an_already_resolved_order_is_stale_not_an_error() {
    let mut h = Harness::new();
    let entry = h.open_long();
    let actions = h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    assert!(actions.is_empty());
    assert_eq!(h.core.efsm_errors(), 0);
    assert_eq!(h.core.counters().stale_reports, 1);
    assert_eq!(h.core.state().name(), "open");
}

#[test]
fn an_order_on_the_wire_when_the_symbol_halts_is_still_booked_and_counted() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    h.core.halt(engine::efsm::HaltReason::Manual);
    // It times out while halted: a status query follows.
    let actions = h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    assert!(actions.contains(&Action::QueryStatus { intent_id: entry.intent_id }));
    // The answer says it filled: the fill is booked, the symbol stays halted.
    let mut replay = h.fill_report(&entry, "100000.5", "0");
    replay.poss_dup = true;
    h.report(&replay);
    assert_eq!(h.core.book().position().unwrap().qty, qty("0.01"));
    assert!(h.core.state().is_halted());
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn only_the_probe_decides_a_half_open_breaker() {
    use engine::risk::BreakerState;
    let mut config = engine::risk::RiskConfig::default();
    config.breaker.cooloff_ns = SEC;
    config.breaker.max_consecutive_failures = 2;
    // A symbol holds a position when the breaker trips.
    let mut b = Harness::with_risk(config);
    b.open_long();
    b.risk.on_order_failure(b.now);
    b.risk.on_order_failure(b.now);
    assert!(matches!(b.risk.breaker_state(), BreakerState::Open { .. }));
    b.now += 2 * SEC;
    // After the cool-off another symbol's entry takes the probe permit (taken here directly).
    let exit = only_order(&b.signal(exit_both(), "100000")).unwrap();
    let granted_at = b.now;
    assert!(b.risk.admit_entry(protocol::Money::ZERO, granted_at).is_ok());
    let fill = b.fill_report(&exit, "100000", "0");
    b.report(&fill);
    assert!(
        matches!(b.risk.breaker_state(), BreakerState::HalfOpen { .. }),
        "an exit fill does not close a half-open breaker"
    );
    assert!(!b.risk.on_probe_outcome(true, granted_at - 1, b.now), "another probe's result is ignored");
    assert!(b.risk.on_probe_outcome(true, granted_at, b.now));
    assert!(matches!(b.risk.breaker_state(), BreakerState::Closed { .. }));
}

#[test]
fn an_order_counts_as_one_failure_however_many_times_it_times_out() {
    use engine::risk::BreakerState;
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    // The status answer says it is still working: back to pending, then a second timeout.
    let mut working = h.reject_report(&entry, RejectCode::None);
    working.exec_type = ExecType::OrderStatus;
    working.ord_status = OrdStatus::New;
    h.report(&working);
    assert_eq!(h.core.state().name(), "entry_pending");
    h.core.on_order_timeout(entry.intent_id, h.now, &h.risk);
    // Finally it is rejected.
    let mut rejected = h.reject_report(&entry, RejectCode::GatewayRisk);
    rejected.exec_type = ExecType::OrderStatus;
    h.report(&rejected);
    assert_eq!(h.core.state().name(), "flat");
    assert_eq!(h.risk.breaker_state(), BreakerState::Closed { consecutive_failures: 1 });
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn a_halted_symbol_with_an_order_on_the_wire_is_not_reconciled() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    h.core.halt(engine::efsm::HaltReason::Manual);
    // A snapshot says flat (the entry has not filled yet): nothing changes while it is live.
    assert!(h.core.reconcile(&VenueView::default(), h.now, &h.risk).is_empty());
    assert!(h.core.state().is_halted());
    assert!(h.core.resume(&VenueView::default(), h.now, &h.risk).is_err(), "not while an order is live");
    // The entry fills: booked, still halted, no EFSM error; now reconciliation may run.
    let fill = h.fill_report(&entry, "100000.5", "0");
    h.report(&fill);
    assert_eq!(h.core.efsm_errors(), 0);
    assert!(!h.core.has_unresolved_order());
    let venue = agreeing(&h.core);
    h.core.reconcile(&venue, h.now, &h.risk);
    assert!(h.core.state().is_halted(), "an operator's halt ends only by resume");
    h.core.resume(&venue, h.now, &h.risk).expect("books agree");
    assert_eq!(h.core.state().name(), "open");
}

#[test]
fn a_report_that_halts_its_own_symbol_leaves_no_orphan() {
    let mut h = Harness::new();
    h.core.reconcile(&VenueView::default(), h.now, &h.risk); // first contact: the baseline
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let mut wrong = h.fill_report(&entry, "100000", "0");
    wrong.side = Side::Sell;
    let actions = h.report(&wrong);
    assert_eq!(discrepancies(&actions), vec![DiscrepancyCode::WrongSide]);
    assert!(h.core.state().is_halted());
    assert_eq!(h.core.book().position(), None, "a wrong-side fill is never booked");
    assert!(!h.core.has_unresolved_order(), "the order that halted it is done");
    // The venue is long (it did what was asked; its report was wrong).
    let venue = VenueView {
        position: Some(Position { direction: Direction::Long, qty: qty("0.01"), cost: money("1000") }),
        realized: Money::ZERO,
        fees: money("0.25"),
    };
    h.core.reconcile(&venue, h.now, &h.risk);
    assert!(h.core.state().is_halted(), "a discrepancy halt waits for an operator");
    assert!(matches!(h.core.resume(&venue, h.now, &h.risk), Err(OperatorError::BooksDiffer(_))));
    let adopted = h.core.adopt(&venue, h.now, &h.risk).expect("adopt");
    assert!(adopted.iter().any(|a| matches!(a, Action::Pnl(d) if d.fee == money("0.25"))), "the fold follows");
    h.core.resume(&venue, h.now, &h.risk).expect("books follow the venue");
    assert_eq!(h.core.state().name(), "open");
    assert_eq!(h.core.book().position(), venue.position);
    // A replay of that report later is a duplicate, not an error or a new discrepancy.
    let mut replay = wrong.clone();
    replay.poss_dup = true;
    assert!(discrepancies(&h.report(&replay)).is_empty());
    assert_eq!(h.core.efsm_errors(), 0);
}

#[test]
fn an_agreeing_snapshot_leaves_an_open_trade_untouched() {
    let mut h = Harness::new();
    h.open_long();
    let before = *h.core.state();
    h.now += 5 * SEC;
    let venue = agreeing(&h.core);
    assert!(h.core.reconcile(&venue, h.now, &h.risk).is_empty());
    assert_eq!(*h.core.state(), before, "same trade, same hold timer");
    h.core.reconcile(&VenueView::default(), h.now, &h.risk);
    assert!(h.core.state().is_halted(), "a disagreeing snapshot halts");
}

#[test]
fn an_overfill_is_refused_and_halts_and_so_is_a_fill_after_the_terminal_one() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let first = partial(&mut h, &entry, "0.005", "0.005");
    assert!(discrepancies(&h.report(&first)).is_empty());
    // A fill with cum_qty twice the order.
    let mut over = h.fill_report(&entry, "100000.5", "0");
    over.cum_qty = qty("0.02");
    let actions = h.report(&over);
    assert_eq!(discrepancies(&actions), vec![DiscrepancyCode::Overfill]);
    assert_eq!(h.core.book().position().unwrap().qty, qty("0.005"), "only what was asked is booked");
    assert!(h.core.state().is_halted());
}

#[test]
fn a_new_fill_after_the_terminal_report_is_a_discrepancy() {
    let mut h = Harness::new();
    let entry = h.open_long();
    let late = h.fill_report(&entry, "100000.5", "0");
    assert_eq!(discrepancies(&h.report(&late)), vec![DiscrepancyCode::FillAfterTerminal]);
    assert_eq!(h.core.book().position().unwrap().qty, qty("0.01"));
    assert!(h.core.state().is_halted());
}

#[test]
fn a_fill_far_from_the_market_is_a_discrepancy() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let absurd = h.fill_report(&entry, "100000000", "0");
    let actions = h.report(&absurd);
    assert_eq!(discrepancies(&actions), vec![DiscrepancyCode::PriceOutOfBand]);
    assert_eq!(h.core.book().realized(), Money::ZERO);
    assert_eq!(h.core.book().position(), None);
    assert_eq!(h.risk.breaker_state().name(), "closed", "nothing was booked, so no drawdown");
}

#[test]
fn a_stale_cost_basis_does_not_reconcile() {
    let mut h = Harness::new();
    h.open_long();
    h.core.begin_reconcile(h.now);
    let mut venue = agreeing(&h.core);
    if let Some(p) = venue.position.as_mut() {
        p.cost = p.cost.checked_add(money("0.01")).unwrap();
    }
    let actions = h.core.reconcile(&venue, h.now, &h.risk);
    assert!(actions.iter().any(
        |a| matches!(a, Action::ReconcileMismatch { mismatch, halts: true } if mismatch.field == MismatchField::Cost)
    ));
    assert!(h.core.state().is_halted());
}

#[test]
fn the_first_snapshot_fixes_the_baseline_of_an_all_time_ledger() {
    let mut h = Harness::new();
    // The venue's ledger made 700 and paid 30 in fees before this session.
    let before = VenueView { position: None, realized: money("700"), fees: money("30") };
    h.core.reconcile(&before, h.now, &h.risk);
    h.open_long();
    let mut venue = agreeing(&h.core);
    venue.realized = venue.realized.checked_add(money("700")).unwrap();
    venue.fees = venue.fees.checked_add(money("30")).unwrap();
    let actions = h.core.reconcile(&venue, h.now, &h.risk);
    assert!(actions.is_empty(), "{actions:?}");
    assert_eq!(h.core.status().venue_agrees, Some(true));
}

#[test]
fn an_order_on_the_wire_at_a_crash_is_restored_asked_for_and_booked_once() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let saved = h.core.durable();
    assert_eq!(saved.pending.map(|p| p.intent), Some(entry.intent_id), "the order is journaled before it leaves");
    // The process dies here. A new core restores the journal and starts.
    let mut again = Harness::new();
    again.core.restore(&saved, &again.risk);
    let started = again.core.start(again.now);
    assert!(started.contains(&Action::QueryStatus { intent_id: entry.intent_id }));
    assert_eq!(again.core.state().name(), "unknown");
    assert!(again.core.reconcile(&VenueView::default(), again.now, &again.risk).is_empty(), "not while unresolved");
    // The status query replays the fill the venue made, then the terminal answer.
    let mut replay = again.fill_report(&entry, "100000.5", "0.25");
    replay.poss_dup = true;
    let actions = again.report(&replay);
    assert!(actions.contains(&Action::RequestSnapshot));
    assert_eq!(again.core.state().name(), "reconciling");
    assert_eq!(again.core.book().position().unwrap().qty, entry.qty);
    assert_eq!(again.core.durable().pending, None, "settled: nothing pending any more");
    // The same replay again is a duplicate; the venue agrees; trading resumes.
    again.report(&replay);
    assert_eq!(again.core.book().fills(), 1, "booked once");
    let venue = agreeing(&again.core);
    again.core.reconcile(&venue, again.now, &again.risk);
    assert_eq!(again.core.state().name(), "open");
    assert_eq!(again.core.efsm_errors(), 0);
}

fn partial(h: &mut Harness, order: &engine::symbol_core::OrderRequest, last: &str, cum: &str) -> ExecReport {
    let mut r = h.fill_report(order, "100000.5", "0");
    r.exec_type = ExecType::PartialFill;
    r.ord_status = OrdStatus::PartiallyFilled;
    r.last_qty = qty(last);
    r.cum_qty = qty(cum);
    r
}

fn canceled(h: &mut Harness, order: &engine::symbol_core::OrderRequest, cum: &str) -> ExecReport {
    let mut r = order_status(h, order, OrdStatus::Canceled, cum);
    r.exec_type = ExecType::Canceled;
    r
}

fn order_status(
    h: &mut Harness,
    order: &engine::symbol_core::OrderRequest,
    status: OrdStatus,
    cum: &str,
) -> ExecReport {
    let mut r = h.fill_report(order, "0", "0");
    r.exec_type = ExecType::OrderStatus;
    r.ord_status = status;
    r.last_qty = Qty::ZERO;
    r.last_px = Price::ZERO;
    r.cum_qty = qty(cum);
    r
}

#[test]
fn a_snapshot_skipped_while_an_order_was_unresolved_is_owed_and_asked_for_again() {
    let mut h = Harness::new();
    h.core.reconcile(&VenueView::default(), h.now, &h.risk);
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    assert!(
        h.core.reconcile_after_reconnect(&VenueView::default(), h.now, &h.risk).is_empty(),
        "skipped while in flight"
    );
    let fill = h.fill_report(&entry, "100000.5", "0");
    let actions = h.report(&fill);
    assert!(actions.contains(&Action::RequestSnapshot), "owed: asked for once the order resolved");
    assert_eq!(h.core.state().name(), "reconciling", "and no order until it is compared");
    assert!(orders(&h.signal(enter(Direction::Long), "100000")).is_empty());
    let venue = agreeing(&h.core);
    h.core.reconcile(&venue, h.now, &h.risk);
    assert_eq!(h.core.state().name(), "open");
}

#[test]
fn a_restored_partly_filled_order_is_not_booked_twice() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let first = partial(&mut h, &entry, "0.004", "0.004");
    h.report(&first);
    let saved = h.core.durable();
    assert_eq!(saved.pending.map(|p| p.filled), Some(qty("0.004")));
    // Crash; the new process knows neither exec id.
    let mut again = Harness::new();
    again.exec_id = 100;
    again.core.restore(&saved, &again.risk);
    again.core.start(again.now);
    let mut replay = partial(&mut again, &entry, "0.004", "0.004");
    replay.poss_dup = true;
    assert!(discrepancies(&again.report(&replay)).is_empty());
    assert_eq!(again.core.book().position().unwrap().qty, qty("0.004"), "the replay of a booked fill books nothing");
    let mut rest = again.fill_report(&entry, "100000.5", "0");
    rest.last_qty = qty("0.006");
    rest.cum_qty = qty("0.01");
    assert!(discrepancies(&again.report(&rest)).is_empty());
    assert_eq!(again.core.book().position().unwrap().qty, qty("0.01"), "the rest once: the venue's position");
}

#[test]
fn a_terminal_report_that_shows_fills_never_received_asks_for_them() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    // The partial fill report is lost; the terminal cancel says 0.004 executed.
    let cancel = canceled(&mut h, &entry, "0.004");
    let actions = h.report(&cancel);
    assert!(actions.contains(&Action::QueryStatus { intent_id: entry.intent_id }));
    assert_eq!(h.core.state().name(), "unknown");
    assert_eq!(h.core.counters().missed_fills, 1);
    // The status query replays the lost fill, then answers.
    let replay = partial(&mut h, &entry, "0.004", "0.004");
    h.report(&replay);
    let answer = order_status(&mut h, &entry, OrdStatus::Canceled, "0.004");
    h.report(&answer);
    assert_eq!(h.core.state().name(), "open");
    assert_eq!(h.core.book().position().unwrap().qty, qty("0.004"), "nothing lost");
    // A status answer whose replay still does not add up is a discrepancy.
    let mut h2 = Harness::new();
    let entry2 = only_order(&h2.signal(enter(Direction::Long), "100000")).unwrap();
    let short = order_status(&mut h2, &entry2, OrdStatus::Filled, "0.01");
    h2.core.on_order_timeout(entry2.intent_id, h2.now, &h2.risk);
    assert_eq!(discrepancies(&h2.report(&short)), vec![DiscrepancyCode::CumQtyMismatch]);
}

#[test]
fn a_cum_qty_that_goes_backwards_is_a_discrepancy() {
    let mut h = Harness::new();
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    let first = partial(&mut h, &entry, "0.004", "0.004");
    h.report(&first);
    let cancel = canceled(&mut h, &entry, "0");
    assert_eq!(discrepancies(&h.report(&cancel)), vec![DiscrepancyCode::CumQtyMismatch]);
    assert!(h.core.state().is_halted());
}

#[test]
fn a_snapshot_asked_for_by_another_symbol_owes_nothing() {
    let mut h = Harness::new();
    h.core.reconcile(&VenueView::default(), h.now, &h.risk);
    let entry = only_order(&h.signal(enter(Direction::Long), "100000")).unwrap();
    // Another symbol's discrepancy asked for this snapshot; this symbol is busy.
    assert!(h.core.reconcile(&VenueView::default(), h.now, &h.risk).is_empty());
    let fill = h.fill_report(&entry, "100000.5", "0");
    let actions = h.report(&fill);
    assert!(!actions.contains(&Action::RequestSnapshot), "no snapshot storm: {actions:?}");
    assert_eq!(h.core.state().name(), "open", "and it keeps trading");
}

#[test]
fn a_back_to_back_strategy_sends_its_next_order_the_moment_the_previous_one_is_done() {
    use engine::strategy::churn::Churn;
    use engine::strategy::IntentTemplate;
    let template = IntentTemplate { qty: qty("0.01"), exits: engine::intent::ExitRules::default() };
    let mut h = Harness::with_strategy(Box::new(Churn::back_to_back(template)));
    let mut order = only_order(&h.tick_at("100000")).expect("the first order comes from a tick");
    let mut sides = vec![order.side];
    for _ in 0..5 {
        let fill = h.fill_report(&order, "100000", "0");
        let actions = h.report(&fill);
        order = only_order(&actions).expect("the next order, with no tick in between");
        sides.push(order.side);
    }
    assert_eq!(sides, [Side::Buy, Side::Sell, Side::Buy, Side::Sell, Side::Buy, Side::Sell]);
    assert_eq!(h.core.counters().orders, 6);
    assert_eq!(h.core.counters().ticks, 1);

    // A reject is done too: the next order follows it (the breaker counts the failure).
    let reject = h.reject_report(&order, RejectCode::Other);
    assert!(only_order(&h.report(&reject)).is_some(), "the order after a reject");

    // Plain churn waits for the next tick.
    let mut plain = Harness::with_strategy(Box::new(Churn::new(template)));
    let first = only_order(&plain.tick_at("100000")).expect("entry");
    let fill = plain.fill_report(&first, "100000", "0");
    assert!(orders(&plain.report(&fill)).is_empty(), "no order without a tick");
}

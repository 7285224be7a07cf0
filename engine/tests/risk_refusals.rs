//! Table test: every refusal reason, produced through a real `SymbolCore`, and the order
//! is not sent. Each case sets up one condition and sends one entry (or exit) signal.

mod common;

use common::*;
use engine::efsm::Direction;
use engine::intent::{ExitRules, Intent};
use engine::risk::{ControlFlags, Refusal, RiskConfig};
use engine::strategy::Signal;
use protocol::{Money, Ppm};
use rstest::rstest;

fn refused_entry(h: &mut Harness, signal: Signal) -> Vec<&'static str> {
    let actions = h.signal(signal, "100000");
    assert!(orders(&actions).is_empty(), "no order may be sent: {actions:?}");
    refusals(&actions)
}

fn primed() -> Harness {
    let mut h = Harness::new();
    h.tick_at("100000");
    h
}

fn primed_with(config: RiskConfig) -> Harness {
    let mut h = Harness::with_risk(config);
    h.tick_at("100000");
    h
}

#[rstest]
#[case::global_lock(|| { let h = primed(); h.risk.set_flags(ControlFlags { global_lock: true, ..Default::default() }); h }, Refusal::GlobalLock)]
#[case::symbol_lock(|| { let mut h = primed(); h.core.set_flags(ControlFlags { global_lock: true, ..Default::default() }); h }, Refusal::GlobalLock)]
#[case::entry_disabled(|| { let h = primed(); h.risk.set_flags(ControlFlags { entry_enabled: false, ..Default::default() }); h }, Refusal::EntryDisabled)]
#[case::symbol_entry_disabled(|| { let mut h = primed(); h.core.set_flags(ControlFlags { entry_enabled: false, ..Default::default() }); h }, Refusal::EntryDisabled)]
#[case::gateway_down(|| { let h = primed(); h.risk.set_gateway_up(false); h }, Refusal::GatewayDown)]
#[case::venue_reconciling(|| { let h = primed(); h.risk.set_venue_reconciling(true); h }, Refusal::VenueReconciling)]
#[case::feed_stale(|| { let mut h = primed(); h.now += 5 * SEC; let now = h.now; h.core.on_timer(now, &h.risk); h }, Refusal::FeedStale)]
#[case::feed_gap(|| { let mut h = primed(); h.md_seq += 10; h }, Refusal::FeedGap)]
#[case::breaker_open(|| { let h = primed(); for t in 0..5 { h.risk.on_order_failure(h.now + t); } h }, Refusal::BreakerOpen)]
#[case::max_position(|| primed_with(RiskConfig { max_position_qty: "0.001".parse().unwrap(), ..Default::default() }), Refusal::MaxPosition)]
#[case::symbol_exposure(|| primed_with(RiskConfig { initial_equity: Money::units(5_000).unwrap(), max_symbol_exposure: Ppm(100_000), ..Default::default() }), Refusal::SymbolExposure)]
#[case::total_exposure(|| primed_with(RiskConfig { initial_equity: Money::units(5_000).unwrap(), max_symbol_exposure: Ppm(1_000_000), max_total_exposure: Ppm(100_000), ..Default::default() }), Refusal::TotalExposure)]
#[case::symbol_rate(|| primed_with(RiskConfig { max_orders_per_sec_symbol: 0, ..Default::default() }), Refusal::SymbolRate)]
#[case::global_rate(|| primed_with(RiskConfig { max_orders_per_sec_total: 0, ..Default::default() }), Refusal::GlobalRate)]
fn entry_refusals(#[case] setup: fn() -> Harness, #[case] expected: Refusal) {
    let mut h = setup();
    assert_eq!(refused_entry(&mut h, enter(Direction::Long)), vec![expected.code()]);
    assert_eq!(h.core.state().name(), "flat");
    assert_eq!(h.risk.total_exposure(), Money::ZERO, "a refused entry holds no exposure");
}

#[test]
fn breaker_probe_in_flight() {
    let mut config = RiskConfig::default();
    config.breaker.cooloff_ns = SEC;
    let mut h = primed_with(config);
    for t in 0..5 {
        h.risk.on_order_failure(h.now + t);
    }
    h.now += 2 * SEC;
    // the first entry after the cool-off is the probe...
    let probe = only_order(&h.signal(enter(Direction::Long), "100000"));
    assert!(probe.is_some());
    // ...and while it is out, another symbol's entry is refused
    let mut other = Harness::with_risk(config);
    std::mem::swap(&mut other.risk, &mut h.risk);
    other.tick_at("100000");
    other.now = h.now;
    assert_eq!(refused_entry(&mut other, enter(Direction::Long)), vec!["breaker_probe_in_flight"]);
}

#[test]
fn cooldown() {
    let mut h = Harness::new();
    h.open_long();
    let exit = only_order(&h.signal(exit_both(), "100000")).unwrap();
    let fill = h.fill_report(&exit, "100000", "0");
    h.report(&fill);
    assert_eq!(refused_entry(&mut h, enter(Direction::Long)), vec!["cooldown"]);
}

#[test]
fn reversal_disabled() {
    let mut h = Harness::new();
    h.open_long();
    assert_eq!(refused_entry(&mut h, enter(Direction::Short)), vec!["reversal_disabled"]);
}

#[rstest]
#[case::zero_qty(Intent { direction: Direction::Long, qty: protocol::Qty::ZERO, exits: rules() }, "qty")]
#[case::huge_tp(Intent { direction: Direction::Long, qty: qty("0.01"), exits: ExitRules { take_profit: Some(Ppm(900_000)), ..rules() } }, "tp_pct")]
#[case::zero_sl(Intent { direction: Direction::Long, qty: qty("0.01"), exits: ExitRules { stop_loss: Some(Ppm(0)), ..rules() } }, "sl_pct")]
fn invalid_intents_are_refused_with_the_field(#[case] intent: Intent, #[case] field: &str) {
    let mut h = primed();
    let actions = h.signal(Signal { enter: Some(intent), ..Signal::HOLD }, "100000");
    assert!(orders(&actions).is_empty());
    assert!(
        actions.iter().any(|a| matches!(a, engine::Action::Refused(Refusal::InvalidIntent(f)) if *f == field)),
        "{actions:?}"
    );
}

#[rstest]
#[case::exit_disabled(ControlFlags { exit_enabled: false, ..ControlFlags::default() }, Refusal::ExitDisabled)]
#[case::exit_locked(ControlFlags { global_lock: true, ..ControlFlags::default() }, Refusal::GlobalLock)]
fn exit_refusals(#[case] flags: ControlFlags, #[case] expected: Refusal) {
    let mut h = Harness::new();
    h.open_long();
    h.risk.set_flags(flags);
    let actions = h.signal(exit_both(), "100000");
    assert!(orders(&actions).is_empty());
    assert_eq!(refusals(&actions), vec![expected.code()]);
    assert_eq!(h.core.state().name(), "open");
}

#[test]
fn exits_are_not_blocked_by_breaker_gateway_or_rate() {
    let mut h = Harness::new();
    h.open_long();
    for t in 0..5 {
        h.risk.on_order_failure(h.now + t);
    }
    h.risk.set_gateway_up(false);
    assert!(only_order(&h.signal(exit_both(), "100000")).is_some());
}

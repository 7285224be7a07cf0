//! An agent's decisions through one `SymbolCore`: the same guards as a strategy's entry,
//! one authority per symbol, one-way positions, the intent's exit rules enforced on their
//! own, and one exit in flight when an agent's exit races a stop-loss.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use engine::agent::{AgentCommand, AgentDecision, AgentId, AgentRefusal, FractionEntry};
use engine::efsm::{Direction, ExitReason};
use engine::intent::Intent;
use engine::risk::{ControlFlags, Refusal, RiskConfig};
use engine::symbol_core::{Action, OrderPurpose};
use engine::trade::{CloseReason, DecidedBy};
use protocol::*;

fn agent() -> AgentId {
    AgentId::new("agent-1").unwrap()
}

fn enter(direction: Direction) -> AgentDecision {
    let intent = Intent { direction, qty: qty("0.01"), exits: rules() };
    AgentDecision { agent: agent(), command: AgentCommand::Enter(intent), valid_until: None }
}

fn enter_fraction(direction: Direction, fraction: u32) -> AgentDecision {
    let sized = FractionEntry { direction, fraction: Ppm(fraction), exits: rules() };
    AgentDecision { agent: agent(), command: AgentCommand::EnterFraction(sized), valid_until: None }
}

fn exit() -> AgentDecision {
    AgentDecision { agent: agent(), command: AgentCommand::Exit, valid_until: None }
}

fn decide(h: &mut Harness, d: AgentDecision) -> (Result<IntentId, AgentRefusal>, Vec<Action>) {
    h.now += 1_000_000;
    h.core.on_agent_intent(&d, h.now, &h.risk)
}

/// An agent-driven harness with a fresh feed (entries need three in-sequence ticks).
fn ready() -> Harness {
    let mut h = Harness::agent_driven(agent());
    for _ in 0..3 {
        assert!(orders(&h.tick_at("100000")).is_empty());
    }
    h
}

fn open_long(h: &mut Harness) -> OrderRequestFill {
    let (verdict, actions) = decide(h, enter(Direction::Long));
    let order = only_order(&actions).expect("one entry order");
    assert_eq!(verdict, Ok(order.intent_id));
    let fill = h.fill_report(&order, "100000.5", "0.1");
    h.report(&fill);
    assert_eq!(h.core.state().name(), "open");
    OrderRequestFill(order)
}

struct OrderRequestFill(engine::symbol_core::OrderRequest);

#[test]
fn an_accepted_entry_is_exactly_one_order_recorded_as_the_agents() {
    let mut h = ready();
    let entry = open_long(&mut h).0;
    assert_eq!(entry.side, Side::Buy);
    assert_eq!(entry.purpose, OrderPurpose::Entry(Direction::Long));
    assert_eq!(h.core.open_trade().map(|t| t.decided_by), Some(DecidedBy::Agent(agent())));
    assert_eq!(h.core.counters().orders, 1);
}

#[test]
fn the_strategy_of_an_agent_driven_symbol_is_never_asked() {
    let mut h = ready();
    // The scripted strategy wants to enter: nothing happens, the agent is the authority.
    assert!(orders(&h.signal(common::enter(Direction::Long), "100000")).is_empty());
    assert!(h.script.0.lock().unwrap().len() == 1, "the strategy's signal was never taken");
    // And an agent for a strategy-driven symbol is refused.
    let mut strategy_driven = Harness::new();
    for _ in 0..3 {
        strategy_driven.tick_at("100000");
    }
    let (verdict, actions) = decide(&mut strategy_driven, enter(Direction::Long));
    assert_eq!(verdict, Err(AgentRefusal::NotAuthority));
    assert!(orders(&actions).is_empty());
    // Another agent is refused too.
    let mut other = enter(Direction::Long);
    other.agent = AgentId::new("agent-2").unwrap();
    assert_eq!(decide(&mut h, other).0, Err(AgentRefusal::NotAuthority));
}

#[test]
fn the_same_guards_as_a_strategys_entry_refuse_it() {
    let mut h = ready();
    h.core.set_flags(ControlFlags { entry_enabled: false, ..ControlFlags::default() });
    let (verdict, actions) = decide(&mut h, enter(Direction::Long));
    assert_eq!(verdict, Err(AgentRefusal::Guard(Refusal::EntryDisabled)));
    assert_eq!(refusals(&actions), ["entry_disabled"], "counted like any refusal");
    assert_eq!(verdict.unwrap_err().code(), "entry_disabled");
    h.core.set_flags(ControlFlags::default());
    // A stale feed refuses it too (no tick for a long time).
    h.now += 10 * SEC;
    h.core.check_feed(h.now);
    assert_eq!(decide(&mut h, enter(Direction::Long)).0, Err(AgentRefusal::Guard(Refusal::FeedStale)));
}

#[test]
fn an_expired_decision_is_refused() {
    let mut h = ready();
    let mut late = enter(Direction::Long);
    late.valid_until = Some(h.now);
    let (verdict, actions) = decide(&mut h, late);
    assert_eq!(verdict, Err(AgentRefusal::Expired));
    assert!(orders(&actions).is_empty());
    let mut in_time = enter(Direction::Long);
    in_time.valid_until = Some(h.now + SEC);
    assert!(decide(&mut h, in_time).0.is_ok());
}

#[test]
fn one_way_positions_and_one_order_in_flight() {
    let mut h = ready();
    let (first, _) = decide(&mut h, enter(Direction::Long));
    assert!(first.is_ok());
    assert_eq!(decide(&mut h, enter(Direction::Long)).0, Err(AgentRefusal::OrderInFlight));
    assert_eq!(decide(&mut h, exit()).0, Err(AgentRefusal::OrderInFlight));
    let mut h = ready();
    open_long(&mut h);
    assert_eq!(decide(&mut h, enter(Direction::Short)).0, Err(AgentRefusal::PositionOpenOpposite));
    assert_eq!(decide(&mut h, enter(Direction::Long)).0, Err(AgentRefusal::PositionOpen));
    assert_eq!(h.core.counters().orders, 1);
    let mut flat = ready();
    assert_eq!(decide(&mut flat, exit()).0, Err(AgentRefusal::NoPosition));
}

#[test]
fn an_agents_exit_closes_the_trade_with_reason_agent() {
    let mut h = ready();
    open_long(&mut h);
    let (verdict, actions) = decide(&mut h, exit());
    let order = only_order(&actions).expect("an exit order");
    assert_eq!(verdict, Ok(order.intent_id));
    assert_eq!(order.purpose, OrderPurpose::Exit(ExitReason::Agent));
    let fill = h.fill_report(&order, "100010", "0.1");
    let closed = h.report(&fill).into_iter().find_map(|a| if let Action::TradeClosed(t) = a { Some(t) } else { None });
    let closed = closed.expect("the trade closed");
    assert_eq!(closed.reason, CloseReason::Exit(ExitReason::Agent));
    assert_eq!(closed.decided_by, DecidedBy::Agent(agent()));
    assert_eq!(h.core.state().name(), "flat");
}

#[test]
fn an_agents_exit_racing_a_stop_loss_gives_one_exit() {
    // The stop-loss fires first (on a tick); the agent's exit finds it in flight.
    let mut h = ready();
    open_long(&mut h);
    let stop = only_order(&h.tick_at("98000")).expect("the stop-loss exit");
    assert_eq!(stop.purpose, OrderPurpose::Exit(ExitReason::StopLoss));
    let (verdict, actions) = decide(&mut h, exit());
    assert_eq!(verdict, Err(AgentRefusal::ExitInFlight));
    assert!(orders(&actions).is_empty(), "no second exit");
    // The stop is due but no tick has acted on it yet: the agent's exit sends the stop-loss
    // (protective exits first), once.
    let mut h = ready();
    open_long(&mut h);
    h.script.push(engine::strategy::Signal::HOLD);
    // A tick that moves the mark below the stop while exits are disabled: no exit yet.
    h.core.set_flags(ControlFlags { exit_enabled: false, ..ControlFlags::default() });
    assert!(orders(&h.tick_at("98000")).is_empty());
    h.core.set_flags(ControlFlags::default());
    let (verdict, actions) = decide(&mut h, exit());
    let only = only_order(&actions).expect("one exit");
    assert_eq!(only.purpose, OrderPurpose::Exit(ExitReason::StopLoss));
    assert_eq!(verdict, Err(AgentRefusal::ExitInFlight));
    assert_eq!(decide(&mut h, exit()).0, Err(AgentRefusal::ExitInFlight));
    assert_eq!(h.core.counters().orders, 2, "one entry, one exit");
}

#[test]
fn the_intents_exit_rules_run_on_their_own() {
    let mut h = ready();
    open_long(&mut h);
    // The agent says nothing more; its take-profit (1 %) fires on a tick.
    let tp = only_order(&h.tick_at("101002")).expect("take-profit");
    assert_eq!(tp.purpose, OrderPurpose::Exit(ExitReason::TakeProfit));
    // And its time limit (60 s) on a timer beat.
    let mut h = ready();
    open_long(&mut h);
    h.now += 61 * SEC;
    let actions = h.core.on_timer(h.now, &h.risk);
    let limit = only_order(&actions).expect("time limit");
    assert_eq!(limit.purpose, OrderPurpose::Exit(ExitReason::TimeLimit));
}

#[test]
fn a_silent_agents_symbol_refuses_entries_but_its_protective_exits_still_fire() {
    use engine::agent::{Liveness, OnSilence};
    let mut h = ready();
    open_long(&mut h);
    let now = h.now;
    let actions = h.core.set_liveness(Liveness::Silent(OnSilence::StopEntries), now, &h.risk);
    assert!(orders(&actions).is_empty(), "stop_entries sends nothing");
    // The stop-loss still fires on a tick.
    let stop = only_order(&h.tick_at("98000")).expect("the stop-loss exit");
    assert_eq!(stop.purpose, OrderPurpose::Exit(ExitReason::StopLoss));
    let fill = h.fill_report(&stop, "98000", "0.1");
    h.report(&fill);
    assert_eq!(h.core.state().name(), "flat");
    // An entry while silent is refused, and sends nothing.
    let (verdict, actions) = decide(&mut h, enter(Direction::Long));
    assert_eq!(verdict, Err(AgentRefusal::AgentSilent));
    assert!(orders(&actions).is_empty());
    // Back alive: entries are taken again.
    let now = h.now;
    assert!(h.core.set_liveness(Liveness::Alive, now, &h.risk).is_empty());
    for _ in 0..3 {
        h.tick_at("98000");
    }
    // (Short: the stop-loss started the long side's cooldown.)
    assert!(decide(&mut h, enter(Direction::Short)).0.is_ok());
}

#[test]
fn a_silent_agent_with_flatten_gets_one_flatten_exit() {
    use engine::agent::{Liveness, OnSilence};
    let mut h = ready();
    open_long(&mut h);
    let now = h.now;
    let actions = h.core.set_liveness(Liveness::Silent(OnSilence::Flatten), now, &h.risk);
    let flatten = only_order(&actions).expect("the flatten exit");
    assert_eq!(flatten.purpose, OrderPurpose::Exit(ExitReason::Flatten));
    // One exit in flight: neither a tick, a beat nor a repeat sends a second.
    assert!(orders(&h.tick_at("98000")).is_empty(), "the stop-loss is due but an exit is on the wire");
    h.now += SEC;
    assert!(orders(&h.core.on_timer(h.now, &h.risk)).is_empty());
    let now = h.now;
    assert!(orders(&h.core.set_liveness(Liveness::Silent(OnSilence::Flatten), now, &h.risk)).is_empty());
    let fill = h.fill_report(&flatten, "98000", "0.1");
    let closed = h.report(&fill).into_iter().find_map(|a| if let Action::TradeClosed(t) = a { Some(t) } else { None });
    assert_eq!(closed.expect("closed").reason, CloseReason::Exit(ExitReason::Flatten));
    assert_eq!(h.core.counters().orders, 2, "one entry, one exit");
    // An entry already on the wire when the agent went silent is flattened once it fills.
    let mut h = ready();
    let (verdict, actions) = decide(&mut h, enter(Direction::Long));
    let entry = only_order(&actions).expect("entry");
    assert!(verdict.is_ok());
    let now = h.now;
    assert!(orders(&h.core.set_liveness(Liveness::Silent(OnSilence::Flatten), now, &h.risk)).is_empty());
    let fill = h.fill_report(&entry, "100000.5", "0.1");
    h.report(&fill);
    h.now += SEC;
    let late = only_order(&h.core.on_timer(h.now, &h.risk)).expect("flattened on the next beat");
    assert_eq!(late.purpose, OrderPurpose::Exit(ExitReason::Flatten));
}

#[test]
fn a_fraction_of_equity_is_sized_at_the_ask_for_long_and_the_bid_for_short() {
    // Equity 1,000,000; 3 % of it = 30,000 at ask 100,000.5 (long) or bid 99,999.5 (short),
    // rounded down to 8 decimals.
    for (direction, expected) in [(Direction::Long, "0.29999850"), (Direction::Short, "0.30000150")] {
        let mut h = ready();
        let (verdict, actions) = decide(&mut h, enter_fraction(direction, 30_000));
        let order = only_order(&actions).expect("one entry order");
        assert_eq!(verdict, Ok(order.intent_id));
        assert_eq!(order.qty, qty(expected), "{direction:?}");
        assert_eq!(order.purpose, OrderPurpose::Entry(direction));
    }
}

#[test]
fn a_computed_qty_goes_through_every_guard() {
    // 50 % of equity is over the 10 % symbol exposure limit.
    let mut h = ready();
    let (verdict, actions) = decide(&mut h, enter_fraction(Direction::Long, 500_000));
    assert_eq!(verdict, Err(AgentRefusal::Guard(Refusal::SymbolExposure)));
    assert!(orders(&actions).is_empty());
    // Over max_position_qty (0.1) too.
    let config = RiskConfig { max_position_qty: qty("0.1"), ..RiskConfig::default() };
    let mut h = Harness::agent_driven_with(agent(), config);
    for _ in 0..3 {
        h.tick_at("100000");
    }
    assert_eq!(
        decide(&mut h, enter_fraction(Direction::Long, 30_000)).0,
        Err(AgentRefusal::Guard(Refusal::MaxPosition))
    );
}

#[test]
fn a_fraction_with_no_quote_or_a_zero_qty_is_refused() {
    // No tick yet: the feed code.
    let mut h = Harness::agent_driven(agent());
    let (verdict, actions) = decide(&mut h, enter_fraction(Direction::Long, 30_000));
    assert_eq!(verdict, Err(AgentRefusal::Guard(Refusal::FeedStale)));
    assert_eq!(refusals(&actions), ["feed_stale"]);
    // 0.000001 of an equity of 0.001 at 100,000 is below 1e-8: invalid_field, equity_fraction.
    let config = RiskConfig { initial_equity: "0.001".parse().unwrap(), ..RiskConfig::default() };
    let mut h = Harness::agent_driven_with(agent(), config);
    for _ in 0..3 {
        h.tick_at("100000");
    }
    let (verdict, actions) = decide(&mut h, enter_fraction(Direction::Short, 1));
    assert_eq!(verdict, Err(AgentRefusal::Guard(Refusal::InvalidIntent("equity_fraction"))));
    assert_eq!(verdict.unwrap_err().code(), "invalid_field");
    assert!(orders(&actions).is_empty());
}

#[test]
fn a_fraction_entry_with_a_position_open_is_refused_like_any_entry() {
    let mut h = ready();
    open_long(&mut h);
    assert_eq!(decide(&mut h, enter_fraction(Direction::Long, 1_000)).0, Err(AgentRefusal::PositionOpen));
    assert_eq!(decide(&mut h, enter_fraction(Direction::Short, 1_000)).0, Err(AgentRefusal::PositionOpenOpposite));
}

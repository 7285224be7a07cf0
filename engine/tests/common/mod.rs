//! Test harness for `SymbolCore`: a scripted strategy, tick and report builders.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use engine::efsm::Direction;
use engine::intent::{ExitRules, Intent};
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::strategy::{Signal, Strategy};
use engine::symbol_core::{Action, CoreConfig, OrderRequest, SymbolCore};
use protocol::*;

pub const SEC: u64 = 1_000_000_000;

/// A strategy that returns queued signals (then holds); the queue is shared with the test.
#[derive(Clone, Default)]
pub struct Script(pub Arc<Mutex<VecDeque<Signal>>>);

impl Script {
    pub fn push(&self, signal: Signal) {
        self.0.lock().unwrap().push_back(signal);
    }
}

impl Strategy for Script {
    fn name(&self) -> &'static str {
        "script"
    }
    fn on_tick(&mut self, _: &Tick) -> Signal {
        self.0.lock().unwrap().pop_front().unwrap_or(Signal::HOLD)
    }
}

pub fn sym() -> Symbol {
    Symbol::new("BTCUSD.s").unwrap()
}

pub fn qty(s: &str) -> Qty {
    s.parse().unwrap()
}
pub fn px(s: &str) -> Price {
    s.parse().unwrap()
}
pub fn money(s: &str) -> Money {
    s.parse().unwrap()
}

pub fn rules() -> ExitRules {
    ExitRules {
        take_profit: Some(Ppm(10_000)),
        stop_loss: Some(Ppm(10_000)),
        trailing: None,
        max_hold_secs: Some(60),
        cooldown_secs: 10,
    }
}

pub fn enter(direction: Direction) -> Signal {
    Signal { enter: Some(Intent { direction, qty: qty("0.01"), exits: rules() }), ..Signal::HOLD }
}

pub fn exit_both() -> Signal {
    Signal { exit_long: true, exit_short: true, enter: None }
}

/// A core with a scripted strategy, its shared risk, and a clock and sequence counters.
pub struct Harness {
    pub core: SymbolCore,
    pub risk: PortfolioRisk,
    pub script: Script,
    pub now: u64,
    pub md_seq: u64,
    pub exec_id: u64,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_risk(RiskConfig::default())
    }

    pub fn with_risk(config: RiskConfig) -> Harness {
        let script = Script::default();
        Harness::with(config, Box::new(script.clone()), script)
    }

    /// A core driven by `strategy` (the script then drives nothing).
    pub fn with_strategy(strategy: Box<dyn Strategy>) -> Harness {
        Harness::with(RiskConfig::default(), strategy, Script::default())
    }

    /// A core whose decisions come from `agent`; its (scripted) strategy is never asked.
    pub fn agent_driven(agent: engine::agent::AgentId) -> Harness {
        Harness::agent_driven_with(agent, RiskConfig::default())
    }

    /// [`Harness::agent_driven`] with these risk limits.
    pub fn agent_driven_with(agent: engine::agent::AgentId, risk: RiskConfig) -> Harness {
        let script = Script::default();
        let config = CoreConfig { authority: engine::agent::Authority::Agent(agent), ..CoreConfig::new(sym()) };
        Harness::with_core(risk, config, Box::new(script.clone()), script)
    }

    fn with(config: RiskConfig, strategy: Box<dyn Strategy>, script: Script) -> Harness {
        Harness::with_core(config, CoreConfig::new(sym()), strategy, script)
    }

    fn with_core(config: RiskConfig, core: CoreConfig, strategy: Box<dyn Strategy>, script: Script) -> Harness {
        let risk = PortfolioRisk::new(config, 1000);
        let core = SymbolCore::new(core, strategy, &risk);
        Harness { core, risk, script, now: 1_000 * SEC, md_seq: 0, exec_id: 0 }
    }

    /// A tick with the given mid (spread 1.0), 10 ms after the previous one.
    pub fn tick_at(&mut self, mid: &str) -> Vec<Action> {
        self.now += 10_000_000;
        self.md_seq += 1;
        let mid = px(mid);
        let half = px("0.5");
        let tick = Tick {
            symbol: sym(),
            bid: mid.checked_sub(half).unwrap(),
            ask: mid.checked_add(half).unwrap(),
            ts_ns: self.now,
            md_seq: self.md_seq,
        };
        self.core.on_tick(&tick, self.now, &self.risk)
    }

    /// Queues a signal and ticks at `mid`.
    pub fn signal(&mut self, signal: Signal, mid: &str) -> Vec<Action> {
        self.script.push(signal);
        self.tick_at(mid)
    }

    pub fn fill_report(&mut self, order: &OrderRequest, price: &str, fee: &str) -> ExecReport {
        self.exec_id += 1;
        ExecReport {
            intent_id: order.intent_id,
            order_id: OrderId(order.intent_id.0),
            exec_id: ExecId(self.exec_id),
            symbol: order.symbol,
            side: order.side,
            exec_type: ExecType::Fill,
            ord_status: OrdStatus::Filled,
            last_qty: order.qty,
            last_px: px(price),
            cum_qty: order.qty,
            leaves_qty: Qty::ZERO,
            fee: money(fee),
            reject_code: RejectCode::None,
            reject_text: String::new(),
            poss_dup: false,
            transact_ns: self.now,
        }
    }

    pub fn reject_report(&mut self, order: &OrderRequest, code: RejectCode) -> ExecReport {
        let mut r = self.fill_report(order, "0", "0");
        r.exec_type = ExecType::Rejected;
        r.ord_status = OrdStatus::Rejected;
        r.last_qty = Qty::ZERO;
        r.last_px = Price::ZERO;
        r.cum_qty = Qty::ZERO;
        r.reject_code = code;
        r
    }

    pub fn report(&mut self, report: &ExecReport) -> Vec<Action> {
        self.now += 1_000_000;
        self.core.on_report(report, self.now, &self.risk)
    }

    /// Enters long at mid 100000 and fills at 100000.5; returns the entry order.
    pub fn open_long(&mut self) -> OrderRequest {
        let order = only_order(&self.signal(enter(Direction::Long), "100000")).expect("entry order");
        let fill = self.fill_report(&order, "100000.5", "0.1");
        self.report(&fill);
        assert_eq!(self.core.state().name(), "open");
        order
    }
}

/// The venue's view that agrees with the core's book exactly.
pub fn agreeing(core: &SymbolCore) -> engine::reconcile::VenueView {
    let book = core.book();
    engine::reconcile::VenueView { position: book.position(), realized: book.realized(), fees: book.fees() }
}

/// The discrepancy codes among the actions.
pub fn discrepancies(actions: &[Action]) -> Vec<engine::discrepancy::DiscrepancyCode> {
    actions.iter().filter_map(|a| if let Action::Discrepancy(d) = a { Some(d.code) } else { None }).collect()
}

pub fn orders(actions: &[Action]) -> Vec<OrderRequest> {
    actions.iter().filter_map(|a| if let Action::PlaceOrder(o) = a { Some(*o) } else { None }).collect()
}

pub fn only_order(actions: &[Action]) -> Option<OrderRequest> {
    let o = orders(actions);
    assert!(o.len() <= 1, "at most one order per input: {actions:?}");
    o.first().copied()
}

pub fn refusals(actions: &[Action]) -> Vec<&'static str> {
    actions.iter().filter_map(|a| if let Action::Refused(r) = a { Some(r.code()) } else { None }).collect()
}

pub fn efsm_errors(actions: &[Action]) -> usize {
    actions.iter().filter(|a| matches!(a, Action::EfsmError(_))).count()
}

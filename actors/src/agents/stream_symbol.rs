//! An agent-driven symbol's side of the execution stream: turns what its core decided into
//! stream events (intent accepted/refused, order sent, fill, position opened/closed, halted,
//! resumed), each carrying the client `intent_id` of the agent's intent it belongs to. The
//! symbol actor calls it in step order, so the events of one symbol are in the order things
//! happened: an intent's `intent_accepted` before its `order_sent`.

use std::collections::VecDeque;

use engine::agent::{AgentCommand, AgentDecision, AgentId, AgentRefusal};
use engine::book::Position;
use engine::efsm::{Direction, HaltReason};
use engine::risk::Refusal;
use engine::symbol_core::{Action, OrderPurpose};
use protocol::{IntentId, Qty, Symbol};

use super::stream::{EventKind, StreamEvent, StreamSender, Topic};
use super::wire::{wire_field, ClientIntentId};

/// Orders remembered with their client id (for their fills and their trade's close): a
/// symbol has one order in flight, so this covers many trades back.
const ORDERS_REMEMBERED: usize = 64;

/// One order of this symbol: its client id (when an agent's intent sent it), its size and
/// what has filled so far.
struct OrderSeen {
    order: IntentId,
    client: Option<ClientIntentId>,
    qty: Qty,
    filled: Qty,
}

/// The stream hook of one agent-driven symbol.
pub struct SymbolStream {
    tx: StreamSender,
    agent: AgentId,
    symbol: Symbol,
    orders: VecDeque<OrderSeen>,
    /// The client id of the intent whose order is about to be sent (set when accepted).
    accepted: Option<(IntentId, ClientIntentId)>,
    /// The newest trade a `position_opened` was sent for.
    opened_trade: u64,
    /// The halt last reported (`None`: trading).
    halted: Option<HaltReason>,
}

impl SymbolStream {
    pub fn new(tx: StreamSender, agent: AgentId, symbol: Symbol) -> SymbolStream {
        SymbolStream { tx, agent, symbol, orders: VecDeque::new(), accepted: None, opened_trade: 0, halted: None }
    }

    fn emit(&self, ts_ns: u64, intent_id: Option<ClientIntentId>, order: Option<IntentId>, kind: EventKind) {
        self.tx.send(StreamEvent {
            topic: Topic::Symbol(self.symbol),
            ts_ns,
            symbol: Some(self.symbol),
            agent: Some(self.agent),
            intent_id,
            order_intent_id: order.map(|o| o.0),
            kind,
        });
    }

    fn client_of(&self, order: IntentId) -> Option<ClientIntentId> {
        self.orders.iter().rev().find(|o| o.order == order).and_then(|o| o.client.clone())
    }

    /// The core's answer to an agent's intent, before any of that step's actions.
    pub fn intent_decided(
        &mut self,
        client: Option<&ClientIntentId>,
        decision: &AgentDecision,
        verdict: &Result<IntentId, AgentRefusal>,
        qty: Option<Qty>,
        now: u64,
    ) {
        let client = client.cloned();
        match verdict {
            Ok(order) => {
                let given = match decision.command {
                    AgentCommand::Enter(intent) => Some(intent.qty),
                    AgentCommand::EnterFraction(_) | AgentCommand::Exit => None,
                };
                let (action, qty) = match decision.command.entry_direction() {
                    Some(Direction::Long) => ("enter_long", qty.or(given)),
                    Some(Direction::Short) => ("enter_short", qty.or(given)),
                    None => ("exit", None),
                };
                if let Some(id) = &client {
                    self.accepted = Some((*order, id.clone()));
                }
                self.emit(now, client, Some(*order), EventKind::IntentAccepted { action, qty });
            }
            Err(refusal) => {
                let field = match refusal {
                    AgentRefusal::Guard(Refusal::InvalidIntent(field)) => Some(wire_field(field).to_string()),
                    _ => None,
                };
                self.emit(now, client, None, EventKind::IntentRefused { reason: refusal.code(), field });
            }
        }
    }

    /// One action the symbol carries out; `position` is the book's after the step.
    pub fn action(&mut self, action: &Action, position: Option<Position>, now: u64) {
        match action {
            Action::PlaceOrder(order) => {
                let client = match self.accepted.take() {
                    Some((id, client)) if id == order.intent_id => Some(client),
                    _ => None,
                };
                if self.orders.len() >= ORDERS_REMEMBERED {
                    self.orders.pop_front();
                }
                self.orders.push_back(OrderSeen {
                    order: order.intent_id,
                    client: client.clone(),
                    qty: order.qty,
                    filled: Qty::ZERO,
                });
                let (purpose, exit_reason) = match order.purpose {
                    OrderPurpose::Entry(_) => ("entry", None),
                    OrderPurpose::Exit(reason) => ("exit", Some(reason.as_str())),
                };
                let kind = EventKind::OrderSent { side: order.side.as_str(), qty: order.qty, purpose, exit_reason };
                self.emit(now, client, Some(order.intent_id), kind);
            }
            Action::FillBooked(fill) => {
                let seen = self.orders.iter_mut().rev().find(|o| o.order == fill.intent_id);
                let (client, cum_qty, partial) = match seen {
                    Some(o) => {
                        o.filled = o.filled.checked_add(fill.qty).unwrap_or(o.filled);
                        (o.client.clone(), o.filled, o.filled < o.qty)
                    }
                    // An order this hook never saw (restored at start): this fill alone.
                    None => (None, fill.qty, false),
                };
                let kind = EventKind::Fill {
                    side: fill.side.as_str(),
                    qty: fill.qty,
                    price: fill.price,
                    fee: fill.fee,
                    cum_qty,
                    partial,
                };
                self.emit(fill.at, client.clone(), Some(fill.intent_id), kind);
                if fill.trade_seq > self.opened_trade {
                    self.opened_trade = fill.trade_seq;
                    if let Some(p) = position {
                        let side = p.direction.as_str();
                        let avg_price = p.avg_price().unwrap_or_default();
                        let kind = EventKind::PositionOpened { side, qty: p.qty, avg_price };
                        self.emit(fill.at, client, Some(fill.intent_id), kind);
                    }
                }
            }
            Action::TradeClosed(trade) => {
                // A trade opened before this process started is known as opened already.
                self.opened_trade = self.opened_trade.max(trade.trade_seq);
                let entry = trade.entry_intent.and_then(|o| self.client_of(o));
                let exit = trade.exit_intent.and_then(|o| self.client_of(o));
                let kind = EventKind::PositionClosed {
                    exit_reason: trade.reason.as_str(),
                    qty: trade.qty,
                    entry_price: trade.entry_price,
                    exit_price: trade.exit_price,
                    realized: trade.realized,
                    fees: trade.fees,
                    entry_intent_id: entry.clone(),
                    exit_intent_id: exit,
                };
                self.emit(trade.exit_at, entry, trade.exit_intent, kind);
            }
            _ => {}
        }
    }

    /// Whether a step with these actions and this halt after it makes any event.
    pub fn has_events(&self, actions: &[Action], halt: Option<HaltReason>) -> bool {
        halt != self.halted
            || actions
                .iter()
                .any(|a| matches!(a, Action::PlaceOrder(_) | Action::FillBooked(_) | Action::TradeClosed(_)))
    }

    /// The symbol's halt after a step: a change is `symbol_halted` or `symbol_resumed`.
    pub fn halt_state(&mut self, halt: Option<HaltReason>, now: u64) {
        if halt == self.halted {
            return;
        }
        let kind = match halt {
            Some(reason) => EventKind::SymbolHalted { reason: reason.as_str() },
            None => EventKind::SymbolResumed,
        };
        self.halted = halt;
        self.emit(now, None, None, kind);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::intent::{ExitRules, Intent};
    use engine::risk::{ControlFlags, PortfolioRisk, RiskConfig};
    use engine::strategy::hold::Hold;
    use engine::symbol_core::{CoreConfig, OrderRequest, SymbolCore};
    use protocol::{ExecId, ExecReport, ExecType, OrdStatus, OrderId, Ppm, Price, RejectCode, Tick};

    /// A core driven by agent `a1`, its stream hook, and a clock.
    struct Rig {
        core: SymbolCore,
        risk: PortfolioRisk,
        stream: SymbolStream,
        events: crossbeam_channel::Receiver<StreamEvent>,
        now: u64,
        md_seq: u64,
    }

    fn agent() -> AgentId {
        AgentId::new("a1").unwrap()
    }

    fn sym() -> Symbol {
        Symbol::new("BTCUSD.s").unwrap()
    }

    impl Rig {
        fn new() -> Rig {
            let risk = PortfolioRisk::new(RiskConfig::default(), 1_000);
            let config = CoreConfig { authority: engine::agent::Authority::Agent(agent()), ..CoreConfig::new(sym()) };
            let core = SymbolCore::new(config, Box::new(Hold), &risk);
            let (tx, events) = StreamSender::channel(1_024);
            let mut rig = Rig {
                core,
                risk,
                stream: SymbolStream::new(tx, agent(), sym()),
                events,
                now: 1_000_000_000_000,
                md_seq: 0,
            };
            for _ in 0..3 {
                rig.tick("100000");
            }
            rig
        }

        /// What the symbol actor does with a step's actions.
        fn carry_out(&mut self, actions: &[Action]) -> Vec<OrderRequest> {
            let halt = match self.core.state() {
                engine::efsm::ExecState::Halted { reason } => Some(*reason),
                _ => None,
            };
            for a in actions {
                self.stream.action(a, self.core.book().position(), self.now);
            }
            self.stream.halt_state(halt, self.now);
            actions.iter().filter_map(|a| if let Action::PlaceOrder(o) = a { Some(*o) } else { None }).collect()
        }

        fn tick(&mut self, mid: &str) -> Vec<OrderRequest> {
            self.now += 10_000_000;
            self.md_seq += 1;
            let mid: Price = mid.parse().unwrap();
            let half: Price = "0.5".parse().unwrap();
            let tick = Tick {
                symbol: sym(),
                bid: mid.checked_sub(half).unwrap(),
                ask: mid.checked_add(half).unwrap(),
                ts_ns: self.now,
                md_seq: self.md_seq,
            };
            let actions = self.core.on_tick(&tick, self.now, &self.risk);
            self.carry_out(&actions)
        }

        fn decide(
            &mut self,
            client: &str,
            command: AgentCommand,
        ) -> (Result<IntentId, AgentRefusal>, Vec<OrderRequest>) {
            self.now += 1_000_000;
            let decision = AgentDecision { agent: agent(), command, valid_until: None };
            let (verdict, actions) = self.core.on_agent_intent(&decision, self.now, &self.risk);
            let client = ClientIntentId::new(client).unwrap();
            let qty = match (&verdict, decision.command.entry_direction()) {
                (Ok(order), Some(_)) => actions.iter().find_map(|a| match a {
                    Action::PlaceOrder(o) if o.intent_id == *order => Some(o.qty),
                    _ => None,
                }),
                _ => None,
            };
            self.stream.intent_decided(Some(&client), &decision, &verdict, qty, self.now);
            (verdict, self.carry_out(&actions))
        }

        fn fill(&mut self, order: &OrderRequest, price: &str) {
            self.now += 1_000_000;
            let report = ExecReport {
                intent_id: order.intent_id,
                order_id: OrderId(order.intent_id.0),
                exec_id: ExecId(self.now),
                symbol: order.symbol,
                side: order.side,
                exec_type: ExecType::Fill,
                ord_status: OrdStatus::Filled,
                last_qty: order.qty,
                last_px: price.parse().unwrap(),
                cum_qty: order.qty,
                leaves_qty: Qty::ZERO,
                fee: "0.1".parse().unwrap(),
                reject_code: RejectCode::None,
                reject_text: String::new(),
                poss_dup: false,
                transact_ns: self.now,
            };
            let actions = self.core.on_report(&report, self.now, &self.risk);
            self.carry_out(&actions);
        }

        fn open_long(&mut self, client: &str) -> OrderRequest {
            let rules = ExitRules {
                take_profit: Some(Ppm(10_000)),
                stop_loss: Some(Ppm(10_000)),
                trailing: None,
                max_hold_secs: Some(60),
                cooldown_secs: 0,
            };
            let intent = Intent { direction: Direction::Long, qty: "0.01".parse().unwrap(), exits: rules };
            let (verdict, orders) = self.decide(client, AgentCommand::Enter(intent));
            assert_eq!(orders.len(), 1);
            assert_eq!(verdict, Ok(orders[0].intent_id));
            self.fill(&orders[0], "100000.5");
            orders[0]
        }

        fn events(&self) -> Vec<StreamEvent> {
            self.events.try_iter().collect()
        }
    }

    fn names(events: &[StreamEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e.kind {
                EventKind::IntentAccepted { .. } => "intent_accepted",
                EventKind::IntentRefused { reason, .. } => reason,
                EventKind::OrderSent { purpose, .. } => purpose,
                EventKind::Fill { .. } => "fill",
                EventKind::PositionOpened { .. } => "position_opened",
                EventKind::PositionClosed { exit_reason, .. } => exit_reason,
                EventKind::SymbolHalted { .. } => "symbol_halted",
                EventKind::SymbolResumed => "symbol_resumed",
                _ => "other",
            })
            .collect()
    }

    /// An entry sized by `equity_fraction`: `intent_accepted` shows the qty the core computed
    /// (the order's).
    #[test]
    fn a_fraction_entrys_intent_accepted_shows_the_computed_qty() {
        let mut rig = Rig::new();
        let sized = engine::agent::FractionEntry {
            direction: Direction::Long,
            fraction: Ppm(30_000),
            exits: ExitRules::default(),
        };
        let (verdict, orders) = rig.decide("f-1", AgentCommand::EnterFraction(sized));
        assert_eq!(verdict, Ok(orders[0].intent_id));
        let expected: Qty = "0.2999985".parse().unwrap(); // 3 % of 1,000,000 at ask 100,000.5
        assert_eq!(orders[0].qty, expected);
        let events = rig.events();
        let EventKind::IntentAccepted { action, qty } = &events[0].kind else { panic!("not intent_accepted") };
        assert_eq!((*action, *qty), ("enter_long", Some(expected)));
    }

    /// An entry's story, in order, each event carrying the client id; the agent's exit's
    /// close names both intents.
    #[test]
    fn an_intents_events_in_order_with_its_client_id() {
        let mut rig = Rig::new();
        let entry = rig.open_long("e-1");
        let (verdict, orders) = rig.decide("x-1", AgentCommand::Exit);
        assert_eq!(verdict, Ok(orders[0].intent_id));
        rig.fill(&orders[0], "100010.5");
        let events = rig.events();
        assert_eq!(
            names(&events),
            ["intent_accepted", "entry", "fill", "position_opened", "intent_accepted", "exit", "fill", "agent"]
        );
        let ids: Vec<Option<&str>> = events.iter().map(|e| e.intent_id.as_ref().map(ClientIntentId::as_str)).collect();
        let (e, x) = (Some("e-1"), Some("x-1"));
        assert_eq!(ids, [e, e, e, e, x, x, x, e]);
        assert_eq!(events[1].order_intent_id, Some(entry.intent_id.0));
        let EventKind::PositionClosed { entry_intent_id, exit_intent_id, realized, .. } = &events[7].kind else {
            panic!("not a close")
        };
        assert_eq!(
            (entry_intent_id.as_ref().map(ClientIntentId::as_str), exit_intent_id.as_ref().map(ClientIntentId::as_str)),
            (e, x)
        );
        assert_eq!(realized.to_string(), "0.1");
        let EventKind::Fill { cum_qty, partial, .. } = &events[2].kind else { panic!("not a fill") };
        assert_eq!((cum_qty.to_string().as_str(), *partial), ("0.01", false));
    }

    /// An agent's exit racing a stop-loss, both ways round: one exit order and one close.
    #[test]
    fn an_agents_exit_racing_a_stop_loss_gives_one_exit_and_one_close() {
        // The stop-loss is due when the agent's exit arrives: the stop goes out (its own
        // reason), the agent is told exit_in_flight, and a second exit sends nothing.
        let mut rig = Rig::new();
        rig.open_long("e-1");
        rig.core.set_flags(ControlFlags { exit_enabled: false, ..ControlFlags::default() });
        assert!(rig.tick("98000").is_empty());
        rig.core.set_flags(ControlFlags::default());
        let (verdict, orders) = rig.decide("x-1", AgentCommand::Exit);
        assert_eq!((verdict, orders.len()), (Err(AgentRefusal::ExitInFlight), 1));
        assert_eq!(rig.decide("x-2", AgentCommand::Exit).1.len(), 0);
        assert!(rig.tick("97000").is_empty(), "no second exit on the next tick");
        rig.fill(&orders[0], "98000");
        let names_seen = names(&rig.events());
        assert_eq!(
            names_seen,
            [
                "intent_accepted",
                "entry",
                "fill",
                "position_opened",
                "exit_in_flight",
                "exit",
                "exit_in_flight",
                "fill",
                "stop_loss"
            ]
        );
        // The stop-loss fires first on a tick; the agent's exit then finds it in flight.
        let mut rig = Rig::new();
        rig.open_long("e-1");
        let stop = rig.tick("98000");
        assert_eq!(stop.len(), 1);
        assert_eq!(rig.decide("x-1", AgentCommand::Exit), (Err(AgentRefusal::ExitInFlight), Vec::new()));
        rig.fill(&stop[0], "98000");
        let seen = names(&rig.events());
        assert_eq!(seen.iter().filter(|n| **n == "exit").count(), 1, "{seen:?}");
        assert_eq!(seen.iter().filter(|n| **n == "stop_loss").count(), 1, "{seen:?}");
        assert_eq!(seen.last(), Some(&"stop_loss"));
    }

    /// A halt and a resume are reported once each, on the change.
    #[test]
    fn halts_are_reported_on_the_change() {
        let mut rig = Rig::new();
        rig.stream.halt_state(Some(HaltReason::Manual), 1);
        rig.stream.halt_state(Some(HaltReason::Manual), 2);
        rig.stream.halt_state(None, 3);
        rig.stream.halt_state(None, 4);
        assert_eq!(names(&rig.events()), ["symbol_halted", "symbol_resumed"]);
    }
}

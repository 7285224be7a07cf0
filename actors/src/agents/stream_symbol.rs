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
        now: u64,
    ) {
        let client = client.cloned();
        match verdict {
            Ok(order) => {
                let (action, qty) = match decision.command {
                    AgentCommand::Enter(intent) => match intent.direction {
                        Direction::Long => ("enter_long", Some(intent.qty)),
                        Direction::Short => ("enter_short", Some(intent.qty)),
                    },
                    AgentCommand::Exit => ("exit", None),
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

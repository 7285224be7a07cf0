//! `SymbolActor`: one per symbol, the actor shell around its [`SymbolState`] (which owns the
//! symbol's `SymbolCore`). Its handlers only hand each message to the state's step.
//!
//! Ticks take a shorter road: the actor lives on its shard's thread, and so does the shard's
//! feed, which steps a tick through the symbol's [`TickPort`] with a direct call instead of a
//! message (no envelope, no mailbox, no task wake: a third of a tick's cost at 10,000
//! symbols); the shard's beat (`crate::shard_beat`) runs its timer the same way. The port
//! shares the state with the actor on that one thread (`Rc<RefCell>`): neither ever calls
//! the other while holding it, since no output of a step runs anything of a symbol, the
//! feed or the beat (a step's outputs are messages, spawned tasks, and pushes into the
//! shard's outbox buffers). A port steps nothing before the actor has started (the core
//! must reconcile first; the feed reads nothing until every symbol of its shard has) or
//! after it stopped (the tick then goes to the closed mailbox and is counted as dropped).
//!
//! Isolation is the state's (see `crate::symbol_state`): a panic in the core halts only this
//! symbol, and a step over the budget halts it once (`step_overrun`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;

use actix::prelude::*;
use protocol::Symbol;

use crate::messages::*;
pub use crate::symbol_state::{SymbolOutputs, SymbolState, DEFAULT_STEP_BUDGET};

/// One symbol's actor. Build its state, then [`SymbolActor::host`] it on the shard's thread.
pub struct SymbolActor {
    state: Rc<RefCell<SymbolState>>,
}

/// The feed's direct road to one symbol's state on the same thread (see the module doc).
#[derive(Clone)]
pub struct TickPort(Rc<RefCell<SymbolState>>);

impl TickPort {
    /// Steps the tick now, or gives it back when the symbol is not running (not started
    /// yet, or stopped) or is in a step of its own (never on one thread; kept safe anyway).
    ///
    /// A panic in the step (the core's own panics are caught inside it; this catches the
    /// shell's) halts this symbol only, as it did when the step ran in the symbol's own
    /// task: the feed that called it, and the shard's other symbols, go on.
    pub fn step(&self, tick: TickArrived) -> Result<(), TickArrived> {
        let Ok(mut state) = self.0.try_borrow_mut() else { return Err(tick) };
        if !state.is_running() {
            return Err(tick);
        }
        if catch_unwind(AssertUnwindSafe(|| state.on_tick(tick))).is_err() {
            state.halt_after_panic("tick");
        }
        Ok(())
    }

    /// The symbol's timer (`crate::shard_beat`), if it is running and not in a step; a
    /// panic halts this symbol only (see [`Self::step`]).
    pub fn beat(&self) {
        if let Ok(mut state) = self.0.try_borrow_mut() {
            if state.is_running() && catch_unwind(AssertUnwindSafe(|| state.on_timer())).is_err() {
                state.halt_after_panic("timer");
            }
        }
    }

    /// Whether the symbol has started (and not stopped).
    pub fn is_running(&self) -> bool {
        self.0.try_borrow().is_ok_and(|s| s.is_running())
    }
}

thread_local! {
    /// The tick ports of the symbols hosted on this thread (a shard's), by symbol.
    static HOSTED: RefCell<HashMap<Symbol, TickPort>> = RefCell::new(HashMap::new());
}

impl SymbolActor {
    /// Wraps `state` as an actor and lists its tick port among this thread's (see
    /// [`hosted_port`]). Must run on the thread that will host the actor (the closure of
    /// `start_in_arbiter`): the port is that thread's only.
    pub fn host(state: SymbolState) -> SymbolActor {
        let symbol = state.symbol();
        let state = Rc::new(RefCell::new(state));
        HOSTED.with(|hosted| hosted.borrow_mut().insert(symbol, TickPort(Rc::clone(&state))));
        SymbolActor { state }
    }
}

/// The tick port of `symbol` if its actor is hosted on this thread.
pub fn hosted_port(symbol: &Symbol) -> Option<TickPort> {
    HOSTED.with(|hosted| hosted.borrow().get(symbol).cloned())
}

/// How many symbols are hosted on this thread.
pub fn hosted_count() -> usize {
    HOSTED.with(|hosted| hosted.borrow().len())
}

/// Every tick port hosted on this thread, in symbol order.
pub fn hosted_ports() -> Vec<TickPort> {
    HOSTED.with(|hosted| {
        let hosted = hosted.borrow();
        let mut symbols: Vec<&Symbol> = hosted.keys().collect();
        symbols.sort();
        symbols.into_iter().filter_map(|s| hosted.get(s).cloned()).collect()
    })
}

/// Ask a symbol actor for its tick → intent latencies.
#[derive(Message)]
#[rtype(result = "Option<hdrhistogram::Histogram<u64>>")]
pub struct GetTickToIntent;

impl Handler<GetTickToIntent> for SymbolActor {
    type Result = MessageResult<GetTickToIntent>;
    fn handle(&mut self, _: GetTickToIntent, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.borrow().tick_to_intent())
    }
}

/// Ask a symbol actor for its intent → order latencies (an agent's accepted intents, from
/// the endpoint reading the frame to the order handed to the bridge).
#[derive(Message)]
#[rtype(result = "Option<hdrhistogram::Histogram<u64>>")]
pub struct GetIntentToOrder;

impl Handler<GetIntentToOrder> for SymbolActor {
    type Result = MessageResult<GetIntentToOrder>;
    fn handle(&mut self, _: GetIntentToOrder, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.borrow().intent_to_order())
    }
}

/// Publish the symbol's status on the board now (the end of a run reads the board: every
/// tick stepped since the last timer must be in it).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PublishStatus;

impl Handler<PublishStatus> for SymbolActor {
    type Result = ();
    fn handle(&mut self, _: PublishStatus, _: &mut Context<Self>) {
        self.state.borrow().publish_status();
    }
}

impl Actor for SymbolActor {
    type Context = Context<Self>;

    /// Starts the core; its timer is the shard's beat (`crate::shard_beat`).
    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(256);
        self.state.borrow_mut().start();
    }

    /// Stops stepping and leaves this thread's table, so nothing keeps the state alive.
    fn stopped(&mut self, _: &mut Context<Self>) {
        let symbol = {
            let mut state = self.state.borrow_mut();
            state.stop();
            state.symbol()
        };
        HOSTED.with(|hosted| hosted.borrow_mut().remove(&symbol));
    }
}

/// A tick that came by the mailbox (the feed's fallback; see [`TickPort`]).
impl Handler<TickArrived> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: TickArrived, _: &mut Context<Self>) {
        self.state.borrow_mut().on_tick(msg);
    }
}

impl Handler<GatewayReport> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: GatewayReport, _: &mut Context<Self>) {
        self.state.borrow_mut().on_report(msg);
    }
}

impl Handler<RequestTimedOut> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: RequestTimedOut, _: &mut Context<Self>) {
        self.state.borrow_mut().on_timed_out(msg);
    }
}

impl Handler<JournalWriteFailed> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: JournalWriteFailed, _: &mut Context<Self>) {
        self.state.borrow_mut().on_journal_failed(msg);
    }
}

impl Handler<AgentIntent> for SymbolActor {
    type Result = MessageResult<AgentIntent>;
    fn handle(&mut self, msg: AgentIntent, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.state.borrow_mut().on_agent_intent(msg))
    }
}

impl Handler<SetAgentLiveness> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: SetAgentLiveness, _: &mut Context<Self>) {
        self.state.borrow_mut().on_agent_liveness(msg);
    }
}

impl Handler<SetSymbolFlags> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: SetSymbolFlags, _: &mut Context<Self>) {
        self.state.borrow_mut().on_flags(msg);
    }
}

impl Handler<Reconcile> for SymbolActor {
    type Result = ();
    fn handle(&mut self, msg: Reconcile, _: &mut Context<Self>) {
        self.state.borrow_mut().on_reconcile(msg);
    }
}

impl Handler<OperatorCommand> for SymbolActor {
    type Result = Result<String, String>;
    fn handle(&mut self, msg: OperatorCommand, _: &mut Context<Self>) -> Self::Result {
        self.state.borrow_mut().on_operator(msg)
    }
}

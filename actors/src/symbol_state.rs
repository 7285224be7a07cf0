//! `SymbolState`: everything one symbol's actor owns (its `SymbolCore`: EFSM, book,
//! strategy, exits; its outputs, histograms and step budget) and every step it takes: a
//! tick, a report, a timeout, an agent's intent, a reconcile, an operator's command. It
//! moves inputs into the core and the core's actions out; it decides nothing itself.
//!
//! The actor shell (`crate::symbol_actor`) owns it and calls these steps from its message
//! handlers; the shard's feed calls [`SymbolState::on_tick`] directly on the same thread
//! (`crate::symbol_actor::TickPort`), so a tick costs no mailbox round.
//!
//! Isolation: a panic inside the core is caught, logged, counted and halts only this symbol.
//! A step that runs longer than the step budget (a strategy that blocks) stalls its
//! shard-mates once: it halts this symbol (`step_overrun`), which is fed no more ticks until
//! an operator resumes it. A step that never returns stalls its shard for good; the other
//! shards keep trading.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use engine::discrepancy::Discrepancy;
use engine::efsm::{ExecState, HaltReason};
use engine::risk::PortfolioRisk;
use engine::symbol_core::{Action, DurableSymbol, SymbolCore};

use crate::agents::stream_symbol::SymbolStream;
use crate::bridge::local_reject_report;
use crate::data_clock::{HeldTicks, TickGate};
use crate::journal::{ShardJournal, GROUP_COMMIT_WITHIN};
use protocol::{SessionId, Symbol};
use tracing::{debug, error, info, warn};
use trade_ledger::LedgerRow;

use crate::messages::*;
use crate::outbox::OutboxItem;
use crate::status::StatusBoard;
use crate::time::wall_ns;

/// Where a symbol actor sends its outputs.
#[derive(Clone)]
pub struct SymbolOutputs {
    pub orders: Recipient<SubmitOrder>,
    pub queries: Recipient<SubmitStatusQuery>,
    pub pnl: Recipient<FoldPnl>,
    /// Where durable state goes (`None`: not persisted).
    pub state: Option<Recipient<crate::state_store::SaveSymbolState>>,
    /// Where a snapshot is asked for after a discrepancy (the reply reconciles every symbol).
    pub snapshots: Recipient<RequestSnapshot>,
    /// The shard's front to the write-ahead journal (`None`: nothing persisted).
    pub journal: Option<Arc<ShardJournal>>,
    /// Where trade-ledger rows go (the shard's outbox; `None`: no ledger).
    pub ledger: Option<Recipient<RecordLedger>>,
    /// The execution stream (an agent-driven symbol with the stream on; `None`: off).
    pub stream: Option<crate::agents::stream::StreamSender>,
}

pub struct SymbolState {
    core: SymbolCore,
    risk: Arc<PortfolioRisk>,
    outputs: SymbolOutputs,
    board: StatusBoard,
    panics: u64,
    feed_session: Option<SessionId>,
    /// Tick received → order decided, µs; allocated on the first decision.
    tick_to_intent: Option<hdrhistogram::Histogram<u64>>,
    /// An agent's accepted intents: the endpoint's read to the order handed on (µs).
    intent_to_order: Option<hdrhistogram::Histogram<u64>>,
    /// The durable state last appended to the journal.
    journaled: DurableSymbol,
    /// A step longer than this halts the symbol (its shard-mates waited that long).
    step_budget: Duration,
    /// Halted for a step overrun (or a panic outside the core's step): ticks are not
    /// stepped until an operator resumes it.
    overran: bool,
    /// Steps over the budget because the shard thread waited for a CPU (not halted).
    scheduler_delays: u64,
    /// Ticks not stepped because of an overrun halt.
    ticks_skipped: u64,
    /// On the data clock (a replay): the last tick's time and the ticks held while an order
    /// is on the wire (`crate::data_clock`). `None`: the wall clock.
    data_clock: Option<DataClock>,
    /// An agent-driven symbol's execution-stream events (`None`: not published).
    stream: Option<SymbolStream>,
    /// Started and not stopped (see [`Self::is_running`]).
    running: bool,
    /// The shard's outbox, pushed into directly (see [`Self::outbox`]).
    outbox: Option<crate::outbox::OutboxPort>,
}

/// A symbol's data clock.
struct DataClock {
    last_tick_ns: Option<u64>,
    held: HeldTicks,
}

/// The default step budget: far above any healthy step (tens of nanoseconds to a few
/// microseconds), far below what a shard's other symbols can wait.
pub const DEFAULT_STEP_BUDGET: Duration = Duration::from_millis(50);

impl SymbolState {
    pub fn new(core: SymbolCore, risk: Arc<PortfolioRisk>, outputs: SymbolOutputs, board: StatusBoard) -> SymbolState {
        let core_durable = core.durable();
        SymbolState {
            core,
            risk,
            outputs,
            board,
            panics: 0,
            feed_session: None,
            tick_to_intent: None,
            intent_to_order: None,
            journaled: core_durable,
            step_budget: DEFAULT_STEP_BUDGET,
            overran: false,
            scheduler_delays: 0,
            ticks_skipped: 0,
            data_clock: None,
            stream: None,
            running: false,
            outbox: None,
        }
    }

    /// Publishes this symbol's execution-stream events on behalf of `agent` (its authority),
    /// when `outputs.stream` is set.
    pub fn with_stream_for(mut self, agent: Option<engine::agent::AgentId>) -> SymbolState {
        let symbol = self.symbol();
        self.stream = match (agent, self.outputs.stream.clone()) {
            (Some(agent), Some(tx)) => Some(SymbolStream::new(tx, agent, symbol)),
            _ => None,
        };
        self
    }

    /// Runs this symbol on the data clock (see [`crate::data_clock`]); `gate` closes while
    /// its held ticks are at their bound.
    pub fn with_data_clock(mut self, gate: TickGate) -> SymbolState {
        self.data_clock = Some(DataClock { last_tick_ns: None, held: HeldTicks::new(gate) });
        self
    }

    /// The time for the core: the wall clock, or on the data clock the last tick's time
    /// (the wall clock before the first tick).
    fn now(&self) -> u64 {
        self.data_clock.as_ref().and_then(|d| d.last_tick_ns).unwrap_or_else(wall_ns)
    }

    /// On the data clock, ticks wait while an order is unresolved or the symbol reconciles.
    fn must_hold_ticks(&self) -> bool {
        self.core.has_unresolved_order() || matches!(self.core.state(), ExecState::Reconciling { .. })
    }

    /// On the data clock: steps the held ticks, in order, until one puts an order on the
    /// wire again (or none is left).
    fn step_held_ticks(&mut self) {
        while !self.must_hold_ticks() {
            let Some(tick) = self.data_clock.as_mut().and_then(|d| d.held.pop()) else { return };
            self.step_tick(tick);
        }
    }

    /// One tick through the core, at the wall time or (data clock) at the tick's own time.
    fn step_tick(&mut self, msg: TickArrived) {
        let now = match self.data_clock.as_mut() {
            Some(clock) => {
                clock.last_tick_ns = Some(msg.tick.ts_ns);
                // A gap in the data as long as the stale limit is a stale feed.
                self.core.check_feed(msg.tick.ts_ns);
                msg.tick.ts_ns
            }
            None => wall_ns(),
        };
        let orders_before = self.core.counters().orders;
        self.step("tick", |core, risk| core.on_tick(&msg.tick, now, risk));
        if self.core.counters().orders > orders_before {
            let micros = wall_ns().saturating_sub(msg.received_ns) / 1_000;
            let h = self.tick_to_intent.get_or_insert_with(crate::bridge::symbol_histogram);
            let _ = h.record(micros.max(1));
        }
    }

    /// Sets the step budget (see [`DEFAULT_STEP_BUDGET`]).
    pub fn with_step_budget(mut self, budget: Duration) -> SymbolState {
        self.step_budget = budget;
        self
    }

    pub fn symbol(&self) -> Symbol {
        self.core.symbol()
    }

    /// Whether a step over the budget stalled the shard by its own doing. A shard thread the
    /// OS did not run (it waited for a CPU while runnable: a busy machine) is not a symbol
    /// that stalled its shard; that is logged (`STEP_DELAYED_BY_SCHEDULER`) and counted, not
    /// halted.
    fn own_overrun(&mut self, what: &'static str, took: Duration) -> bool {
        let waited = crate::run_queue::waited_since_mark();
        if crate::run_queue::overran(took, waited, self.step_budget) {
            return true;
        }
        self.scheduler_delays += 1;
        let (took_ms, waited_ms) = (took.as_secs_f64() * 1e3, waited.map_or(0.0, |w| w.as_secs_f64() * 1e3));
        if self.scheduler_delays == 1 {
            warn!(target: "symbol", symbol = %self.symbol(), input = what, took_ms, waited_for_cpu_ms = waited_ms, "STEP_DELAYED_BY_SCHEDULER: over the step budget while its thread waited for a CPU; not the symbol's doing, not halted (further ones at DEBUG)");
        } else {
            debug!(target: "symbol", symbol = %self.symbol(), input = what, took_ms, waited_for_cpu_ms = waited_ms, "STEP_DELAYED_BY_SCHEDULER");
        }
        false
    }

    /// Runs one core step, catching a panic so that it halts this symbol only.
    fn step(&mut self, what: &'static str, f: impl FnOnce(&mut SymbolCore, &PortfolioRisk) -> Vec<Action>) {
        let actions = self.run_core(what, f);
        self.carry_out(actions);
    }

    /// One core step (see [`Self::step`]) whose actions are durable but not carried out yet.
    fn run_core(
        &mut self,
        what: &'static str,
        f: impl FnOnce(&mut SymbolCore, &PortfolioRisk) -> Vec<Action>,
    ) -> Vec<Action> {
        let risk = Arc::clone(&self.risk);
        let started = Instant::now();
        crate::run_queue::mark(started);
        let result = catch_unwind(AssertUnwindSafe(|| f(&mut self.core, &risk)));
        let took = started.elapsed();
        if took > self.step_budget && !self.overran && self.own_overrun(what, took) {
            self.overran = true;
            error!(target: "symbol", symbol = %self.symbol(), input = what, took_ms = took.as_secs_f64() * 1e3, budget_ms = self.step_budget.as_secs_f64() * 1e3, "SYMBOL_OVERRUN: one step stalled the shard; symbol halted and fed no more ticks until resumed");
            let mut actions = result.unwrap_or_else(|_| {
                self.panics += 1;
                Vec::new()
            });
            actions.extend(self.core.halt(HaltReason::Overrun));
            return self.make_durable(actions);
        }
        match result {
            Ok(actions) => self.make_durable(actions),
            Err(_) => {
                self.panics += 1;
                error!(target: "symbol", symbol = %self.symbol(), input = what, "SYMBOL_PANIC: core panicked; symbol halted");
                let actions = self.core.halt(HaltReason::Manual);
                self.make_durable(actions)
            }
        }
    }

    /// Adds the durable state to the shard's journal batch if this step changed it, before
    /// any of the step's actions is carried out. The shard's bridge writes the batch before
    /// it sends any order, so a booked fill is durable before the next order and an order
    /// before it leaves; a batch no order carries is written within
    /// [`GROUP_COMMIT_WITHIN`]. If the record cannot be made, no order leaves: each becomes
    /// a local reject and the symbol halts.
    fn make_durable(&mut self, actions: Vec<Action>) -> Vec<Action> {
        let Some(journal) = self.outputs.journal.as_ref() else { return actions };
        let state = self.core.durable();
        if state == self.journaled {
            return actions;
        }
        let symbol = self.core.symbol();
        match journal.append(symbol, &state) {
            Ok(arm_flush) => {
                if arm_flush {
                    let journal = Arc::clone(journal);
                    actix_rt::spawn(async move {
                        actix_rt::time::sleep(GROUP_COMMIT_WITHIN).await;
                        if let Err(e) = journal.timed_flush() {
                            error!(target: "state", error = %e, "JOURNAL_WRITE_FAILED: the shard's batch stays pending; no order leaves until it is written");
                        }
                    });
                }
                self.journaled = state;
                actions
            }
            Err(e) => {
                error!(target: "state", symbol = %symbol, error = %e, "JOURNAL_WRITE_FAILED: no order leaves without its record; symbol halted");
                let (orders, mut kept): (Vec<Action>, Vec<Action>) =
                    actions.into_iter().partition(|a| matches!(a, Action::PlaceOrder(_)));
                let risk = Arc::clone(&self.risk);
                for order in orders {
                    if let Action::PlaceOrder(o) = order {
                        let reject = local_reject_report(o.symbol, o.intent_id, o.side, "durable journal write failed");
                        kept.extend(self.core.on_report(&reject, self.now(), &risk));
                    }
                }
                kept.extend(self.core.halt(HaltReason::Manual));
                kept
            }
        }
    }

    fn carry_out(&mut self, actions: Vec<Action>) {
        let symbol = self.symbol();
        if self.stream.is_some() {
            self.stream_actions(&actions);
        }
        for action in actions {
            match action {
                Action::PlaceOrder(order) => {
                    debug!(target: "symbol", symbol = %symbol, intent_id = order.intent_id.0, side = %order.side, qty = %order.qty, "ORDER_DECIDED");
                    // On the data clock the frame header carries the decision's data time.
                    let header_ts_ns = self.data_clock.as_ref().map(|_| self.now());
                    self.outputs.orders.do_send(SubmitOrder { order, header_ts_ns });
                    self.record(LedgerRow::Order(order));
                }
                Action::QueryStatus { intent_id } => {
                    self.outputs.queries.do_send(SubmitStatusQuery { symbol, intent_id });
                }
                Action::Pnl(delta) => self.send_to_outbox(OutboxItem::Pnl(delta)),
                Action::FillBooked(fill) => self.record(LedgerRow::Fill(fill)),
                Action::TradeClosed(trade) => self.record(LedgerRow::Trade(trade)),
                Action::BookAdjusted(adjustment) => self.record(LedgerRow::Adjustment(adjustment)),
                Action::Transition { from, to, event } => {
                    debug!(target: "efsm", symbol = %symbol, from, to, event, "EFSM_TRANSITION");
                }
                Action::EfsmError(err) => {
                    error!(target: "efsm", symbol = %symbol, state = err.state, event = err.event, error = err.reason, "EFSM_ERROR");
                }
                Action::Refused(refusal) => {
                    debug!(target: "risk", symbol = %symbol, reason = refusal.code(), "REFUSED");
                }
                Action::Discrepancy(d) => log_discrepancy(symbol, &d),
                Action::ReconcileMismatch { mismatch: m, halts: false } => {
                    warn!(
                        target: "symbol",
                        symbol = %symbol,
                        field = m.field.as_str(),
                        local = %engine::Position::describe(m.local),
                        venue = %engine::Position::describe(m.venue),
                        "VENUE_DIFFERS: the books still differ from the venue's snapshot; the symbol stays halted until an operator adopts and resumes"
                    );
                }
                Action::ReconcileMismatch { mismatch: m, halts: true } => {
                    error!(
                        target: "symbol",
                        symbol = %symbol,
                        field = m.field.as_str(),
                        local = %engine::Position::describe(m.local),
                        venue = %engine::Position::describe(m.venue),
                        local_realized = %m.local_session.0,
                        venue_realized = %m.venue_session.0,
                        local_fees = %m.local_session.1,
                        venue_fees = %m.venue_session.1,
                        "RECONCILE_MISMATCH: the book and the venue's snapshot differ; symbol halted"
                    );
                }
                Action::RequestSnapshot => self.outputs.snapshots.do_send(RequestSnapshot),
            }
        }
        for t in self.risk.drain_breaker_transitions() {
            warn!(target: "risk", from = t.from, to = t.to, cause = t.cause.as_str(), drawdown = %t.drawdown, at_ns = t.at, "BREAKER_TRANSITION");
        }
    }

    /// The step's stream events, before its orders leave. The board gets the new status
    /// first, so a `snapshot` at stream seq N already reflects every event up to N.
    fn stream_actions(&mut self, actions: &[Action]) {
        let halt = match self.core.state() {
            ExecState::Halted { reason } => Some(*reason),
            _ => None,
        };
        if !self.stream.as_ref().is_some_and(|s| s.has_events(actions, halt)) {
            return;
        }
        let now = self.now();
        let position = self.core.book().position();
        self.board.publish(self.core.status());
        let Some(stream) = self.stream.as_mut() else { return };
        for action in actions {
            stream.action(action, position, now);
        }
        stream.halt_state(halt, now);
    }

    /// A row for the trade ledger, through the shard's outbox (batched there).
    fn record(&mut self, row: LedgerRow) {
        if self.outputs.ledger.is_some() {
            self.send_to_outbox(OutboxItem::Row(row));
        }
    }

    /// Hands `item` to the shard's outbox: pushed with a direct call once the outbox is
    /// found on this thread (it starts before the shard's symbols), else by the message of
    /// `outputs` that carries it.
    fn send_to_outbox(&mut self, item: OutboxItem) {
        if self.outbox.is_none() {
            self.outbox = crate::outbox::hosted_port();
        }
        if let Some(port) = &self.outbox {
            port.push(item);
            return;
        }
        match item {
            OutboxItem::Pnl(delta) => self.outputs.pnl.do_send(FoldPnl { delta }),
            OutboxItem::State(symbol, state) => {
                if let Some(store) = &self.outputs.state {
                    store.do_send(crate::state_store::SaveSymbolState { symbol, state });
                }
            }
            OutboxItem::Row(row) => {
                if let Some(ledger) = &self.outputs.ledger {
                    ledger.do_send(RecordLedger { row });
                }
            }
        }
    }

    fn publish(&self) {
        self.board.publish(self.core.status());
    }

    /// Publishes the status on the board now.
    pub fn publish_status(&self) {
        self.publish();
    }

    /// Sends the durable state to the store (it ignores unchanged states).
    fn persist(&mut self) {
        if self.outputs.state.is_none() {
            return;
        }
        self.send_to_outbox(OutboxItem::State(self.symbol(), self.core.durable()));
    }
}

/// One discrepancy at ERROR: the order the engine sent and the report, side by side.
fn log_discrepancy(symbol: Symbol, d: &Discrepancy) {
    let (asked_intent, asked_side, asked_qty, asked_filled) = match d.expected {
        Some(o) => (o.intent.0, o.side.to_string(), o.qty.to_string(), o.filled.to_string()),
        None => (0, "-".to_string(), "-".to_string(), "-".to_string()),
    };
    let r = &d.report;
    error!(
        target: "symbol",
        symbol = %symbol,
        code = d.code.as_str(),
        asked_intent,
        asked_side = %asked_side,
        asked_qty = %asked_qty,
        asked_filled_before = %asked_filled,
        report_intent = r.intent.0,
        report_exec_id = r.exec_id,
        report_side = %r.side,
        report_last_qty = %r.last_qty,
        report_last_px = %r.last_px,
        report_cum_qty = %r.cum_qty,
        report_terminal = r.terminal,
        reference_px = %d.reference.map_or("-".to_string(), |p| p.to_string()),
        "DISCREPANCY: report contradicts the order; not booked, symbol halted, snapshot requested"
    );
}

/// The steps the actor shell's handlers (and, for ticks, the shard's feed) call.
impl SymbolState {
    /// The actor started: no trading until the gateway's positions have been compared with
    /// ours.
    pub fn start(&mut self) {
        let now = self.now();
        self.step("start", |core, _| core.start(now));
        self.publish();
        self.running = true;
    }

    /// A panic outside the core's own step (the shell's code: the stream, the journal
    /// record, the held ticks): logged, counted, and the symbol halts and takes no more
    /// ticks until an operator resumes it.
    pub fn halt_after_panic(&mut self, what: &'static str) {
        self.panics += 1;
        self.overran = true;
        error!(target: "symbol", symbol = %self.symbol(), input = what, "SYMBOL_PANIC: the symbol's step panicked; symbol halted and fed no more ticks until resumed");
        let actions = self.core.halt(HaltReason::Manual);
        if catch_unwind(AssertUnwindSafe(|| self.carry_out(actions))).is_err() {
            self.panics += 1;
        }
        self.publish();
    }

    /// The actor stopped: ticks are no longer stepped, and the outbox is let go.
    pub fn stop(&mut self) {
        self.running = false;
        self.outbox = None;
        self.publish();
        let (held, held_dropped) = self.data_clock.as_ref().map_or((0, 0), |d| (d.held.len(), d.held.dropped()));
        info!(target: "symbol", symbol = %self.symbol(), panics = self.panics, ticks_skipped = self.ticks_skipped, held, held_dropped, "symbol actor stopped");
    }

    /// Started and not stopped: a tick may be stepped.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// The periodic timer (every `crate::shard_beat::TIMER_EVERY`): time-based rules on the
    /// wall clock, and the status board.
    pub fn on_timer(&mut self) {
        // On the data clock no time passes between ticks: every time-based rule is judged
        // at a tick's own time (a beat of the wall clock would land at a different place in
        // the data at each speed).
        if self.data_clock.is_none() {
            let now = wall_ns();
            self.step("timer", |core, risk| core.on_timer(now, risk));
        }
        self.publish();
    }

    /// A tick: the core steps; exits and entries may follow.
    pub fn on_tick(&mut self, msg: TickArrived) {
        if self.feed_session.is_some_and(|s| s != msg.session_id) {
            info!(target: "symbol", symbol = %self.symbol(), "FEED_SESSION_CHANGED: market-data sequence restarted; resyncing");
            self.core.reset_feed();
        }
        self.feed_session = Some(msg.session_id);
        if self.overran {
            self.ticks_skipped += 1;
            return;
        }
        let hold = self.must_hold_ticks();
        if let Some(clock) = self.data_clock.as_mut() {
            if hold || !clock.held.is_empty() {
                if !clock.held.push(msg) && clock.held.dropped() == 1 {
                    warn!(target: "symbol", symbol = %self.symbol(), "HELD_TICKS_FULL: ticks held behind an unresolved order are dropped (counted; the feed resyncs)");
                }
                return;
            }
        }
        self.step_tick(msg);
    }

    /// An execution report (live or replayed) for this symbol.
    pub fn on_report(&mut self, msg: GatewayReport) {
        let now = self.now();
        self.step("report", |core, risk| core.on_report(&msg.report, now, risk));
        self.step_held_ticks();
        self.publish();
        self.persist();
    }

    /// The bridge gave up waiting: the order's outcome is unknown.
    pub fn on_timed_out(&mut self, msg: RequestTimedOut) {
        let now = self.now();
        if matches!(self.core.state(), ExecState::Unknown { .. }) {
            debug!(target: "symbol", symbol = %self.symbol(), intent_id = msg.intent_id.0, "status query unanswered; asking again");
        } else {
            warn!(target: "symbol", symbol = %self.symbol(), intent_id = msg.intent_id.0, "ORDER_UNKNOWN: no answer before the deadline; querying status (repeats are logged at DEBUG)");
        }
        self.step("timeout", |core, risk| core.on_order_timeout(msg.intent_id, now, risk));
        self.step_held_ticks();
        self.publish();
    }

    /// The shard's journal could not be written before this symbol's order: the order was
    /// rejected locally; the symbol halts.
    pub fn on_journal_failed(&mut self, msg: JournalWriteFailed) {
        error!(target: "state", symbol = %self.symbol(), error = %msg.error, "JOURNAL_WRITE_FAILED: no order leaves without its record; symbol halted");
        let actions = self.core.halt(HaltReason::Manual);
        self.carry_out(actions);
        self.publish();
    }

    /// An agent's decision: through the core's guards, answered with the order's intent id
    /// or the refusal.
    pub fn on_agent_intent(&mut self, msg: AgentIntent) -> Result<IntentPlaced, engine::agent::AgentRefusal> {
        let now = self.now();
        let mut verdict = Err(engine::agent::AgentRefusal::NotTrading);
        let actions = self.run_core("agent_intent", |core, risk| {
            let (answer, actions) = core.on_agent_intent(&msg.decision, now, risk);
            verdict = answer;
            actions
        });
        // An entry's qty is its order's (an `equity_fraction` is sized by the core).
        let qty = match (&verdict, msg.decision.command.entry_direction()) {
            (Ok(order), Some(_)) => actions.iter().find_map(|a| match a {
                Action::PlaceOrder(o) if o.intent_id == *order => Some(o.qty),
                _ => None,
            }),
            _ => None,
        };
        // The answer's event before the order's (`intent_accepted`, then `order_sent`).
        if let Some(stream) = self.stream.as_mut() {
            stream.intent_decided(msg.client_id.as_ref(), &msg.decision, &verdict, qty, now);
        }
        self.carry_out(actions);
        if verdict.is_ok() && msg.received_ns > 0 {
            let micros = wall_ns().saturating_sub(msg.received_ns) / 1_000;
            let h = self.intent_to_order.get_or_insert_with(crate::bridge::symbol_histogram);
            let _ = h.record(micros.max(1));
        }
        self.publish();
        verdict.map(|order| IntentPlaced { order, qty })
    }

    /// The agent router's word on this symbol's agent: silent (entries refused; with
    /// flatten the open position is closed) or alive again.
    pub fn on_agent_liveness(&mut self, msg: SetAgentLiveness) {
        let now = self.now();
        self.step("agent_liveness", |core, risk| core.set_liveness(msg.liveness, now, risk));
        self.publish();
    }

    /// Control flags for this symbol changed.
    pub fn on_flags(&mut self, msg: SetSymbolFlags) {
        self.core.set_flags(msg.flags);
    }

    /// Compare with the gateway's ledger (a snapshot after a (re)connect or a discrepancy).
    /// Symbols with an order in flight skip it: their status query resolves them.
    pub fn on_reconcile(&mut self, msg: Reconcile) {
        let now = self.now();
        if msg.after_reconnect {
            self.step("reconcile", |core, risk| core.reconcile_after_reconnect(&msg.venue, now, risk));
        } else {
            self.step("reconcile", |core, risk| core.reconcile(&msg.venue, now, risk));
        }
        self.step_held_ticks();
        self.persist();
        self.publish();
    }

    /// An operator's adopt or resume of this (halted) symbol, logged with who asked.
    pub fn on_operator(&mut self, msg: OperatorCommand) -> Result<String, String> {
        let now = self.now();
        let risk = Arc::clone(&self.risk);
        if msg.fills_before.is_some_and(|n| n != self.core.counters().fills) {
            let text = format!(
                "{} {}: a fill was booked while the snapshot was fetched; nothing changed, ask again",
                msg.action.as_str(),
                self.symbol()
            );
            warn!(target: "control", symbol = %self.symbol(), action = msg.action.as_str(), who = %msg.who, "OPERATOR_COMMAND: refused (snapshot older than the books)");
            return Err(text);
        }
        let result = match msg.action {
            OperatorAction::Adopt => self.core.adopt(&msg.venue, now, &risk),
            OperatorAction::Resume => self.core.resume(&msg.venue, now, &risk),
        };
        let symbol = self.symbol();
        let answer = match result {
            Ok(actions) => {
                let actions = self.make_durable(actions);
                self.carry_out(actions);
                if msg.action == OperatorAction::Resume {
                    self.overran = false;
                }
                let s = self.core.status();
                let position = engine::Position::describe(s.position);
                warn!(target: "control", symbol = %symbol, action = msg.action.as_str(), who = %msg.who, state = s.state, position = %position, realized = %s.realized, fees = %s.fees, "OPERATOR_COMMAND: done");
                Ok(format!("{} {}: state {}, position {}", msg.action.as_str(), symbol, s.state, position))
            }
            Err(e) => {
                warn!(target: "control", symbol = %symbol, action = msg.action.as_str(), who = %msg.who, error = %e, "OPERATOR_COMMAND: refused");
                Err(format!("{} {}: {e}", msg.action.as_str(), symbol))
            }
        };
        self.step_held_ticks();
        self.persist();
        self.publish();
        answer
    }

    /// Tick received → order decided (µs), once a decision was made.
    pub fn tick_to_intent(&self) -> Option<hdrhistogram::Histogram<u64>> {
        self.tick_to_intent.clone()
    }

    /// An agent's accepted intents: the endpoint's read to the order handed on (µs).
    pub fn intent_to_order(&self) -> Option<hdrhistogram::Histogram<u64>> {
        self.intent_to_order.clone()
    }
}

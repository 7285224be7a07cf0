//! `SymbolCore`: everything one symbol decides, as a plain struct.
//!
//! The owner (an actor) feeds it ticks, execution reports, order timeouts and timer beats,
//! with the current time, and carries out the [`Action`]s it returns. A decision to trade
//! checks its guards (risk, control, cooldowns) before the EFSM transition that sends the
//! order; an execution report books its fill first (de-duplicated by `exec_id`) and then
//! applies the EFSM transition with the resulting position. A position changes only when a
//! fill report says so; a close moves the EFSM to Flat in the same call that books the
//! closing fill.

use protocol::{ExecReport, ExecType, IntentId, Money, OrdStatus, OrdType, Price, Qty, RejectCode, Side, Symbol, Tick};

use crate::agent::{
    qty_for_fraction, AgentCommand, AgentDecision, AgentRefusal, Authority, FractionEntry, Liveness, OnSilence,
};
use crate::book::{FillEffect, FillOutcome, Position, PositionBook};
use crate::clock::TimeNs;
use crate::discrepancy::{
    vet_fill, Discrepancy, DiscrepancyCode, DiscrepancyCounts, FinishedIntents, PriceBand, ReportFacts, SentOrder,
};
use crate::efsm::{
    Direction, Efsm, ExecEvent, ExecState, ExitReason, HaltReason, InvalidTransition, OpenTrade, PendingOrder,
    ReportOutcome,
};
use crate::exits::{exit_due, Cooldowns, TrailState};
use crate::intent::{ExitRules, Intent, IntentLimits};
use crate::ledger::PnlDelta;
use crate::reconcile::{compare, Mismatch, VenueBaseline, VenueView};
use crate::risk::breaker::Admission;
use crate::risk::control::ControlFlags;
use crate::risk::limits::RateLimit;
use crate::risk::portfolio::PortfolioRisk;
use crate::risk::Refusal;
use crate::strategy::{Signal, Strategy};
use crate::trade::{BookAdjustment, BookedFill, ClosedTrade, DecidedBy, TradeTracker};

/// Per-symbol settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreConfig {
    pub symbol: Symbol,
    pub intent_limits: IntentLimits,
    /// No tick for this long makes the feed stale: entries are refused until `resync_ticks`
    /// fresh ticks have arrived.
    pub stale_after_ns: u64,
    /// After a market-data gap or a stale spell, entries resume on the `resync_ticks`-th
    /// in-sequence tick after the one that ended it.
    pub resync_ticks: u32,
    /// Exit rules given to a position rebuilt by reconciliation.
    pub reconcile_rules: ExitRules,
    /// How far from the market a fill may be before it is a discrepancy.
    pub price_band: PriceBand,
    /// Who decides entries and strategy exits: the built-in strategy or one agent.
    pub authority: Authority,
}

impl CoreConfig {
    pub fn new(symbol: Symbol) -> CoreConfig {
        CoreConfig {
            symbol,
            intent_limits: IntentLimits::default(),
            stale_after_ns: 2_000_000_000,
            resync_ticks: 3,
            reconcile_rules: ExitRules::default(),
            price_band: PriceBand::default(),
            authority: Authority::Strategy,
        }
    }
}

/// The part of a symbol's state that survives a restart (journaled by the shell before the
/// symbol's next order leaves, restored before reconciliation against the gateway).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DurableSymbol {
    pub position: Option<Position>,
    pub cooldowns: Cooldowns,
    /// The order on the wire, written before it is sent: after a crash it is restored as
    /// `Unknown` and asked for, so its fills are booked, never lost or invented.
    #[serde(default)]
    pub pending: Option<PendingRecord>,
}

/// An order on the wire, as the durable state records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PendingRecord {
    pub intent: IntentId,
    /// The order's side, as the direction it opens (Buy = Long).
    pub side: Direction,
    pub qty: Qty,
    /// Booked of it so far.
    pub filled: Qty,
    /// An entry's direction; `None` for an exit.
    pub entry: Option<Direction>,
}

/// Why an order is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderPurpose {
    Entry(Direction),
    Exit(ExitReason),
}

/// An order the owner must put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    pub intent_id: IntentId,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Qty,
    pub ord_type: OrdType,
    pub limit_price: Option<Price>,
    pub purpose: OrderPurpose,
    /// When the core decided it (the time it was given).
    pub placed_at: TimeNs,
}

/// What the owner must do after an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    PlaceOrder(OrderRequest),
    /// Ask the gateway about an order whose outcome is unknown.
    QueryStatus {
        intent_id: IntentId,
    },
    /// A fill changed PnL; fold it into the metrics.
    Pnl(PnlDelta),
    /// A fill was booked (for the trade ledger).
    FillBooked(BookedFill),
    /// A trade closed: exactly one per trade, after the fill (or the adopt) that closed it.
    TradeClosed(ClosedTrade),
    /// The book's PnL changed without a fill (an operator's adopt).
    BookAdjusted(BookAdjustment),
    /// An EFSM transition happened (audit record).
    Transition {
        from: &'static str,
        to: &'static str,
        event: &'static str,
    },
    /// An input had no legal EFSM edge (already counted).
    EfsmError(InvalidTransition),
    /// A decision was refused.
    Refused(Refusal),
    /// A report contradicted what was asked: not booked, the symbol halted (log at ERROR).
    Discrepancy(Discrepancy),
    /// The book and the venue's snapshot disagree: `halts` when this halts the symbol (log
    /// at ERROR); otherwise it was already halted for a discrepancy and waits for an
    /// operator (log at WARN).
    ReconcileMismatch {
        mismatch: Mismatch,
        halts: bool,
    },
    /// Ask the gateway for a position snapshot (after a discrepancy).
    RequestSnapshot,
}

/// Why an operator's `adopt` or `resume` was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperatorError {
    #[error("the symbol is not halted (state {0})")]
    NotHalted(&'static str),
    #[error("an order of this symbol is still unresolved; wait for its report or status query")]
    OrderUnresolved,
    #[error("the books do not follow the venue ({}); adopt the venue's position first", .0.field.as_str())]
    BooksDiffer(Mismatch),
}

/// Health of this symbol's market data. Entries need `Ok`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedHealth {
    NoData,
    Ok,
    /// No tick for `stale_after`.
    Stale,
    /// After a gap or a stale spell: waiting for this many more in-sequence ticks.
    Resyncing {
        remaining: u32,
        after: FeedFault,
    },
}

/// What interrupted the feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedFault {
    Gap,
    Stale,
}

/// Counters for the status line and the report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CoreCounters {
    pub ticks: u64,
    pub md_gaps: u64,
    pub md_out_of_order: u64,
    pub orders: u64,
    pub fills: u64,
    pub duplicate_fills: u64,
    pub rejects: u64,
    pub timeouts: u64,
    pub refusals: u64,
    pub stale_reports: u64,
    /// Terminal reports whose `cum_qty` showed fills never received (then asked for).
    pub missed_fills: u64,
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    /// Booked fills whose trade record could not be computed (arithmetic overflow): the
    /// fill is recorded, its trade is not. Zero in any sane run.
    pub trade_record_errors: u64,
}

/// A point-in-time view of one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolStatus {
    pub symbol: Symbol,
    pub state: &'static str,
    pub position: Option<Position>,
    pub realized: Money,
    pub fees: Money,
    pub unrealized: Money,
    pub exposure: Money,
    pub order_in_flight: Option<IntentId>,
    pub feed: FeedHealth,
    pub efsm_errors: u64,
    pub counters: CoreCounters,
    /// Why the symbol is halted, when it is.
    pub halt_reason: Option<HaltReason>,
    pub discrepancies: DiscrepancyCounts,
    pub last_discrepancy: Option<DiscrepancyCode>,
    /// The venue's PnL and fees before this session (set at first contact).
    pub venue_baseline: Option<VenueBaseline>,
    /// Whether the last snapshot agreed with the book (`None`: none seen yet).
    pub venue_agrees: Option<bool>,
    /// When the last tick was taken (the core's clock; 0: none yet).
    pub last_tick_at: TimeNs,
}

impl SymbolStatus {
    /// Halted (its reason in `halt_reason`); `state` is the name, for display only.
    pub const fn is_halted(&self) -> bool {
        self.halt_reason.is_some()
    }
}

/// The per-symbol core.
pub struct SymbolCore {
    config: CoreConfig,
    efsm: Efsm,
    book: PositionBook,
    strategy: Box<dyn Strategy>,
    trail: TrailState,
    cooldowns: Cooldowns,
    rate: RateLimit,
    flags: ControlFlags,
    last_tick: Option<Tick>,
    last_tick_at: TimeNs,
    feed: FeedHealth,
    /// What this symbol currently holds in the shared exposure budget.
    reserved: Money,
    /// Estimated notional of the entry in flight (kept reserved until it is done).
    entry_estimate: Money,
    /// Fees and realized PnL of the trade now open, for its win/loss verdict.
    trade_net: Money,
    pnl_seq: u64,
    counters: CoreCounters,
    /// The entry sent as the circuit breaker's half-open probe (and when the permit was
    /// granted), until it resolves.
    probe: Option<(IntentId, TimeNs)>,
    /// The order whose timeout was already counted as a failure (never counted twice, even
    /// if it goes Unknown → working → timed out again).
    failure_counted: Option<IntentId>,
    /// An order that was on the wire when the symbol halted: its outcome is still booked
    /// and counted (and asked for after a timeout).
    orphan: Option<OrphanOrder>,
    /// The order on the wire (or orphaned), as its reports are vetted against it.
    sent: Option<SentOrder>,
    /// Orders already done (a new fill for one is a discrepancy).
    finished: FinishedIntents,
    discrepancies: DiscrepancyCounts,
    last_discrepancy: Option<DiscrepancyCode>,
    venue_baseline: Option<VenueBaseline>,
    venue_agrees: Option<bool>,
    /// A snapshot was skipped while an order was unresolved (or an order was restored):
    /// once the order resolves, the symbol reconciles and asks for a fresh snapshot.
    reconcile_owed: bool,
    /// The trades of this symbol as records (fills, closes, adjustments).
    trades: TradeTracker,
    /// An agent-driven symbol's agent, as the agent router last said (always `Alive` for
    /// a strategy's symbol).
    liveness: Liveness,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct OrphanOrder {
    intent: IntentId,
    /// Already counted as a failure by a timeout.
    timed_out: bool,
    /// For an entry: its direction (its exposure stays reserved until it resolves).
    entry: Option<Direction>,
}

impl SymbolCore {
    pub fn new(config: CoreConfig, strategy: Box<dyn Strategy>, risk: &PortfolioRisk) -> SymbolCore {
        SymbolCore {
            config,
            efsm: Efsm::default(),
            book: PositionBook::default(),
            strategy,
            trail: TrailState::default(),
            cooldowns: Cooldowns::default(),
            rate: RateLimit::per_second(risk.config().max_orders_per_sec_symbol),
            flags: ControlFlags::default(),
            last_tick: None,
            last_tick_at: 0,
            feed: FeedHealth::NoData,
            reserved: Money::ZERO,
            entry_estimate: Money::ZERO,
            trade_net: Money::ZERO,
            pnl_seq: 0,
            counters: CoreCounters::default(),
            probe: None,
            failure_counted: None,
            orphan: None,
            sent: None,
            finished: FinishedIntents::default(),
            discrepancies: DiscrepancyCounts::default(),
            last_discrepancy: None,
            venue_baseline: None,
            venue_agrees: None,
            reconcile_owed: false,
            trades: TradeTracker::default(),
            liveness: Liveness::Alive,
        }
    }

    pub fn symbol(&self) -> Symbol {
        self.config.symbol
    }
    pub fn state(&self) -> &ExecState {
        self.efsm.state()
    }
    pub fn book(&self) -> &PositionBook {
        &self.book
    }
    pub fn cooldowns(&self) -> Cooldowns {
        self.cooldowns
    }
    pub fn counters(&self) -> CoreCounters {
        self.counters
    }
    pub fn efsm_errors(&self) -> u64 {
        self.efsm.errors()
    }
    pub fn flags(&self) -> ControlFlags {
        self.flags
    }
    /// The trade now open (fills so far), for the ledger's comparisons.
    pub fn open_trade(&self) -> Option<&crate::trade::OpenTradeRecord> {
        self.trades.open()
    }

    /// Restores durable state before reconciliation: the open position (with its cost
    /// basis) and the cooldowns. PnL totals are per run and start at zero.
    pub fn restore(&mut self, state: &DurableSymbol, risk: &PortfolioRisk) {
        self.book = PositionBook::restore(state.position, Money::ZERO, Money::ZERO, 0);
        self.cooldowns = state.cooldowns;
        // Stamped with the time of the first step (`start`).
        self.trades.restore(state.position, 0);
        if let Some(p) = state.pending {
            let side = p.side.entry_side();
            let restored = true;
            self.sent =
                Some(SentOrder { intent: p.intent, side, qty: p.qty, filled: p.filled, entry: p.entry, restored });
            self.reconcile_owed = true;
        }
        self.sync_exposure(risk);
    }

    /// What must survive a restart: the position, the cooldowns and the order on the wire.
    pub fn durable(&self) -> DurableSymbol {
        let pending = self.sent.map(|o| PendingRecord {
            intent: o.intent,
            side: Direction::from_entry_side(o.side),
            qty: o.qty,
            filled: o.filled,
            entry: o.entry,
        });
        DurableSymbol { position: self.book.position(), cooldowns: self.cooldowns, pending }
    }

    /// The first step of a symbol's life: reconcile with the venue before trading; or, with an
    /// order restored from the journal, take it as `Unknown` and ask the gateway about it
    /// first (reconciliation follows once it resolves).
    pub fn start(&mut self, now: TimeNs) -> Vec<Action> {
        let mut actions = Vec::new();
        self.trades.stamp_restored(now);
        let Some(order) = self.sent.filter(|o| o.restored) else {
            self.apply(ExecEvent::BeginReconcile { at: now }, &mut actions);
            return actions;
        };
        let rules = self.config.reconcile_rules;
        let pending = match (order.entry, self.book.position()) {
            (Some(direction), _) => PendingOrder::Entry { direction, rules },
            (None, Some(p)) => PendingOrder::Exit {
                trade: OpenTrade { direction: p.direction, opened_at: now, rules },
                reason: ExitReason::Flatten,
            },
            // An exit with nothing open cannot be journaled; treat it as an entry of its side.
            (None, None) => PendingOrder::Entry { direction: Direction::from_entry_side(order.side), rules },
        };
        match pending {
            PendingOrder::Entry { .. } => self.trades.entry_placed(order.intent, DecidedBy::Restored),
            PendingOrder::Exit { reason, .. } => self.trades.exit_placed(order.intent, reason),
        }
        self.efsm = Efsm::resumed(ExecState::Unknown { intent: order.intent, order: pending, since: now });
        actions.push(Action::Transition { from: "restored", to: "unknown", event: "restore_pending_order" });
        actions.push(Action::QueryStatus { intent_id: order.intent });
        actions
    }

    /// The agent router's word on this symbol's agent. Silent: entries are refused
    /// (`agent_silent`) while protective exits keep running; silent with `Flatten`: an open
    /// position is closed now (exit reason `flatten`; one exit in flight as always), and a
    /// position that opens later (an entry already on the wire) on its next tick or beat.
    pub fn set_liveness(&mut self, liveness: Liveness, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        let mut actions = Vec::new();
        if matches!(self.config.authority, Authority::Strategy) {
            return actions;
        }
        self.liveness = liveness;
        if let (Some(reason), ExecState::Open { .. }) = (self.protective_exit(now), self.efsm.state()) {
            let _ = self.try_exit(reason, now, risk, &mut actions);
        }
        self.sync_exposure(risk);
        actions
    }

    pub fn liveness(&self) -> Liveness {
        self.liveness
    }

    /// Sets this symbol's control flags (combined with the global flags at every decision).
    pub fn set_flags(&mut self, flags: ControlFlags) -> ControlFlags {
        std::mem::replace(&mut self.flags, flags)
    }

    pub fn status(&self) -> SymbolStatus {
        let position = self.book.position();
        let unrealized = match (position, self.last_tick) {
            (Some(p), Some(t)) => p.unrealized_at(mark_for(p.direction, &t)).unwrap_or(Money::ZERO),
            _ => Money::ZERO,
        };
        SymbolStatus {
            symbol: self.config.symbol,
            state: self.efsm.state().name(),
            position,
            realized: self.book.realized(),
            fees: self.book.fees(),
            unrealized,
            exposure: self.book.exposure(),
            order_in_flight: self.efsm.state().order_in_flight(),
            feed: self.feed,
            efsm_errors: self.efsm.errors(),
            counters: self.counters,
            halt_reason: match self.efsm.state() {
                ExecState::Halted { reason } => Some(*reason),
                _ => None,
            },
            discrepancies: self.discrepancies,
            last_discrepancy: self.last_discrepancy,
            venue_baseline: self.venue_baseline,
            venue_agrees: self.venue_agrees,
            last_tick_at: self.last_tick_at,
        }
    }

    // ----- inputs -------------------------------------------------------------------

    /// A market-data tick for this symbol.
    pub fn on_tick(&mut self, tick: &Tick, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        let mut actions = Vec::new();
        if tick.symbol != self.config.symbol {
            return actions;
        }
        let contiguous = match self.last_tick {
            Some(last) if tick.md_seq <= last.md_seq => {
                self.counters.md_out_of_order += 1;
                return actions;
            }
            Some(last) => tick.md_seq == last.md_seq + 1,
            None => true,
        };
        let resync = |after| FeedHealth::Resyncing { remaining: self.config.resync_ticks, after };
        self.feed = if !contiguous {
            self.counters.md_gaps += 1;
            resync(FeedFault::Gap)
        } else {
            match self.feed {
                FeedHealth::Stale => resync(FeedFault::Stale),
                FeedHealth::Resyncing { remaining, after } if remaining > 1 => {
                    FeedHealth::Resyncing { remaining: remaining - 1, after }
                }
                _ => FeedHealth::Ok,
            }
        };
        self.counters.ticks += 1;
        self.last_tick = Some(*tick);
        self.last_tick_at = now;

        // One authority per symbol: an agent-driven symbol never asks its strategy.
        let signal = match self.config.authority {
            Authority::Strategy => self.strategy.on_tick(tick),
            Authority::Agent(_) => Signal::HOLD,
        };
        if let ExecState::Open { trade } = *self.efsm.state() {
            self.trail.observe(trade.direction, mark_for(trade.direction, tick));
        }
        self.act_on(signal, now, risk, &mut actions);
        actions
    }

    /// What a strategy's signal leads to in the current state: protective exits first,
    /// then the strategy's exit, then its entry (each through risk and control).
    fn act_on(&mut self, signal: Signal, now: TimeNs, risk: &PortfolioRisk, actions: &mut Vec<Action>) {
        match *self.efsm.state() {
            ExecState::Open { trade } => {
                let reason =
                    self.protective_exit(now).or_else(|| signal.exits(trade.direction).then_some(ExitReason::Strategy));
                if let Some(reason) = reason {
                    let _ = self.try_exit(reason, now, risk, actions);
                } else if signal.enter.is_some_and(|i| i.direction != trade.direction) {
                    self.refuse(Refusal::ReversalDisabled, actions);
                }
            }
            ExecState::Flat => {
                if let Some(intent) = signal.enter {
                    let _ = self.try_entry(intent, DecidedBy::Strategy(self.strategy.name()), now, risk, actions);
                }
            }
            _ => {}
        }
    }

    /// An agent's decision for this symbol, through the same guards as a strategy's: the
    /// intent id of the order it put on the wire, or why none. A protective exit that is due
    /// goes first; an exit while one is on the wire is refused (one exit in flight).
    pub fn on_agent_intent(
        &mut self,
        decision: &AgentDecision,
        now: TimeNs,
        risk: &PortfolioRisk,
    ) -> (Result<IntentId, AgentRefusal>, Vec<Action>) {
        let mut actions = Vec::new();
        let verdict = self.agent_verdict(decision, now, risk, &mut actions);
        self.sync_exposure(risk);
        (verdict, actions)
    }

    fn agent_verdict(
        &mut self,
        decision: &AgentDecision,
        now: TimeNs,
        risk: &PortfolioRisk,
        actions: &mut Vec<Action>,
    ) -> Result<IntentId, AgentRefusal> {
        if self.config.authority != Authority::Agent(decision.agent) {
            return Err(AgentRefusal::NotAuthority);
        }
        if decision.valid_until.is_some_and(|until| now >= until) {
            return Err(AgentRefusal::Expired);
        }
        let entry = decision.command.entry_direction();
        if matches!(self.liveness, Liveness::Silent(_)) && entry.is_some() {
            return Err(AgentRefusal::AgentSilent);
        }
        let guard = |r: Option<Refusal>| r.map_or(AgentRefusal::NotTrading, AgentRefusal::Guard);
        match (*self.efsm.state(), decision.command) {
            (ExecState::Flat, AgentCommand::Enter(intent)) => {
                self.try_entry(intent, DecidedBy::Agent(decision.agent), now, risk, actions).map_err(guard)
            }
            (ExecState::Flat, AgentCommand::EnterFraction(sized)) => {
                let intent = self.size_by_equity(&sized, risk, actions).map_err(AgentRefusal::Guard)?;
                self.try_entry(intent, DecidedBy::Agent(decision.agent), now, risk, actions).map_err(guard)
            }
            (ExecState::Open { trade }, AgentCommand::Enter(_) | AgentCommand::EnterFraction(_))
                if entry != Some(trade.direction) =>
            {
                Err(AgentRefusal::PositionOpenOpposite)
            }
            (ExecState::Open { .. }, AgentCommand::Enter(_) | AgentCommand::EnterFraction(_)) => {
                Err(AgentRefusal::PositionOpen)
            }
            (ExecState::Open { .. }, AgentCommand::Exit) => {
                // A stop-loss (or any protective exit) that is due right now is the exit;
                // the agent's exit then finds it in flight.
                if let Some(reason) = self.protective_exit(now) {
                    return match self.try_exit(reason, now, risk, actions) {
                        Ok(_) => Err(AgentRefusal::ExitInFlight),
                        Err(refusal) => Err(guard(refusal)),
                    };
                }
                self.try_exit(ExitReason::Agent, now, risk, actions).map_err(guard)
            }
            (ExecState::Flat, AgentCommand::Exit) => Err(AgentRefusal::NoPosition),
            (ExecState::ExitPending { .. }, _)
            | (ExecState::Unknown { order: PendingOrder::Exit { .. }, .. }, AgentCommand::Exit) => {
                Err(AgentRefusal::ExitInFlight)
            }
            (ExecState::EntryPending { .. } | ExecState::Unknown { .. }, _) => Err(AgentRefusal::OrderInFlight),
            (ExecState::Halted { .. } | ExecState::Reconciling { .. }, _) => Err(AgentRefusal::NotTrading),
        }
    }

    /// An entry sized as a fraction of the account equity (the equity the exposure limits
    /// use), at the last quote's ask (long) or bid (short), rounded down to the qty's
    /// precision. No quote yet: `feed_stale`; a qty of 0: `invalid_field` (`equity_fraction`).
    /// The qty then goes through every guard like a given one.
    fn size_by_equity(
        &mut self,
        sized: &FractionEntry,
        risk: &PortfolioRisk,
        actions: &mut Vec<Action>,
    ) -> Result<Intent, Refusal> {
        let price = self.last_tick.map(|tick| match sized.direction {
            Direction::Long => tick.ask,
            Direction::Short => tick.bid,
        });
        let qty = match price.map(|p| qty_for_fraction(sized.fraction, risk.equity(), p)) {
            Some(Some(qty)) if !qty.is_zero() => qty,
            Some(Some(_)) => {
                self.refuse(Refusal::InvalidIntent("equity_fraction"), actions);
                return Err(Refusal::InvalidIntent("equity_fraction"));
            }
            None | Some(None) => {
                self.refuse(Refusal::FeedStale, actions);
                return Err(Refusal::FeedStale);
            }
        };
        Ok(sized.with_qty(qty))
    }

    /// The market-data source restarted (a new gateway session): its sequence numbers start
    /// over. Forget the old baseline and resync before entries resume.
    pub fn reset_feed(&mut self) {
        self.last_tick = None;
        self.feed = FeedHealth::Resyncing { remaining: self.config.resync_ticks, after: FeedFault::Gap };
    }

    /// A timer beat (about once a second): feed staleness and time-based exits.
    pub fn on_timer(&mut self, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        let mut actions = Vec::new();
        self.check_feed(now);
        if let ExecState::Open { .. } = self.efsm.state() {
            if let Some(reason) = self.protective_exit(now) {
                let _ = self.try_exit(reason, now, risk, &mut actions);
            }
        }
        actions
    }

    /// No tick for `stale_after` by `now`: the feed is stale (entries wait for a resync).
    /// On the data clock the shell calls it with each tick's time before the tick.
    pub fn check_feed(&mut self, now: TimeNs) {
        if self.last_tick.is_some() && now.saturating_sub(self.last_tick_at) >= self.config.stale_after_ns {
            self.feed = FeedHealth::Stale;
        }
    }

    /// An execution report for this symbol (a live report or a status-query replay).
    pub fn on_report(&mut self, report: &ExecReport, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        let mut actions = Vec::new();
        if report.symbol != self.config.symbol {
            return actions;
        }
        if report.reject_code == RejectCode::DuplicateIntentMismatch {
            // The gateway refused a second, different body under an intent id in use: that
            // says nothing about the original order, whose own reports still decide it.
            self.counters.stale_reports += 1;
            return actions;
        }
        let mut new_fill = report.is_fill() && !self.book.has_seen(report.exec_id);
        if new_fill
            && self.sent.is_some_and(|o| o.intent == report.intent_id && o.restored && report.cum_qty <= o.filled)
        {
            // Booked by the process before the crash (its fill ids were not journaled).
            self.book.mark_seen(report.exec_id);
            new_fill = false;
        }
        if report.is_fill() && !new_fill {
            self.counters.duplicate_fills += 1;
        }
        if new_fill {
            // Nothing is booked before it is vetted against the order it answers.
            let order = self.sent.filter(|o| o.intent == report.intent_id);
            let finished = self.finished.get(report.intent_id).is_some();
            let reference = self.last_tick.map(|t| touch_for(report.side, &t));
            if let Err(code) = vet_fill(order.as_ref(), finished, report, self.config.price_band, reference) {
                self.discrepancy(code, report, reference, now, risk, &mut actions);
                return actions;
            }
        }
        let orphan = self.orphan.filter(|o| o.intent == report.intent_id);
        let in_flight = self.efsm.state().order_in_flight() == Some(report.intent_id) || orphan.is_some();
        if !in_flight {
            // A replay or a late report of something already resolved (a new fill cannot get
            // here: vetting refused it).
            self.counters.stale_reports += 1;
            return actions;
        }
        let entry_direction = self.pending_entry_direction();
        if new_fill {
            if !self.book_fill(report, now, risk, &mut actions) {
                // Arithmetic overflow on a fill is not something to trade through.
                self.discrepancy(DiscrepancyCode::Unbookable, report, None, now, risk, &mut actions);
                return actions;
            }
            if let Some(order) = self.sent.as_mut() {
                order.filled = order.filled.checked_add(report.last_qty).unwrap_or(order.qty);
            }
        }
        let done = report.ord_status.is_terminal();
        if done {
            if let Some(filled) = self.sent.filter(|o| o.intent == report.intent_id).map(|o| o.filled) {
                if report.cum_qty < filled || (report.cum_qty > filled && report.exec_type == ExecType::OrderStatus) {
                    self.discrepancy(DiscrepancyCode::CumQtyMismatch, report, None, now, risk, &mut actions);
                    return actions;
                }
                if report.cum_qty > filled {
                    // The venue executed more than we were told (a report was lost): ask for
                    // the order's whole story; its replay books what is missing.
                    self.counters.missed_fills += 1;
                    if orphan.is_none() {
                        self.apply(ExecEvent::Timeout { intent: report.intent_id, at: now }, &mut actions);
                    }
                    actions.push(Action::QueryStatus { intent_id: report.intent_id });
                    self.sync_exposure(risk);
                    return actions;
                }
            }
        }
        let outcome = if done {
            ReportOutcome::Done { position: self.book.position().map(|p| p.direction) }
        } else {
            ReportOutcome::Working
        };
        self.apply(ExecEvent::Report { intent: report.intent_id, outcome, at: now }, &mut actions);
        if done && in_flight {
            let already_failed = self.failure_counted == Some(report.intent_id) || orphan.is_some_and(|o| o.timed_out);
            self.finish_order(report, already_failed, entry_direction, now, risk);
            self.forget_order(report.intent_id);
            if self.reconcile_owed {
                // A snapshot went by while this order was unresolved (or a crash left it on
                // the wire): now compare with the venue.
                self.reconcile_owed = false;
                if matches!(self.efsm.state(), ExecState::Flat | ExecState::Open { .. }) {
                    self.apply(ExecEvent::BeginReconcile { at: now }, &mut actions);
                }
                actions.push(Action::RequestSnapshot);
            } else if self.last_tick.is_some() && matches!(self.efsm.state(), ExecState::Flat | ExecState::Open { .. })
            {
                // The symbol may trade again: a strategy that decides on order completion
                // (back to back) does so now, through the same guards as on a tick. A
                // strategy that holds leaves everything to the next tick or timer beat, so
                // a report alone never causes an order (not even a protective exit).
                let signal = match self.config.authority {
                    Authority::Strategy => self.strategy.on_order_done(),
                    Authority::Agent(_) => Signal::HOLD,
                };
                if signal != Signal::HOLD {
                    self.sync_exposure(risk);
                    self.act_on(signal, now, risk, &mut actions);
                }
            }
        }
        self.sync_exposure(risk);
        actions
    }

    /// The bridge gave up waiting for the in-flight request of `intent_id`.
    pub fn on_order_timeout(&mut self, intent_id: IntentId, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        let mut actions = Vec::new();
        if let Some(orphan) = self.orphan.filter(|o| o.intent == intent_id) {
            // Halted with this order on the wire: count it once, then ask what happened.
            if !orphan.timed_out {
                self.counters.timeouts += 1;
                if !self.is_probe(intent_id) {
                    risk.on_order_failure(now);
                }
                self.orphan = Some(OrphanOrder { timed_out: true, ..orphan });
            }
            actions.push(Action::QueryStatus { intent_id });
            return actions;
        }
        if self.efsm.state().order_in_flight() != Some(intent_id) {
            // A late report already resolved it (e.g. its status query timed out after the
            // original report arrived): nothing is waiting on this intent any more.
            self.counters.stale_reports += 1;
            return actions;
        }
        let first_timeout = !matches!(self.efsm.state(), ExecState::Unknown { .. });
        if self.apply(ExecEvent::Timeout { intent: intent_id, at: now }, &mut actions) {
            // Orders that timed out, once each (a status query's own timeouts are not orders).
            if first_timeout {
                self.counters.timeouts += 1;
            }
            // Counted once per order; a probe is judged only by its terminal report (or the
            // breaker's probe deadline).
            if self.failure_counted != Some(intent_id) && !self.is_probe(intent_id) {
                self.failure_counted = Some(intent_id);
                risk.on_order_failure(now);
            }
            if let ExecState::Unknown { intent, .. } = self.efsm.state() {
                actions.push(Action::QueryStatus { intent_id: *intent });
            }
        }
        actions
    }

    /// Stops trading this symbol until reconciliation.
    pub fn halt(&mut self, reason: HaltReason) -> Vec<Action> {
        let mut actions = Vec::new();
        self.apply(ExecEvent::Halt { reason }, &mut actions);
        actions
    }

    /// Starts reconciliation (only with no order in flight).
    pub fn begin_reconcile(&mut self, now: TimeNs) -> Vec<Action> {
        let mut actions = Vec::new();
        self.apply(ExecEvent::BeginReconcile { at: now }, &mut actions);
        actions
    }

    /// Compares the book with the venue's snapshot of this symbol (position absolutely,
    /// PnL and fees over this session: see [`crate::reconcile`]). The first snapshot fixes
    /// the venue baseline.
    /// - Reconciling (start-up), or Halted for a reconcile mismatch: agreement resumes
    ///   trading, disagreement halts.
    /// - Halted for any other reason: nothing changes (only an operator resumes it); the
    ///   verdict is shown in status.
    /// - Flat or Open: agreement changes nothing (the open trade keeps its rules and hold
    ///   timer); disagreement halts.
    /// - An order on the wire (or an orphan of a halt) is left alone: its own report or
    ///   status query settles it first.
    pub fn reconcile(&mut self, venue: &VenueView, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        let mut actions = Vec::new();
        if self.has_unresolved_order() {
            return actions;
        }
        let baseline = *self.venue_baseline.get_or_insert_with(|| VenueBaseline::between(venue, &self.book));
        let verdict = compare(&self.book, venue, &baseline);
        self.venue_agrees = Some(verdict.is_ok());
        match (*self.efsm.state(), verdict) {
            (ExecState::Flat | ExecState::Open { .. }, Ok(())) => {}
            (ExecState::Halted { reason }, Ok(())) if reason.needs_operator() => {}
            (ExecState::Halted { .. }, Ok(())) | (ExecState::Reconciling { .. }, Ok(())) => {
                self.resume_trading(now, &mut actions);
            }
            // Unreachable with no unresolved order; nothing to do if it ever happens.
            (ExecState::EntryPending { .. } | ExecState::ExitPending { .. } | ExecState::Unknown { .. }, Ok(())) => {}
            (state, Err(mismatch)) => {
                let keep = matches!(state, ExecState::Halted { reason } if reason.needs_operator());
                actions.push(Action::ReconcileMismatch { mismatch, halts: !keep });
                if !keep {
                    self.count_discrepancy(DiscrepancyCode::SnapshotMismatch);
                    self.apply(ExecEvent::Halt { reason: HaltReason::ReconcileMismatch }, &mut actions);
                }
            }
        }
        self.sync_exposure(risk);
        actions
    }

    /// The snapshot after a start, a reconnect or a gateway restart: as [`Self::reconcile`],
    /// but a symbol whose order is unresolved owes the comparison: once the order resolves
    /// it stops trading and asks for a fresh snapshot. (Only these snapshots create the
    /// debt: if every snapshot did, a symbol that always has an order in flight would turn
    /// each snapshot into another one.)
    pub fn reconcile_after_reconnect(&mut self, venue: &VenueView, now: TimeNs, risk: &PortfolioRisk) -> Vec<Action> {
        if self.has_unresolved_order() {
            self.reconcile_owed = true;
        }
        self.reconcile(venue, now, risk)
    }

    /// Operator: make the books follow the venue. A halted symbol with no unresolved order
    /// takes the venue's position (side, qty, cost basis) and this session's realized PnL
    /// and fees; the difference is folded as a PnL delta, so the metrics follow too. The
    /// symbol stays halted until `resume`.
    pub fn adopt(
        &mut self,
        venue: &VenueView,
        now: TimeNs,
        risk: &PortfolioRisk,
    ) -> Result<Vec<Action>, OperatorError> {
        let baseline = self.operator_baseline(venue)?;
        let mut actions = Vec::new();
        let (realized, fees) = baseline.session(venue).unwrap_or((self.book.realized(), self.book.fees()));
        let d_realized = realized.checked_sub(self.book.realized()).unwrap_or(Money::ZERO);
        let d_fees = fees.checked_sub(self.book.fees()).unwrap_or(Money::ZERO);
        let before = self.book.position();
        self.book.adopt(venue.position, realized, fees);
        let closed = match self.trades.adopt(self.config.symbol, before, venue.position, now) {
            Ok(closed) => closed,
            Err(_) => {
                self.counters.trade_record_errors += 1;
                None
            }
        };
        if let Some(trade) = &closed {
            self.counters.trades += 1;
            if trade.net().is_ok_and(|net| net > Money::ZERO) {
                self.counters.wins += 1;
            } else {
                self.counters.losses += 1;
            }
        }
        self.venue_agrees = Some(compare(&self.book, venue, &baseline).is_ok());
        self.pnl_seq += 1;
        risk.record_realized(d_realized.checked_sub(d_fees).unwrap_or(Money::ZERO), now);
        actions.push(Action::Pnl(PnlDelta {
            symbol: self.config.symbol,
            seq: self.pnl_seq,
            realized: d_realized,
            fee: d_fees,
            closed_trade: closed.map(|t| t.net().unwrap_or(Money::ZERO)),
            exposure_after: self.book.exposure(),
        }));
        if let Some(trade) = closed {
            actions.push(Action::TradeClosed(trade));
        }
        if !d_realized.is_zero() || !d_fees.is_zero() {
            let symbol = self.config.symbol;
            actions.push(Action::BookAdjusted(BookAdjustment { symbol, realized: d_realized, fees: d_fees, at: now }));
        }
        self.trade_net = Money::ZERO;
        self.sync_exposure(risk);
        Ok(actions)
    }

    /// Operator: resume a halted symbol, if the books follow the venue's snapshot.
    pub fn resume(
        &mut self,
        venue: &VenueView,
        now: TimeNs,
        risk: &PortfolioRisk,
    ) -> Result<Vec<Action>, OperatorError> {
        let baseline = self.operator_baseline(venue)?;
        let verdict = compare(&self.book, venue, &baseline);
        self.venue_agrees = Some(verdict.is_ok());
        verdict.map_err(OperatorError::BooksDiffer)?;
        let mut actions = Vec::new();
        self.resume_trading(now, &mut actions);
        self.sync_exposure(risk);
        Ok(actions)
    }

    /// An operator acts only on a halted symbol with no order unresolved; the venue
    /// baseline to compare over (fixed now if no snapshot fixed it before).
    fn operator_baseline(&mut self, venue: &VenueView) -> Result<VenueBaseline, OperatorError> {
        if !matches!(self.efsm.state(), ExecState::Halted { .. }) {
            return Err(OperatorError::NotHalted(self.efsm.state().name()));
        }
        if self.has_unresolved_order() {
            return Err(OperatorError::OrderUnresolved);
        }
        Ok(*self.venue_baseline.get_or_insert_with(|| VenueBaseline::between(venue, &self.book)))
    }

    /// Halted or Reconciling → trading, with the book's position.
    fn resume_trading(&mut self, now: TimeNs, actions: &mut Vec<Action>) {
        if matches!(self.efsm.state(), ExecState::Halted { .. }) {
            self.apply(ExecEvent::BeginReconcile { at: now }, actions);
        }
        let position = self.book.position().map(|p| p.direction);
        self.apply(ExecEvent::Reconciled { position, rules: self.config.reconcile_rules, at: now }, actions);
    }

    /// True while an order's outcome is still open: on the wire, Unknown, or left over from
    /// a halt.
    pub fn has_unresolved_order(&self) -> bool {
        self.efsm.state().order_in_flight().is_some() || self.orphan.is_some()
    }

    // ----- decisions ----------------------------------------------------------------

    /// An entry decided by `by`, through every guard: the order's intent id, or why not
    /// (`Err(None)`: the EFSM refused it, already recorded as an `EfsmError`).
    fn try_entry(
        &mut self,
        intent: Intent,
        by: DecidedBy,
        now: TimeNs,
        risk: &PortfolioRisk,
        actions: &mut Vec<Action>,
    ) -> Result<IntentId, Option<Refusal>> {
        if let Err(refusal) = self.check_entry(&intent, now, risk) {
            self.refuse(refusal, actions);
            return Err(Some(refusal));
        }
        // check_entry passed, so the feed is Ok and a tick exists.
        let Some(tick) = self.last_tick else { return Err(Some(Refusal::FeedStale)) };
        let price = match intent.direction {
            Direction::Long => tick.ask,
            Direction::Short => tick.bid,
        };
        let Ok(estimate) = price.notional(intent.qty) else {
            self.refuse(Refusal::SymbolExposure, actions);
            return Err(Some(Refusal::SymbolExposure));
        };
        let limit = risk.symbol_exposure_limit();
        if self.book.exposure().checked_add(estimate).map_or(true, |e| e > limit) {
            self.refuse(Refusal::SymbolExposure, actions);
            return Err(Some(Refusal::SymbolExposure));
        }
        if !self.rate.allows(now) {
            self.refuse(Refusal::SymbolRate, actions);
            return Err(Some(Refusal::SymbolRate));
        }
        let admission = match risk.admit_entry(estimate, now) {
            Ok(a) => a,
            Err(refusal) => {
                self.refuse(refusal, actions);
                return Err(Some(refusal));
            }
        };
        // The shared budget now holds `estimate` for us.
        self.reserved = self.reserved.checked_add(estimate).unwrap_or(self.reserved);
        let intent_id = risk.next_intent_id();
        let event =
            ExecEvent::SubmitEntry { intent: intent_id, direction: intent.direction, rules: intent.exits, at: now };
        if !self.apply(event, actions) {
            if admission == Admission::Probe {
                risk.return_probe();
            }
            self.sync_exposure(risk);
            return Err(None);
        }
        self.entry_estimate = estimate;
        if admission == Admission::Probe {
            self.probe = Some((intent_id, now));
        }
        self.trail = TrailState::default();
        self.trade_net = Money::ZERO;
        self.trades.entry_placed(intent_id, by);
        let (side, purpose) = (intent.direction.entry_side(), OrderPurpose::Entry(intent.direction));
        self.place_market_order(intent_id, side, intent.qty, purpose, now, actions);
        Ok(intent_id)
    }

    /// Checks that need no price: state, control, gateway, feed, intent, cooldown, size.
    fn check_entry(&self, intent: &Intent, now: TimeNs, risk: &PortfolioRisk) -> Result<(), Refusal> {
        let flags = risk.flags().combine(self.flags);
        if flags.global_lock {
            return Err(Refusal::GlobalLock);
        }
        if !flags.entry_enabled {
            return Err(Refusal::EntryDisabled);
        }
        if !risk.gateway_up() {
            return Err(Refusal::GatewayDown);
        }
        if risk.venue_reconciling() {
            return Err(Refusal::VenueReconciling);
        }
        match self.feed {
            FeedHealth::Ok => {}
            FeedHealth::Resyncing { after: FeedFault::Gap, .. } => return Err(Refusal::FeedGap),
            FeedHealth::NoData | FeedHealth::Stale | FeedHealth::Resyncing { after: FeedFault::Stale, .. } => {
                return Err(Refusal::FeedStale)
            }
        }
        intent.validate(&self.config.intent_limits).map_err(|e| Refusal::InvalidIntent(e.field))?;
        if self.cooldowns.active_until(intent.direction, now).is_some() {
            return Err(Refusal::Cooldown);
        }
        if intent.qty > risk.config().max_position_qty {
            return Err(Refusal::MaxPosition);
        }
        Ok(())
    }

    /// An exit for `reason`, through the control guards: the order's intent id, or why not
    /// (`Err(None)`: nothing to close, or the EFSM refused it, already recorded).
    fn try_exit(
        &mut self,
        reason: ExitReason,
        now: TimeNs,
        risk: &PortfolioRisk,
        actions: &mut Vec<Action>,
    ) -> Result<IntentId, Option<Refusal>> {
        let flags = risk.flags().combine(self.flags);
        let refusal = if flags.global_lock {
            Some(Refusal::GlobalLock)
        } else if !flags.exit_enabled {
            Some(Refusal::ExitDisabled)
        } else if risk.venue_reconciling() {
            Some(Refusal::VenueReconciling)
        } else {
            None
        };
        if let Some(refusal) = refusal {
            self.refuse(refusal, actions);
            return Err(Some(refusal));
        }
        let Some(position) = self.book.position() else { return Err(None) };
        let intent_id = risk.next_intent_id();
        if !self.apply(ExecEvent::SubmitExit { intent: intent_id, reason, at: now }, actions) {
            return Err(None);
        }
        risk.record_exit(now);
        self.trades.exit_placed(intent_id, reason);
        let side = position.direction.exit_side();
        self.place_market_order(intent_id, side, position.qty, OrderPurpose::Exit(reason), now, actions);
        Ok(intent_id)
    }

    /// Emits an order the EFSM has just accepted, and counts it against the rate limit.
    fn place_market_order(
        &mut self,
        intent_id: IntentId,
        side: Side,
        qty: Qty,
        purpose: OrderPurpose,
        now: TimeNs,
        actions: &mut Vec<Action>,
    ) {
        self.rate.record(now);
        self.counters.orders += 1;
        let entry = match purpose {
            OrderPurpose::Entry(direction) => Some(direction),
            OrderPurpose::Exit(_) => None,
        };
        if let Some(previous) =
            self.sent.replace(SentOrder { intent: intent_id, side, qty, filled: Qty::ZERO, entry, restored: false })
        {
            self.finished.insert(previous);
        }
        let symbol = self.config.symbol;
        let order = OrderRequest {
            intent_id,
            symbol,
            side,
            qty,
            ord_type: OrdType::Market,
            limit_price: None,
            purpose,
            placed_at: now,
        };
        actions.push(Action::PlaceOrder(order));
    }

    /// The exit the engine itself owes an open position: its exit rules (stop-loss,
    /// trailing stop, take-profit, time limit), else a flatten while its agent is silent
    /// with `on_silence = "flatten"`.
    fn protective_exit(&self, now: TimeNs) -> Option<ExitReason> {
        let ExecState::Open { trade } = self.efsm.state() else { return None };
        let position = self.book.position()?;
        let due = self
            .last_tick
            .and_then(|tick| exit_due(trade, &position, mark_for(trade.direction, &tick), &self.trail, now));
        due.or_else(|| (self.liveness == Liveness::Silent(OnSilence::Flatten)).then_some(ExitReason::Flatten))
    }

    // ----- bookkeeping --------------------------------------------------------------

    /// Applies an EFSM event; records the transition or the (counted) error.
    fn apply(&mut self, event: ExecEvent, actions: &mut Vec<Action>) -> bool {
        match self.efsm.apply(&event) {
            Ok((from, to)) => {
                if let (Some(intent), ExecState::Halted { .. }) = (from.order_in_flight(), to) {
                    let entry = match from {
                        ExecState::EntryPending { direction, .. } => Some(direction),
                        ExecState::Unknown { order: PendingOrder::Entry { direction, .. }, .. } => Some(direction),
                        _ => None,
                    };
                    let timed_out = matches!(from, ExecState::Unknown { .. }) || self.failure_counted == Some(intent);
                    self.orphan = Some(OrphanOrder { intent, timed_out, entry });
                }
                actions.push(Action::Transition { from: from.name(), to: to.name(), event: event.name() });
                true
            }
            Err(err) => {
                actions.push(Action::EfsmError(err));
                false
            }
        }
    }

    fn refuse(&mut self, refusal: Refusal, actions: &mut Vec<Action>) {
        self.counters.refusals += 1;
        actions.push(Action::Refused(refusal));
    }

    fn is_probe(&self, intent: IntentId) -> bool {
        self.probe.is_some_and(|(probe, _)| probe == intent)
    }

    fn pending_entry_direction(&self) -> Option<Direction> {
        match self.efsm.state() {
            ExecState::EntryPending { direction, .. } => Some(*direction),
            ExecState::Unknown { order: PendingOrder::Entry { direction, .. }, .. } => Some(*direction),
            ExecState::Halted { .. } => self.orphan.and_then(|o| o.entry),
            _ => None,
        }
    }

    /// Books a vetted fill; false (nothing changed) if it cannot be booked (overflow).
    fn book_fill(&mut self, report: &ExecReport, now: TimeNs, risk: &PortfolioRisk, actions: &mut Vec<Action>) -> bool {
        let direction_before = self.book.position().map(|p| p.direction);
        match self.book.apply_fill(report.exec_id, report.side, report.last_qty, report.last_px, report.fee) {
            Ok(FillOutcome::Applied(effect)) => {
                self.counters.fills += 1;
                let net = effect.realized.checked_sub(effect.fee).unwrap_or(Money::ZERO);
                self.trade_net = self.trade_net.checked_add(net).unwrap_or(self.trade_net);
                let mut closed_trade = None;
                if effect.closed {
                    closed_trade = Some(self.trade_net);
                    self.counters.trades += 1;
                    if self.trade_net > Money::ZERO {
                        self.counters.wins += 1;
                    } else {
                        self.counters.losses += 1;
                    }
                    if let (
                        Some(direction),
                        ExecState::ExitPending { trade, .. }
                        | ExecState::Unknown { order: PendingOrder::Exit { trade, .. }, .. },
                    ) = (direction_before, *self.efsm.state())
                    {
                        self.cooldowns.start(direction, now, trade.rules.cooldown_ns());
                    }
                    self.trade_net = Money::ZERO;
                }
                self.pnl_seq += 1;
                risk.record_realized(net, now);
                actions.push(Action::Pnl(PnlDelta {
                    symbol: self.config.symbol,
                    seq: self.pnl_seq,
                    realized: effect.realized,
                    fee: effect.fee,
                    closed_trade,
                    exposure_after: effect.position_after.map_or(Money::ZERO, |p| p.cost),
                }));
                self.record_fill(report, &effect, now, actions);
            }
            Ok(FillOutcome::Duplicate) => self.counters.duplicate_fills += 1,
            Err(_) => return false,
        }
        true
    }

    /// The ledger's records of a booked fill: the fill, and the trade it closed.
    fn record_fill(&mut self, report: &ExecReport, effect: &FillEffect, now: TimeNs, actions: &mut Vec<Action>) {
        let symbol = self.config.symbol;
        let (exec, intent, side, qty, price) =
            (report.exec_id, report.intent_id, report.side, report.last_qty, report.last_px);
        match self.trades.on_fill(symbol, exec, intent, side, qty, price, effect, now) {
            Ok(records) => {
                actions.push(Action::FillBooked(records.fill));
                if let Some(closed) = records.closed {
                    actions.push(Action::TradeClosed(closed));
                }
            }
            Err(untracked) => {
                self.counters.trade_record_errors += 1;
                actions.push(Action::FillBooked(untracked.fill));
            }
        }
    }

    fn count_discrepancy(&mut self, code: DiscrepancyCode) {
        self.discrepancies.record(code);
        self.last_discrepancy = Some(code);
    }

    /// A report that contradicts what was asked: never booked. The symbol halts with the
    /// code, the snapshot is asked for, and the order (if the report ended it) is done.
    fn discrepancy(
        &mut self,
        code: DiscrepancyCode,
        report: &ExecReport,
        reference: Option<Price>,
        now: TimeNs,
        risk: &PortfolioRisk,
        actions: &mut Vec<Action>,
    ) {
        self.count_discrepancy(code);
        self.book.mark_seen(report.exec_id);
        // The order the report names (on the wire or already done), else what is on the wire.
        let expected = self
            .sent
            .filter(|o| o.intent == report.intent_id)
            .or_else(|| self.finished.get(report.intent_id))
            .or(self.sent);
        self.apply(ExecEvent::Halt { reason: HaltReason::Discrepancy(code) }, actions);
        actions.push(Action::Discrepancy(Discrepancy { code, expected, reference, report: ReportFacts::of(report) }));
        actions.push(Action::RequestSnapshot);
        self.reconcile_owed = false;
        if report.ord_status.is_terminal() && self.sent.is_some_and(|o| o.intent == report.intent_id) {
            // The venue says the order is over: nothing more will come for it.
            if let Some((_, granted_at)) = self.probe.filter(|(intent, _)| *intent == report.intent_id) {
                self.probe = None;
                risk.on_probe_outcome(false, granted_at, now);
            }
            self.entry_estimate = Money::ZERO;
            self.forget_order(report.intent_id);
        }
        self.sync_exposure(risk);
    }

    /// The order of `intent` is done: no longer on the wire nor orphaned.
    fn forget_order(&mut self, intent: IntentId) {
        if self.orphan.is_some_and(|o| o.intent == intent) {
            self.orphan = None;
        }
        if let Some(order) = self.sent.filter(|o| o.intent == intent) {
            self.sent = None;
            self.finished.insert(order);
        }
    }

    /// Breaker and counters once the in-flight order is done. `already_failed`: a timeout
    /// already counted it as a failure.
    fn finish_order(
        &mut self,
        report: &ExecReport,
        already_failed: bool,
        entry_direction: Option<Direction>,
        now: TimeNs,
        risk: &PortfolioRisk,
    ) {
        let filled_any = !report.cum_qty.is_zero()
            || (report.exec_type == ExecType::OrderStatus && report.ord_status == OrdStatus::Filled);
        if !filled_any && report.ord_status == OrdStatus::Rejected && report.reject_code != RejectCode::UnknownOrder {
            self.counters.rejects += 1;
        }
        if let Some((_, granted_at)) = self.probe.filter(|(intent, _)| *intent == report.intent_id) {
            self.probe = None;
            risk.on_probe_outcome(filled_any, granted_at, now);
        } else if filled_any {
            risk.on_order_success();
        } else if !already_failed {
            risk.on_order_failure(now);
        }
        if entry_direction.is_some() {
            self.entry_estimate = Money::ZERO;
        }
    }

    /// Brings this symbol's share of the total exposure budget in line with the book (plus
    /// the estimate of an entry still in flight).
    fn sync_exposure(&mut self, risk: &PortfolioRisk) {
        let pending = if self.pending_entry_direction().is_some() { self.entry_estimate } else { Money::ZERO };
        let target = self.book.exposure().max(pending);
        if let Ok(delta) = target.checked_sub(self.reserved) {
            risk.adjust_exposure(delta);
            self.reserved = target;
        }
    }
}

/// The touch a fill on `side` trades against: the ask for a buy, the bid for a sell.
pub fn touch_for(side: Side, tick: &Tick) -> Price {
    match side {
        Side::Buy => tick.ask,
        Side::Sell => tick.bid,
    }
}

/// The price a position would close at: the bid for a long, the ask for a short.
pub fn mark_for(direction: Direction, tick: &Tick) -> Price {
    match direction {
        Direction::Long => tick.bid,
        Direction::Short => tick.ask,
    }
}

//! The per-symbol execution state machine (EFSM): one transition table, no side effects.
//!
//! ```text
//!            SubmitEntry              Report(done, position)           SubmitExit
//!   Flat ───────────────▶ EntryPending ──────────────────────▶ Open ───────────────▶ ExitPending
//!    ▲  ◀── Report(done, flat: rejected/expired) ──┘             ▲ ◀── Report(done, still open) ──┤
//!    └──────────────────────────── Report(done, flat) ───────────┼────────────────────────────────┘
//!   EntryPending/ExitPending ── Timeout ──▶ Unknown ── Report ──▶ (as the pending state would)
//!   any ── Halt ──▶ Halted ── BeginReconcile ──▶ Reconciling ── Reconciled ──▶ Flat | Open
//! ```
//! Data that exists only in one state lives in that variant. [`ExecState::transition`] is
//! the only way to change state; an event that has no edge from the current state is an
//! [`InvalidTransition`] value (counted by the owner), never a panic or a silent change.
//! Because `ExitPending` has no `SubmitExit` edge, a second exit in flight is impossible.

use protocol::{IntentId, Side};

use crate::clock::TimeNs;
use crate::discrepancy::DiscrepancyCode;
use crate::intent::ExitRules;

/// Direction of a one-way position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Direction {
    Long,
    Short,
}

impl Direction {
    /// The order side that opens (or adds to) this direction.
    pub const fn entry_side(self) -> Side {
        match self {
            Direction::Long => Side::Buy,
            Direction::Short => Side::Sell,
        }
    }
    /// The order side that closes this direction.
    pub const fn exit_side(self) -> Side {
        self.entry_side().opposite()
    }
    pub const fn from_entry_side(side: Side) -> Direction {
        match side {
            Side::Buy => Direction::Long,
            Side::Sell => Direction::Short,
        }
    }
    pub const fn opposite(self) -> Direction {
        match self {
            Direction::Long => Direction::Short,
            Direction::Short => Direction::Long,
        }
    }
    pub const fn index(self) -> usize {
        match self {
            Direction::Long => 0,
            Direction::Short => 1,
        }
    }
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Long => "long",
            Direction::Short => "short",
        }
    }
}

/// Why a position is being closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    StopLoss,
    TrailingStop,
    TakeProfit,
    TimeLimit,
    Strategy,
    Flatten,
    /// The symbol's agent asked to exit (docs/AGENTS.md).
    Agent,
}

impl ExitReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            ExitReason::StopLoss => "stop_loss",
            ExitReason::TrailingStop => "trailing_stop",
            ExitReason::TakeProfit => "take_profit",
            ExitReason::TimeLimit => "time_limit",
            ExitReason::Strategy => "strategy",
            ExitReason::Flatten => "flatten",
            ExitReason::Agent => "agent",
        }
    }
}

/// Why a symbol is halted. Leaving `Halted` always goes through reconciliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaltReason {
    /// Operator command (or a caught panic in the core).
    Manual,
    /// A report contradicted the order it answers (never booked): see [`DiscrepancyCode`].
    Discrepancy(DiscrepancyCode),
    /// A fill turned the position to the other direction.
    PositionFlipped,
    /// Local state and the gateway's snapshot disagree.
    ReconcileMismatch,
    /// One step of this symbol (its strategy, usually) ran longer than the step budget,
    /// stalling the symbols that share its thread; it is fed no more ticks until resumed.
    Overrun,
}

impl HaltReason {
    pub const fn as_str(self) -> &'static str {
        match self {
            HaltReason::Manual => "manual",
            HaltReason::Discrepancy(code) => code.as_str(),
            HaltReason::PositionFlipped => "position_flipped",
            HaltReason::ReconcileMismatch => "reconcile_mismatch",
            HaltReason::Overrun => "step_overrun",
        }
    }

    /// Only an operator's `resume` ends such a halt (after the books follow the venue); a
    /// snapshot that agrees does not resume trading by itself.
    pub const fn needs_operator(self) -> bool {
        !matches!(self, HaltReason::ReconcileMismatch)
    }
}

/// An open trade: what exists only while a position is open (or being closed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenTrade {
    pub direction: Direction,
    pub opened_at: TimeNs,
    pub rules: ExitRules,
}

/// The order an `Unknown` state is waiting to hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingOrder {
    Entry { direction: Direction, rules: ExitRules },
    Exit { trade: OpenTrade, reason: ExitReason },
}

/// Execution state of one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecState {
    /// No position, no order.
    Flat,
    /// An entry order is on the wire.
    EntryPending { intent: IntentId, direction: Direction, rules: ExitRules, sent_at: TimeNs },
    /// A position is open.
    Open { trade: OpenTrade },
    /// An exit order is on the wire; no second exit can be sent.
    ExitPending { intent: IntentId, trade: OpenTrade, reason: ExitReason, sent_at: TimeNs },
    /// The order timed out; its outcome is unknown until a status query answers.
    Unknown { intent: IntentId, order: PendingOrder, since: TimeNs },
    /// Trading stopped for this symbol until reconciliation.
    Halted { reason: HaltReason },
    /// Waiting for the gateway's position snapshot.
    Reconciling { since: TimeNs },
}

impl ExecState {
    pub const fn name(&self) -> &'static str {
        match self {
            ExecState::Flat => "flat",
            ExecState::EntryPending { .. } => "entry_pending",
            ExecState::Open { .. } => "open",
            ExecState::ExitPending { .. } => "exit_pending",
            ExecState::Unknown { .. } => "unknown",
            ExecState::Halted { .. } => "halted",
            ExecState::Reconciling { .. } => "reconciling",
        }
    }

    /// Halted: trades nothing until reconciled (or resumed by an operator).
    pub const fn is_halted(&self) -> bool {
        matches!(self, ExecState::Halted { .. })
    }

    /// The intent of the order on the wire (or unresolved), if any.
    pub const fn order_in_flight(&self) -> Option<IntentId> {
        match self {
            ExecState::EntryPending { intent, .. }
            | ExecState::ExitPending { intent, .. }
            | ExecState::Unknown { intent, .. } => Some(*intent),
            _ => None,
        }
    }
}

/// What the position is after an order's report has been booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportOutcome {
    /// The order is still working (accepted, or partially filled and not done).
    Working,
    /// The order is done (filled, canceled, expired or rejected); `position` is the
    /// direction of the position after booking its fills, `None` when flat.
    Done { position: Option<Direction> },
}

/// Inputs to the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecEvent {
    SubmitEntry {
        intent: IntentId,
        direction: Direction,
        rules: ExitRules,
        at: TimeNs,
    },
    SubmitExit {
        intent: IntentId,
        reason: ExitReason,
        at: TimeNs,
    },
    Report {
        intent: IntentId,
        outcome: ReportOutcome,
        at: TimeNs,
    },
    Timeout {
        intent: IntentId,
        at: TimeNs,
    },
    Halt {
        reason: HaltReason,
    },
    BeginReconcile {
        at: TimeNs,
    },
    /// The snapshot agreed with the book; `position` and `rules` rebuild an open trade.
    Reconciled {
        position: Option<Direction>,
        rules: ExitRules,
        at: TimeNs,
    },
}

impl ExecEvent {
    pub const fn name(&self) -> &'static str {
        match self {
            ExecEvent::SubmitEntry { .. } => "submit_entry",
            ExecEvent::SubmitExit { .. } => "submit_exit",
            ExecEvent::Report { outcome: ReportOutcome::Working, .. } => "report_working",
            ExecEvent::Report { .. } => "report_done",
            ExecEvent::Timeout { .. } => "timeout",
            ExecEvent::Halt { .. } => "halt",
            ExecEvent::BeginReconcile { .. } => "begin_reconcile",
            ExecEvent::Reconciled { .. } => "reconciled",
        }
    }
}

/// An event that has no edge from the current state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("illegal EFSM event {event} in state {state}: {reason}")]
pub struct InvalidTransition {
    pub state: &'static str,
    pub event: &'static str,
    pub reason: &'static str,
}

fn after_done(
    position: Option<Direction>,
    direction: Direction,
    rules: ExitRules,
    at: TimeNs,
) -> Result<ExecState, &'static str> {
    match position {
        None => Ok(ExecState::Flat),
        Some(d) if d == direction => Ok(ExecState::Open { trade: OpenTrade { direction, opened_at: at, rules } }),
        // The gateway filled our entry the wrong way: the position is real, so it is booked
        // and this symbol stops trading until reconciliation.
        Some(_) => Ok(ExecState::Halted { reason: HaltReason::PositionFlipped }),
    }
}

fn after_exit_done(position: Option<Direction>, trade: OpenTrade) -> ExecState {
    match position {
        None => ExecState::Flat,
        Some(d) if d == trade.direction => ExecState::Open { trade },
        // An overfilled exit flipped the position: never trade on from there.
        Some(_) => ExecState::Halted { reason: HaltReason::PositionFlipped },
    }
}

impl ExecState {
    /// The transition table. Returns the next state, or why the event is illegal here.
    pub fn transition(&self, event: &ExecEvent) -> Result<ExecState, InvalidTransition> {
        use ExecEvent as E;
        use ExecState as S;
        use ReportOutcome::{Done, Working};
        let result: Result<ExecState, &'static str> = match (*self, *event) {
            // Opening.
            (S::Flat, E::SubmitEntry { intent, direction, rules, at }) => {
                Ok(S::EntryPending { intent, direction, rules, sent_at: at })
            }
            (S::EntryPending { intent, .. }, E::Report { intent: i, outcome: Working, .. }) if i == intent => Ok(*self),
            (
                S::EntryPending { intent, direction, rules, .. },
                E::Report { intent: i, outcome: Done { position }, at },
            ) if i == intent => after_done(position, direction, rules, at),
            (S::EntryPending { intent, direction, rules, .. }, E::Timeout { intent: i, at }) if i == intent => {
                Ok(S::Unknown { intent, order: PendingOrder::Entry { direction, rules }, since: at })
            }
            // Closing. No SubmitExit edge leaves ExitPending: one exit in flight at most.
            (S::Open { trade }, E::SubmitExit { intent, reason, at }) => {
                Ok(S::ExitPending { intent, trade, reason, sent_at: at })
            }
            (S::ExitPending { intent, .. }, E::Report { intent: i, outcome: Working, .. }) if i == intent => Ok(*self),
            (S::ExitPending { intent, trade, .. }, E::Report { intent: i, outcome: Done { position }, .. })
                if i == intent =>
            {
                Ok(after_exit_done(position, trade))
            }
            (S::ExitPending { intent, trade, reason, .. }, E::Timeout { intent: i, at }) if i == intent => {
                Ok(S::Unknown { intent, order: PendingOrder::Exit { trade, reason }, since: at })
            }
            // Unknown: the status query's answer resolves it like the original report would.
            (S::Unknown { intent, order, .. }, E::Report { intent: i, outcome: Working, at }) if i == intent => {
                // The order is alive at the gateway: wait for it again under a fresh deadline.
                Ok(match order {
                    PendingOrder::Entry { direction, rules } => {
                        S::EntryPending { intent, direction, rules, sent_at: at }
                    }
                    PendingOrder::Exit { trade, reason } => S::ExitPending { intent, trade, reason, sent_at: at },
                })
            }
            (S::Unknown { intent, order, .. }, E::Report { intent: i, outcome: Done { position }, at })
                if i == intent =>
            {
                match order {
                    PendingOrder::Entry { direction, rules } => after_done(position, direction, rules, at),
                    PendingOrder::Exit { trade, .. } => Ok(after_exit_done(position, trade)),
                }
            }
            // The status query itself timed out: stay Unknown and ask again.
            (S::Unknown { intent, .. }, E::Timeout { intent: i, .. }) if i == intent => Ok(*self),
            // Halting is always possible; a halted symbol books late reports but stays halted.
            (_, E::Halt { reason }) => Ok(S::Halted { reason }),
            (S::Halted { .. }, E::Report { .. } | E::Timeout { .. }) => Ok(*self),
            // Reconciliation, from any state with no order in flight.
            (S::Flat | S::Open { .. } | S::Halted { .. }, E::BeginReconcile { at }) => Ok(S::Reconciling { since: at }),
            (S::Reconciling { .. }, E::Reconciled { position: None, .. }) => Ok(S::Flat),
            (S::Reconciling { .. }, E::Reconciled { position: Some(direction), rules, at }) => {
                Ok(S::Open { trade: OpenTrade { direction, opened_at: at, rules } })
            }
            // Everything else is illegal; name the most useful reason.
            (
                S::EntryPending { .. } | S::ExitPending { .. } | S::Unknown { .. },
                E::Report { .. } | E::Timeout { .. },
            ) => Err("report or timeout for an intent that is not the one in flight"),
            (_, E::SubmitEntry { .. }) => Err("entry only from flat"),
            (_, E::SubmitExit { .. }) => Err("exit only from open (one exit in flight at most)"),
            (_, E::Report { .. } | E::Timeout { .. }) => Err("no order in flight"),
            (_, E::BeginReconcile { .. }) => Err("cannot reconcile with an order in flight"),
            (_, E::Reconciled { .. }) => Err("not reconciling"),
        };
        result.map_err(|reason| InvalidTransition { state: self.name(), event: event.name(), reason })
    }
}

/// A state plus counters: applies events through the table and counts errors.
#[derive(Clone, Debug)]
pub struct Efsm {
    state: ExecState,
    transitions: u64,
    errors: u64,
}

impl Default for Efsm {
    fn default() -> Self {
        Efsm { state: ExecState::Flat, transitions: 0, errors: 0 }
    }
}

impl Efsm {
    /// Resumes in a state restored from the durable journal: an order that was on the wire
    /// when the previous process died restarts as `Unknown` (and is asked for). This is the
    /// only way to start anywhere but `Flat`.
    pub fn resumed(state: ExecState) -> Efsm {
        Efsm { state, transitions: 0, errors: 0 }
    }

    pub fn state(&self) -> &ExecState {
        &self.state
    }
    pub fn errors(&self) -> u64 {
        self.errors
    }
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// Applies an event: on success returns `(from, to)`; on failure the state is
    /// unchanged and the error counter goes up by one.
    pub fn apply(&mut self, event: &ExecEvent) -> Result<(ExecState, ExecState), InvalidTransition> {
        match self.state.transition(event) {
            Ok(next) => {
                let from = std::mem::replace(&mut self.state, next);
                self.transitions += 1;
                Ok((from, next))
            }
            Err(err) => {
                self.errors += 1;
                Err(err)
            }
        }
    }
}

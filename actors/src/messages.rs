//! Typed actor messages. Each is named for what it asks or tells, and has exactly one
//! handler.

use actix::prelude::*;
use engine::agent::{AgentDecision, AgentRefusal};
use engine::ledger::PnlDelta;
use engine::reconcile::VenueView;
use engine::risk::ControlFlags;
use engine::symbol_core::OrderRequest;
use protocol::{ExecReport, IntentId, PositionSnapshot, SessionId, Symbol, Tick};

/// feed → symbol: a market-data tick.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct TickArrived {
    pub tick: Tick,
    /// Wall-clock ns when the engine received it (for tick → intent latency).
    pub received_ns: u64,
    /// The publishing gateway's session: a change means its sequence numbers restarted.
    pub session_id: SessionId,
}

/// symbol → bridge: put this order on the wire (acquires the symbol's lock).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SubmitOrder {
    pub order: OrderRequest,
    /// The frame header's `ts_ns` (the sender's clock): `None` is the wall clock at
    /// sending; on the data clock, the decision's data time (see `crate::data_clock`).
    pub header_ts_ns: Option<u64>,
}

/// symbol → bridge: ask the gateway about an order whose outcome is unknown.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SubmitStatusQuery {
    pub symbol: Symbol,
    pub intent_id: IntentId,
}

/// bridge → symbol: an execution report for this symbol.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct GatewayReport {
    pub report: ExecReport,
}

/// bridge → symbol: no terminal answer before the deadline; the lock is already released.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct RequestTimedOut {
    pub intent_id: IntentId,
}

/// bridge → symbol: the gateway's ledger for this symbol (a snapshot after a (re)connect
/// or a discrepancy).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct Reconcile {
    pub venue: VenueView,
    /// The snapshot that follows a start, a reconnect or a gateway restart (a symbol with
    /// an order unresolved then owes the comparison), not one asked for by a symbol.
    pub after_reconnect: bool,
}

/// What an operator asks of a halted symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    /// Take the venue's position, PnL and fees into the book (stays halted).
    Adopt,
    /// Resume trading, if the book follows the venue.
    Resume,
}

impl OperatorAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            OperatorAction::Adopt => "adopt",
            OperatorAction::Resume => "resume",
        }
    }
}

/// control → symbol: an operator's adopt or resume, with a fresh snapshot of the venue.
/// The answer says what happened, or why it was refused.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<String, String>")]
pub struct OperatorCommand {
    pub action: OperatorAction,
    pub venue: VenueView,
    /// Who asked (logged with the outcome).
    pub who: String,
    /// The symbol's booked fills before the snapshot was fetched (`None`: unknown).
    pub fills_before: Option<u64>,
}

/// bridge → symbol: the shard's journal could not be written, so this symbol's order was
/// not sent (it got a local reject); the symbol halts.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct JournalWriteFailed {
    pub error: String,
}

/// symbol → metrics: a PnL delta to fold.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct FoldPnl {
    pub delta: PnlDelta,
}

/// symbol → its shard's outbox: a row for the trade ledger (an order sent, a fill booked,
/// a trade closed, an adjustment), handed to the ledger's writer in the shard's next batch.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct RecordLedger {
    pub row: trade_ledger::LedgerRow,
}

/// agent router → symbol: an agent's decision for this symbol. The answer is the order it
/// put on the wire, or why the core refused it.
#[derive(Message, Clone, Debug)]
#[rtype(result = "Result<IntentPlaced, AgentRefusal>")]
pub struct AgentIntent {
    pub decision: AgentDecision,
    /// The agent's client id of this intent (carried on its execution-stream events).
    pub client_id: Option<crate::agents::wire::ClientIntentId>,
    /// When the intent endpoint read the intent's frame (wall clock, ns; 0: not from the
    /// endpoint): the start of the symbol's intent → order latency.
    pub received_ns: u64,
}

/// The order an accepted agent intent put on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntentPlaced {
    pub order: IntentId,
    /// An entry order's qty (the one given, or computed from `equity_fraction`); `None`
    /// for an exit.
    pub qty: Option<protocol::Qty>,
}

/// agent router → symbol: this symbol's agent went silent or came back (docs/AGENTS.md,
/// "Liveness"). Silent: the core refuses the agent's entries (`agent_silent`); with
/// `flatten` it also closes the open position.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SetAgentLiveness {
    pub liveness: engine::agent::Liveness,
}

/// control → symbol: this symbol's control flags changed.
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct SetSymbolFlags {
    pub flags: ControlFlags,
}

/// anyone → bridge: request a position snapshot (reply goes to the snapshot recipient).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct RequestSnapshot;

/// bridge → listener: a position snapshot arrived.
#[derive(Message, Clone, Debug)]
#[rtype(result = "()")]
pub struct SnapshotArrived {
    pub snapshot: PositionSnapshot,
}

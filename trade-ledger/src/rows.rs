//! What goes into the ledger: the rows a shard hands over in batches, and the run's final
//! per-symbol figures (written once at the end, so a reader can check the rows against
//! the summary the run printed).

use engine::symbol_core::OrderRequest;
use engine::trade::{BookAdjustment, BookedFill, ClosedTrade};
use protocol::{Money, Symbol};

/// One row of the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LedgerRow {
    /// An order the engine put on the wire.
    Order(OrderRequest),
    Fill(BookedFill),
    Trade(ClosedTrade),
    Adjustment(BookAdjustment),
    /// The run's final figures for one symbol (from its summary).
    Totals(SymbolTotalsRow),
    /// A decision agent's intent the engine accepted, with its thesis (boxed: the other
    /// rows stay small and cheap to move).
    AgentIntent(Box<AgentIntentRow>),
}

/// A decision agent's intent the engine accepted (docs/AGENTS.md §3, §7): who sent it, its
/// client id, what it asked, and its `thesis` stored exactly as given (never interpreted).
/// `order_intent_id` is the engine's order for it, the `entry_intent`/`exit_intent` of the
/// trade it opened or closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentIntentRow {
    pub order_intent_id: u64,
    pub agent_id: String,
    pub client_intent_id: String,
    /// `enter_long`, `enter_short` or `exit`.
    pub action: &'static str,
    pub symbol: Symbol,
    pub thesis: Option<String>,
    /// When the engine accepted it (ns since the Unix epoch, wall clock).
    pub accepted_ns: u64,
}

/// A symbol's final figures as the run's summary printed them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolTotalsRow {
    pub symbol: Symbol,
    /// The book's realized PnL and fees over the run.
    pub realized: Money,
    pub fees: Money,
    /// Closed trades (the core's counter).
    pub trades: u64,
    /// The venue's session net, when the gateway's ledger was read.
    pub gateway_net: Option<Money>,
}

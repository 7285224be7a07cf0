//! What goes into the ledger: the rows a shard hands over in batches, and the run's final
//! per-symbol figures (written once at the end, so a reader can check the rows against
//! the summary the run printed).

use engine::symbol_core::OrderRequest;
use engine::trade::{BookAdjustment, BookedFill, ClosedTrade};
use protocol::{Money, Symbol};

/// One row of the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerRow {
    /// An order the engine put on the wire.
    Order(OrderRequest),
    Fill(BookedFill),
    Trade(ClosedTrade),
    Adjustment(BookAdjustment),
    /// The run's final figures for one symbol (from its summary).
    Totals(SymbolTotalsRow),
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

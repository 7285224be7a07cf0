//! The shared status board: each symbol actor publishes its latest `SymbolStatus` here; the
//! status line, the control endpoint and the final report read it without messaging every
//! actor. Bounded by the number of symbols.

use std::sync::Arc;

use dashmap::DashMap;
use engine::symbol_core::SymbolStatus;
use protocol::Symbol;

/// Latest status per symbol.
#[derive(Clone, Default)]
pub struct StatusBoard(Arc<DashMap<Symbol, SymbolStatus>>);

impl StatusBoard {
    pub fn publish(&self, status: SymbolStatus) {
        self.0.insert(status.symbol, status);
    }

    /// All statuses, sorted by symbol.
    pub fn snapshot(&self) -> Vec<SymbolStatus> {
        let mut all: Vec<SymbolStatus> = self.0.iter().map(|e| *e.value()).collect();
        all.sort_by_key(|a| a.symbol);
        all
    }

    pub fn get(&self, symbol: &Symbol) -> Option<SymbolStatus> {
        self.0.get(symbol).map(|e| *e.value())
    }
}

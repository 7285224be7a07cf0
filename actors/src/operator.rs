//! Operator commands on a halted symbol, from the control endpoint: `adopt` (the books take
//! the venue's position, PnL and fees) and `resume` (trade again, if the books follow the
//! venue). Each fetches a fresh position snapshot from the gateway, then asks the symbol's
//! actor, which decides and logs the outcome with who asked.

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use engine::reconcile::VenueView;
use protocol::Symbol;

use crate::bridge::FetchSnapshot;
use crate::messages::{OperatorAction, OperatorCommand};

/// How long an operator command waits for the gateway's snapshot.
pub const SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(2);

/// Where operator commands go.
#[derive(Clone)]
pub struct OperatorRoutes {
    pub snapshots: Recipient<FetchSnapshot>,
    pub symbols: HashMap<Symbol, Recipient<OperatorCommand>>,
    /// Each symbol's booked fills before the snapshot is fetched: a fill booked in between
    /// would make the snapshot older than the books, and the command is refused.
    pub board: crate::status::StatusBoard,
}

/// Runs one operator command; `Ok` is the symbol's answer, `Err` says why nothing changed.
pub async fn execute(
    routes: OperatorRoutes,
    action: OperatorAction,
    symbol: Symbol,
    who: String,
) -> Result<String, String> {
    let what = action.as_str();
    let target = routes.symbols.get(&symbol).cloned().ok_or_else(|| format!("{what}: unknown symbol {symbol}"))?;
    let fills_before = routes.board.get(&symbol).map(|s| s.counters.fills);
    let snapshot = match routes.snapshots.send(FetchSnapshot { timeout: SNAPSHOT_TIMEOUT }).await {
        Ok(Some(snapshot)) => snapshot,
        Ok(None) => return Err(format!("{what} {symbol}: no position snapshot from the gateway; nothing changed")),
        Err(e) => return Err(format!("{what} {symbol}: bridge unavailable: {e}")),
    };
    let venue = VenueView::from_entry(snapshot.positions.iter().find(|p| p.symbol == symbol));
    match target.send(OperatorCommand { action, venue, who, fills_before }).await {
        Ok(answer) => answer,
        Err(e) => Err(format!("{what} {symbol}: symbol actor unavailable: {e}")),
    }
}

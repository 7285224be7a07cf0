//! `MetricsActor`: folds every fill's `PnlDelta` into the exact fixed-point ledger, and
//! checks after every fold that the portfolio total equals the sum of per-symbol totals.

use actix::prelude::*;
use engine::ledger::{FoldOutcome, PnlLedger, SymbolPnl};
use protocol::{Money, Symbol};
use tracing::{debug, error, warn};

use crate::messages::FoldPnl;

#[derive(Default)]
pub struct MetricsActor {
    ledger: PnlLedger,
    inconsistencies: u64,
    fold_errors: u64,
}

/// The metrics at one moment.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    pub per_symbol: Vec<(Symbol, SymbolPnl)>,
    /// Net (realized − fees), as folded.
    pub total_net: Money,
    /// Net, recomputed as the sum of the per-symbol nets.
    pub sum_symbol_net: Money,
    pub total_realized: Money,
    pub total_fees: Money,
    pub folds: u64,
    pub duplicates: u64,
    pub gaps: u64,
    pub inconsistencies: u64,
    pub fold_errors: u64,
}

#[derive(Message)]
#[rtype(result = "MetricsSnapshot")]
pub struct GetMetrics;

impl Actor for MetricsActor {
    type Context = Context<Self>;
}

/// One delta: fold it (never overwrite), then prove the books still add up.
impl Handler<FoldPnl> for MetricsActor {
    type Result = ();
    fn handle(&mut self, msg: FoldPnl, _: &mut Context<Self>) {
        let d = msg.delta;
        match self.ledger.fold(&d) {
            Ok(FoldOutcome::Applied | FoldOutcome::GapFilled) => {}
            Ok(FoldOutcome::AppliedAfterGap { missing }) => {
                warn!(target: "metrics", symbol = %d.symbol, seq = d.seq, missing, "PNL_GAP: deltas missing before this one");
            }
            Ok(FoldOutcome::Duplicate) => {
                debug!(target: "metrics", symbol = %d.symbol, seq = d.seq, "duplicate PnL delta dropped");
            }
            Err(e) => {
                self.fold_errors += 1;
                error!(target: "metrics", symbol = %d.symbol, seq = d.seq, error = %e, "PNL_FOLD_ERROR");
            }
        }
        if !self.ledger.is_consistent() {
            self.inconsistencies += 1;
            error!(target: "metrics", "PNL_INCONSISTENT: total differs from the sum of symbols");
        }
    }
}

impl Handler<GetMetrics> for MetricsActor {
    type Result = MessageResult<GetMetrics>;
    fn handle(&mut self, _: GetMetrics, _: &mut Context<Self>) -> Self::Result {
        MessageResult(MetricsSnapshot {
            per_symbol: self.ledger.symbols().map(|(s, p)| (*s, *p)).collect(),
            total_net: self.ledger.total_net(),
            sum_symbol_net: self.ledger.sum_of_symbols_net().unwrap_or(Money::ZERO),
            total_realized: self.ledger.total_realized(),
            total_fees: self.ledger.total_fees(),
            folds: self.ledger.folds(),
            duplicates: self.ledger.duplicates(),
            gaps: self.ledger.gaps(),
            inconsistencies: self.inconsistencies,
            fold_errors: self.fold_errors,
        })
    }
}

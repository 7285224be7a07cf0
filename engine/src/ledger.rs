//! The exactly-once PnL fold behind the metrics actor.
//!
//! Each fill produces a [`PnlDelta`] with a per-symbol sequence number starting at 1.
//! Folding adds the delta (never overwrites), drops and counts duplicates, reports gaps,
//! and applies a late delta that fills a reported gap. After every fold the portfolio
//! total equals the sum of the per-symbol totals, exactly, in fixed point.

use std::collections::{BTreeMap, BTreeSet};

use protocol::fixed::FixedError;
use protocol::{Money, Symbol};

/// How many missing sequence numbers per symbol the ledger remembers.
pub const MAX_TRACKED_GAPS: usize = 1024;

/// One fill's effect on PnL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PnlDelta {
    pub symbol: Symbol,
    /// Per-symbol, from 1, +1 per delta.
    pub seq: u64,
    /// Gross realized PnL of this fill.
    pub realized: Money,
    pub fee: Money,
    /// Set on the fill that closed a trade: the trade's net PnL (win if > 0).
    pub closed_trade: Option<Money>,
    /// The symbol's exposure (cost basis) after this fill.
    pub exposure_after: Money,
}

/// Per-symbol totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SymbolPnl {
    pub realized: Money,
    pub fees: Money,
    pub trades: u64,
    pub wins: u64,
    pub losses: u64,
    pub exposure: Money,
    pub fills: u64,
    pub last_seq: u64,
}

impl SymbolPnl {
    /// Net realized PnL (realized − fees).
    pub fn net(&self) -> Money {
        self.realized.checked_sub(self.fees).unwrap_or(Money::ZERO)
    }
}

/// What folding one delta did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FoldOutcome {
    Applied,
    /// Applied, and `missing` sequence numbers before it have not arrived (yet).
    AppliedAfterGap {
        missing: u64,
    },
    /// A late delta that filled an earlier gap.
    GapFilled,
    /// Seen before: dropped.
    Duplicate,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("money arithmetic: {0}")]
    Fixed(#[from] FixedError),
    #[error("sequence 0 is not valid")]
    ZeroSeq,
}

#[derive(Clone, Debug, Default)]
struct SymbolEntry {
    pnl: SymbolPnl,
    missing: BTreeSet<u64>,
}

/// The fold.
#[derive(Clone, Debug, Default)]
pub struct PnlLedger {
    symbols: BTreeMap<Symbol, SymbolEntry>,
    total_realized: Money,
    total_fees: Money,
    duplicates: u64,
    gaps: u64,
    folds: u64,
}

impl PnlLedger {
    /// Folds one delta. On error nothing changes.
    pub fn fold(&mut self, delta: &PnlDelta) -> Result<FoldOutcome, LedgerError> {
        if delta.seq == 0 {
            return Err(LedgerError::ZeroSeq);
        }
        let entry = self.symbols.entry(delta.symbol).or_default();
        let last = entry.pnl.last_seq;
        let outcome = if delta.seq == last + 1 {
            FoldOutcome::Applied
        } else if delta.seq > last + 1 {
            FoldOutcome::AppliedAfterGap { missing: delta.seq - last - 1 }
        } else if entry.missing.contains(&delta.seq) {
            FoldOutcome::GapFilled
        } else {
            self.duplicates += 1;
            return Ok(FoldOutcome::Duplicate);
        };
        // Compute everything first, then commit, so an overflow changes nothing.
        let realized = entry.pnl.realized.checked_add(delta.realized)?;
        let fees = entry.pnl.fees.checked_add(delta.fee)?;
        let total_realized = self.total_realized.checked_add(delta.realized)?;
        let total_fees = self.total_fees.checked_add(delta.fee)?;
        entry.pnl.realized = realized;
        entry.pnl.fees = fees;
        entry.pnl.fills += 1;
        if let Some(trade) = delta.closed_trade {
            entry.pnl.trades += 1;
            if trade > Money::ZERO {
                entry.pnl.wins += 1;
            } else {
                entry.pnl.losses += 1;
            }
        }
        match outcome {
            FoldOutcome::Applied => {
                entry.pnl.last_seq = delta.seq;
                entry.pnl.exposure = delta.exposure_after;
            }
            FoldOutcome::AppliedAfterGap { .. } => {
                for missing in last + 1..delta.seq {
                    if entry.missing.len() >= MAX_TRACKED_GAPS {
                        break;
                    }
                    entry.missing.insert(missing);
                }
                entry.pnl.last_seq = delta.seq;
                entry.pnl.exposure = delta.exposure_after;
                self.gaps += 1;
            }
            FoldOutcome::GapFilled => {
                entry.missing.remove(&delta.seq);
            }
            FoldOutcome::Duplicate => {}
        }
        self.total_realized = total_realized;
        self.total_fees = total_fees;
        self.folds += 1;
        Ok(outcome)
    }

    pub fn symbol(&self, symbol: &Symbol) -> Option<SymbolPnl> {
        self.symbols.get(symbol).map(|e| e.pnl)
    }
    pub fn symbols(&self) -> impl Iterator<Item = (&Symbol, &SymbolPnl)> {
        self.symbols.iter().map(|(s, e)| (s, &e.pnl))
    }
    /// Sequence numbers still missing for a symbol.
    pub fn missing(&self, symbol: &Symbol) -> usize {
        self.symbols.get(symbol).map_or(0, |e| e.missing.len())
    }
    /// Net total across the portfolio (realized − fees), kept by folding.
    pub fn total_net(&self) -> Money {
        self.total_realized.checked_sub(self.total_fees).unwrap_or(Money::ZERO)
    }
    pub fn total_realized(&self) -> Money {
        self.total_realized
    }
    pub fn total_fees(&self) -> Money {
        self.total_fees
    }
    /// Net total recomputed from the per-symbol totals.
    pub fn sum_of_symbols_net(&self) -> Result<Money, FixedError> {
        Money::checked_sum(self.symbols.values().map(|e| e.pnl.net()))
    }
    /// True when the folded total equals the sum of per-symbol totals exactly.
    pub fn is_consistent(&self) -> bool {
        let realized = Money::checked_sum(self.symbols.values().map(|e| e.pnl.realized));
        let fees = Money::checked_sum(self.symbols.values().map(|e| e.pnl.fees));
        realized == Ok(self.total_realized) && fees == Ok(self.total_fees)
    }
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
    pub fn gaps(&self) -> u64 {
        self.gaps
    }
    pub fn folds(&self) -> u64 {
        self.folds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(sym: &str, seq: u64, realized: i64, fee: i64) -> PnlDelta {
        PnlDelta {
            symbol: Symbol::new(sym).unwrap(),
            seq,
            realized: Money::from_raw_signed(realized),
            fee: Money::from_raw_signed(fee),
            closed_trade: None,
            exposure_after: Money::ZERO,
        }
    }

    #[test]
    fn folds_add_and_never_overwrite() {
        let mut l = PnlLedger::default();
        l.fold(&delta("A", 1, 100, 1)).unwrap();
        l.fold(&delta("A", 2, 50, 1)).unwrap();
        l.fold(&delta("B", 1, -30, 2)).unwrap();
        assert_eq!(l.symbol(&Symbol::new("A").unwrap()).unwrap().realized, Money::from_raw_signed(150));
        assert_eq!(l.total_net(), Money::from_raw_signed(116));
        assert_eq!(l.sum_of_symbols_net().unwrap(), l.total_net());
        assert!(l.is_consistent());
    }

    #[test]
    fn duplicates_are_dropped_and_counted() {
        let mut l = PnlLedger::default();
        l.fold(&delta("A", 1, 100, 0)).unwrap();
        assert_eq!(l.fold(&delta("A", 1, 100, 0)).unwrap(), FoldOutcome::Duplicate);
        assert_eq!(l.total_net(), Money::from_raw_signed(100));
        assert_eq!(l.duplicates(), 1);
    }

    #[test]
    fn gaps_are_reported_and_late_deltas_fill_them_once() {
        let mut l = PnlLedger::default();
        l.fold(&delta("A", 1, 1, 0)).unwrap();
        assert_eq!(l.fold(&delta("A", 4, 4, 0)).unwrap(), FoldOutcome::AppliedAfterGap { missing: 2 });
        assert_eq!(l.missing(&Symbol::new("A").unwrap()), 2);
        assert_eq!(l.fold(&delta("A", 3, 3, 0)).unwrap(), FoldOutcome::GapFilled);
        assert_eq!(l.fold(&delta("A", 3, 3, 0)).unwrap(), FoldOutcome::Duplicate);
        assert_eq!(l.fold(&delta("A", 2, 2, 0)).unwrap(), FoldOutcome::GapFilled);
        assert_eq!(l.total_net(), Money::from_raw_signed(10));
        assert_eq!(l.gaps(), 1);
        assert!(l.is_consistent());
    }

    #[test]
    fn overflow_changes_nothing() {
        let mut l = PnlLedger::default();
        l.fold(&delta("A", 1, i64::MAX, 0)).unwrap();
        assert!(l.fold(&delta("B", 1, 1, 0)).is_err());
        assert_eq!(l.symbol(&Symbol::new("B").unwrap()).map(|p| p.realized), Some(Money::ZERO));
        assert!(l.is_consistent());
    }

    #[test]
    fn seq_zero_is_refused() {
        assert_eq!(PnlLedger::default().fold(&delta("A", 0, 1, 0)), Err(LedgerError::ZeroSeq));
    }
}

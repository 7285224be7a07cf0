//! What the HTTP server shows: a point-in-time [`LiveSnapshot`] of the running engine,
//! gathered on demand from the shared status board, the shared risk state and one message to
//! each shard's bridge (never from the hot path: nothing here is written by a shard for the
//! server's sake). `/metrics`, `/api/status` and the status page's live stream all read it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::Addr;
use actors::bridge::{BridgeActor, BridgeStats, GetBridgeStats};
use actors::control::{ControlActor, ControlChange, ControlRequest, GetRecentChanges};
use actors::market_data::{FeedCounterSet, FeedTotals};
use actors::state_store::{GetStateLag, StateStore};
use actors::status::StatusBoard;
use actors::symbol_actor::{GetTickToIntent, SymbolActor};
use engine::discrepancy::DiscrepancyCode;
use engine::risk::{BreakerState, ControlFlags, PortfolioRisk};
use engine::symbol_core::SymbolStatus;
use hdrhistogram::Histogram;
use protocol::Symbol;

/// How many discrepancies the page lists.
pub const RECENT_DISCREPANCIES: usize = 50;

/// Where a snapshot's parts come from; cloned into the server's thread.
#[derive(Clone)]
pub struct LiveSources {
    pub board: StatusBoard,
    pub risk: Arc<PortfolioRisk>,
    pub bridges: Vec<Addr<BridgeActor>>,
    pub symbols: Vec<(Symbol, Addr<SymbolActor>)>,
    pub shard_of: HashMap<Symbol, usize>,
    pub control: Addr<ControlActor>,
    pub state: Option<Addr<StateStore>>,
    pub feed: Option<FeedCounterSet>,
    /// Discrepancies seen so far, found by comparing each symbol's counts between snapshots.
    pub discrepancies: Arc<Mutex<DiscrepancyWatch>>,
}

/// The engine at one moment.
#[derive(Clone, Debug)]
pub struct LiveSnapshot {
    /// Wall clock, ns since the Unix epoch.
    pub at_ns: u64,
    pub symbols: Vec<SymbolStatus>,
    pub shard_of: HashMap<Symbol, usize>,
    pub bridge: BridgeStats,
    /// Tick → order, µs, every symbol merged (`None`: no order yet).
    pub tick_to_order_us: Option<Histogram<u64>>,
    pub feed: FeedTotals,
    pub flags: ControlFlags,
    pub symbol_flags: BTreeMap<String, ControlFlags>,
    pub breaker: BreakerState,
    pub breaker_trips: u64,
    pub breaker_transitions: u64,
    pub gateway_up: bool,
    pub venue_reconciling: bool,
    pub state_lag: Duration,
    pub recent_changes: Vec<ControlChange>,
    pub recent_discrepancies: Vec<DiscrepancySeen>,
}

impl LiveSnapshot {
    /// Reconciled with the gateway and trading: every shard sees the gateway, no shard is
    /// reconciling with it, and the global lock is off. (A symbol halted on its own does
    /// not make the engine unready; it shows in the status and the metrics.)
    pub fn ready(&self) -> Result<(), String> {
        if !self.bridge.gateway_up || !self.gateway_up {
            return Err("gateway down".into());
        }
        if self.venue_reconciling {
            return Err("reconciling with the gateway".into());
        }
        if self.flags.global_lock {
            return Err("global_lock is on".into());
        }
        if self.symbols.is_empty() {
            return Err("no symbol has reported yet".into());
        }
        Ok(())
    }
}

/// One discrepancy noticed by the server (the symbol's own log line has the details).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DiscrepancySeen {
    /// When the server noticed it (wall clock, ns since the Unix epoch).
    pub seen_ns: u64,
    pub symbol: Symbol,
    #[serde(serialize_with = "code_name")]
    pub code: DiscrepancyCode,
    /// How many of this code the symbol has had so far.
    pub count: u64,
}

fn code_name<S: serde::Serializer>(code: &DiscrepancyCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

/// Turns the per-symbol discrepancy counts of successive snapshots into a list of recent
/// discrepancies (bounded).
#[derive(Debug, Default)]
pub struct DiscrepancyWatch {
    last: HashMap<(Symbol, DiscrepancyCode), u64>,
    recent: VecDeque<DiscrepancySeen>,
}

impl DiscrepancyWatch {
    pub fn observe(&mut self, statuses: &[SymbolStatus], now_ns: u64) -> Vec<DiscrepancySeen> {
        for status in statuses {
            for (code, count) in status.discrepancies.nonzero() {
                let before = self.last.insert((status.symbol, code), count).unwrap_or(0);
                if count > before {
                    if self.recent.len() == RECENT_DISCREPANCIES {
                        self.recent.pop_front();
                    }
                    self.recent.push_back(DiscrepancySeen { seen_ns: now_ns, symbol: status.symbol, code, count });
                }
            }
        }
        self.recent.iter().copied().collect()
    }
}

/// Why a snapshot could not be taken.
#[derive(Debug, thiserror::Error)]
#[error("the engine did not answer: {0}")]
pub struct Unavailable(String);

impl LiveSources {
    /// Gathers a snapshot: one message to each bridge, to the control actor and to the state
    /// store; with `latency`, also one to every symbol for its tick → order histogram.
    pub async fn snapshot(&self, latency: bool) -> Result<LiveSnapshot, Unavailable> {
        let mut bridge: Option<BridgeStats> = None;
        for addr in &self.bridges {
            let stats = addr.send(GetBridgeStats).await.map_err(|e| Unavailable(format!("bridge: {e}")))?;
            match bridge.as_mut() {
                Some(total) => total.merge(stats),
                None => bridge = Some(stats),
            }
        }
        let mut tick_to_order_us: Option<Histogram<u64>> = None;
        if latency {
            for (_, addr) in &self.symbols {
                if let Ok(Some(h)) = addr.send(GetTickToIntent).await {
                    match tick_to_order_us.as_mut() {
                        Some(total) => {
                            let _ = total.add(&h);
                        }
                        None => tick_to_order_us = Some(h),
                    }
                }
            }
        }
        let flags = self.control.send(actors::control::Control(ControlRequest::Get)).await.ok();
        let mut symbol_flags = flags.and_then(|r| r.flags).unwrap_or_default();
        symbol_flags.remove(actors::control::Scope::GLOBAL);
        let recent_changes = self.control.send(GetRecentChanges).await.unwrap_or_default();
        let state_lag = match &self.state {
            Some(store) => store.send(GetStateLag).await.unwrap_or_default(),
            None => Duration::ZERO,
        };
        let symbols = self.board.snapshot();
        let at_ns = crate::run_id::wall_ns();
        let recent_discrepancies = match self.discrepancies.lock() {
            Ok(mut watch) => watch.observe(&symbols, at_ns),
            Err(poisoned) => poisoned.into_inner().observe(&symbols, at_ns),
        };
        Ok(LiveSnapshot {
            at_ns,
            symbols,
            shard_of: self.shard_of.clone(),
            bridge: bridge.unwrap_or_default(),
            tick_to_order_us,
            feed: self.feed.as_ref().map(FeedCounterSet::totals).unwrap_or_default(),
            flags: self.risk.flags(),
            symbol_flags,
            breaker: self.risk.breaker_state(),
            breaker_trips: self.risk.breaker_trips(),
            breaker_transitions: self.risk.breaker_transitions(),
            gateway_up: self.risk.gateway_up(),
            venue_reconciling: self.risk.venue_reconciling(),
            state_lag,
            recent_changes,
            recent_discrepancies,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::discrepancy::DiscrepancyCounts;

    fn status(symbol: &str, codes: &[DiscrepancyCode]) -> SymbolStatus {
        let mut counts = DiscrepancyCounts::default();
        for code in codes {
            counts.record(*code);
        }
        let risk = PortfolioRisk::new(Default::default(), 1);
        let template = engine::strategy::IntentTemplate { qty: "1".parse().unwrap(), exits: Default::default() };
        let strategy = Box::new(engine::strategy::churn::Churn::new(template));
        let core = engine::symbol_core::SymbolCore::new(
            engine::symbol_core::CoreConfig::new(Symbol::new(symbol).unwrap()),
            strategy,
            &risk,
        );
        SymbolStatus { discrepancies: counts, ..core.status() }
    }

    #[test]
    fn a_discrepancy_is_listed_once_when_its_count_rises() {
        let mut watch = DiscrepancyWatch::default();
        assert!(watch.observe(&[status("A", &[])], 1).is_empty());
        let seen = watch.observe(&[status("A", &[DiscrepancyCode::WrongSide])], 2);
        assert_eq!(seen.len(), 1);
        assert_eq!((seen[0].code, seen[0].count, seen[0].seen_ns), (DiscrepancyCode::WrongSide, 1, 2));
        assert_eq!(watch.observe(&[status("A", &[DiscrepancyCode::WrongSide])], 3).len(), 1, "no new one");
        let two = [DiscrepancyCode::WrongSide, DiscrepancyCode::WrongSide];
        assert_eq!(watch.observe(&[status("A", &two)], 4).len(), 2, "the count rose again");
    }

    #[test]
    fn the_list_is_bounded() {
        let mut watch = DiscrepancyWatch::default();
        let mut codes = Vec::new();
        for n in 0..(RECENT_DISCREPANCIES + 10) {
            codes.push(DiscrepancyCode::WrongSide);
            let seen = watch.observe(&[status("A", &codes)], n as u64);
            assert!(seen.len() <= RECENT_DISCREPANCIES);
        }
    }
}

//! The status page's data: a [`LiveSnapshot`] as JSON rows and totals (`/api/status`, and
//! each event of the `/api/events` stream). Money is rendered from the fixed-point values as
//! exact decimal text; the portfolio totals are exact sums of the rows.

use serde::Serialize;

use actors::control::ControlChange;
use engine::risk::ControlFlags;
use engine::symbol_core::SymbolStatus;
use protocol::Money;

use super::live::{DiscrepancySeen, LiveSnapshot};

#[derive(Debug, Serialize)]
pub struct PageView {
    pub at_ns: u64,
    pub ready: bool,
    pub not_ready_because: Option<String>,
    pub gateway: GatewayView,
    pub breaker: BreakerView,
    pub flags: ControlFlags,
    pub totals: Totals,
    pub symbols: Vec<SymbolRow>,
    pub recent_changes: Vec<ControlChange>,
    pub recent_discrepancies: Vec<DiscrepancySeen>,
}

#[derive(Debug, Serialize)]
pub struct GatewayView {
    pub up: bool,
    pub silent_ms: u64,
    pub sessions: u64,
    pub disconnects: u64,
    pub round_trip_p50_us: Option<u64>,
    pub round_trip_p99_us: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct BreakerView {
    pub state: &'static str,
    pub trips: u64,
    pub transitions: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Totals {
    pub realized: String,
    pub unrealized: String,
    pub fees: String,
    pub net: String,
    pub orders: u64,
    pub fills: u64,
    pub locks_held: usize,
    pub halted: usize,
    pub symbols: usize,
}

#[derive(Debug, Serialize)]
pub struct SymbolRow {
    pub symbol: String,
    pub shard: Option<usize>,
    pub state: &'static str,
    /// `long 0.5`, `short 1`, or `flat`.
    pub position: String,
    pub avg_price: Option<String>,
    pub realized: String,
    pub unrealized: String,
    pub fees: String,
    pub net: String,
    pub orders: u64,
    pub fills: u64,
    pub lock_held: bool,
    /// Milliseconds since the symbol's last tick (`None`: no tick yet).
    pub last_tick_age_ms: Option<u64>,
    pub halted_reason: Option<&'static str>,
    pub last_discrepancy: Option<&'static str>,
    pub flags: Option<ControlFlags>,
}

fn net(s: &SymbolStatus) -> Money {
    s.realized.checked_sub(s.fees).unwrap_or(Money::ZERO)
}

fn sum(rows: &[SymbolStatus], pick: impl Fn(&SymbolStatus) -> Money) -> String {
    Money::checked_sum(rows.iter().map(pick)).map_or_else(|_| "overflow".to_string(), |m| m.to_string())
}

impl PageView {
    pub fn of(snapshot: &LiveSnapshot) -> PageView {
        let rows = &snapshot.symbols;
        let symbols = rows
            .iter()
            .map(|s| SymbolRow {
                symbol: s.symbol.to_string(),
                shard: snapshot.shard_of.get(&s.symbol).copied(),
                state: s.state,
                position: s
                    .position
                    .map_or_else(|| "flat".to_string(), |p| format!("{} {}", p.direction.as_str(), p.qty)),
                avg_price: s.position.and_then(|p| p.avg_price().ok()).map(|p| p.to_string()),
                realized: s.realized.to_string(),
                unrealized: s.unrealized.to_string(),
                fees: s.fees.to_string(),
                net: net(s).to_string(),
                orders: s.counters.orders,
                fills: s.counters.fills,
                lock_held: s.order_in_flight.is_some(),
                last_tick_age_ms: (s.last_tick_at > 0)
                    .then(|| snapshot.at_ns.saturating_sub(s.last_tick_at) / 1_000_000),
                halted_reason: s.halt_reason.map(|r| r.as_str()),
                last_discrepancy: s.last_discrepancy.map(|c| c.as_str()),
                flags: snapshot.symbol_flags.get(s.symbol.as_str()).copied(),
            })
            .collect();
        let totals = Totals {
            realized: sum(rows, |s| s.realized),
            unrealized: sum(rows, |s| s.unrealized),
            fees: sum(rows, |s| s.fees),
            net: sum(rows, net),
            orders: rows.iter().map(|s| s.counters.orders).sum(),
            fills: rows.iter().map(|s| s.counters.fills).sum(),
            locks_held: rows.iter().filter(|s| s.order_in_flight.is_some()).count(),
            halted: rows.iter().filter(|s| s.is_halted()).count(),
            symbols: rows.len(),
        };
        let rtt = &snapshot.bridge.round_trip_us;
        let ready = snapshot.ready();
        PageView {
            at_ns: snapshot.at_ns,
            ready: ready.is_ok(),
            not_ready_because: ready.err(),
            gateway: GatewayView {
                up: snapshot.bridge.gateway_up,
                silent_ms: snapshot.bridge.gateway_silent_ms,
                sessions: snapshot.bridge.gateway_sessions,
                disconnects: snapshot.bridge.disconnects,
                round_trip_p50_us: (rtt.count > 0).then_some(rtt.p50),
                round_trip_p99_us: (rtt.count > 0).then_some(rtt.p99),
            },
            breaker: BreakerView {
                state: snapshot.breaker.name(),
                trips: snapshot.breaker_trips,
                transitions: snapshot.breaker_transitions,
            },
            flags: snapshot.flags,
            totals,
            symbols,
            recent_changes: snapshot.recent_changes.clone(),
            recent_discrepancies: snapshot.recent_discrepancies.clone(),
        }
    }
}

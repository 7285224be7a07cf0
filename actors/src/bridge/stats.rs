//! The bridge's figures: counters, round-trip and lock-hold histograms, and how the figures
//! of several shards merge into one.

use hdrhistogram::Histogram;
use protocol::Symbol;

/// Figures for the status line and the stress report.
#[derive(Clone, Debug, Default)]
pub struct BridgeStats {
    pub orders_sent: u64,
    pub queries_sent: u64,
    pub reports_received: u64,
    pub fills_received: u64,
    pub timeouts: u64,
    /// Status queries that timed out (an order's own timeout is counted once, in `timeouts`).
    pub query_timeouts: u64,
    pub send_failures: u64,
    pub undecodable_frames: u64,
    pub session_rejects: u64,
    pub unroutable_reports: u64,
    pub mismatched_reports: u64,
    /// Order-channel frames whose `seq` skipped ahead / did not advance (same gateway session).
    pub seq_gaps: u64,
    pub seq_repeats: u64,
    /// Connection drops seen by the DEALER's monitor (each starts a reconciliation).
    pub disconnects: u64,
    /// Orders held back (rejected locally) between a reconnect and its snapshot.
    pub orders_held: u64,
    /// Bridge start → first reconciling snapshot, milliseconds.
    pub first_contact_ms: Option<f64>,
    /// Spells in which the gateway answered but acknowledged none of our frames.
    pub unacknowledged_spells: u64,
    /// Snapshot requests sent to reconcile (start-up, gateway restart, discrepancy).
    pub reconcile_requests: u64,
    pub locks_acquired: u64,
    pub locks_released: u64,
    pub locks_held: usize,
    pub max_held_us: u64,
    pub gateway_up: bool,
    /// Milliseconds since the last frame from the gateway (heartbeats included); merged
    /// shards show the longest.
    pub gateway_silent_ms: u64,
    pub gateway_sessions: u64,
    /// Order round trip (submit → terminal report), microseconds: p50, p90, p99, p999, max, count.
    pub round_trip_us: Percentiles,
    pub lock_hold_us: Percentiles,
    /// Round trip per symbol that sent orders: p50, p90, p99, p999, max, count.
    pub round_trip_by_symbol: Vec<(Symbol, Percentiles)>,
    /// The histograms behind `round_trip_us` and `lock_hold_us`, for merging shards.
    pub round_trip_histogram: Option<Mergeable>,
    pub lock_hold_histogram: Option<Mergeable>,
    /// Reports that arrived on this shard's connection for another shard's symbol, and
    /// were handed to that shard's bridge.
    pub reports_forwarded: u64,
    /// Shards merged into these figures.
    pub shards: usize,
    /// Snapshots fetched for a report or an operator, and those whose request could not
    /// be sent.
    pub snapshot_fetches: u64,
    pub snapshot_fetches_unsent: u64,
    /// Snapshots received (fetched or reconciling).
    pub snapshots_received: u64,
}

/// A histogram carried for merging, shown in `Debug` by its count only.
#[derive(Clone)]
pub struct Mergeable(pub Histogram<u64>);

impl std::fmt::Debug for Mergeable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "histogram(n = {})", self.0.len())
    }
}

impl BridgeStats {
    /// Adds another shard's figures: counters summed, histograms merged, first contact the
    /// latest (the engine trades once every shard has reconciled), the gateway up only if
    /// every shard sees it up.
    pub fn merge(&mut self, other: BridgeStats) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += other.$f; )* };
        }
        sum!(
            orders_sent,
            queries_sent,
            reports_received,
            fills_received,
            timeouts,
            query_timeouts,
            send_failures,
            undecodable_frames,
            session_rejects,
            unroutable_reports,
            mismatched_reports,
            seq_gaps,
            seq_repeats,
            disconnects,
            orders_held,
            unacknowledged_spells,
            reconcile_requests,
            locks_acquired,
            locks_released,
            locks_held,
            reports_forwarded,
            snapshot_fetches,
            snapshot_fetches_unsent,
            snapshots_received,
            shards
        );
        // Every shard sees the same gateway sessions.
        self.gateway_sessions = self.gateway_sessions.max(other.gateway_sessions);
        self.max_held_us = self.max_held_us.max(other.max_held_us);
        self.gateway_up &= other.gateway_up;
        self.gateway_silent_ms = self.gateway_silent_ms.max(other.gateway_silent_ms);
        self.first_contact_ms = match (self.first_contact_ms, other.first_contact_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        for (mine, theirs) in [
            (&mut self.round_trip_histogram, other.round_trip_histogram),
            (&mut self.lock_hold_histogram, other.lock_hold_histogram),
        ] {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => {
                    let _ = m.0.add(&t.0);
                }
                (None, Some(t)) => *mine = Some(t),
                _ => {}
            }
        }
        self.round_trip_us = self.round_trip_histogram.as_ref().map_or_else(Percentiles::default, |h| summarize(&h.0));
        self.lock_hold_us = self.lock_hold_histogram.as_ref().map_or_else(Percentiles::default, |h| summarize(&h.0));
        self.round_trip_by_symbol.extend(other.round_trip_by_symbol);
        self.round_trip_by_symbol.sort_by_key(|a| a.0);
    }
}

/// A latency summary. `count == 0` means nothing was measured: the percentiles are then
/// meaningless zeros, and a report shows `n = 0` instead of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub count: u64,
}

/// p50, p90, p99, p999, max and count of a histogram.
pub fn summarize(h: &Histogram<u64>) -> Percentiles {
    Percentiles {
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        count: h.len(),
    }
}

/// 1 µs .. 60 s with 2 significant digits: small enough to keep one per active symbol.
pub fn small_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).unwrap_or_else(|_| Histogram::new(2).expect("valid sigfig"))
}

/// 1 µs .. 60 s with 1 significant digit (buckets about 6 % wide, 2.9 KiB): one per symbol
/// for the per-symbol report lines. With two per symbol at 2 digits (20 KiB each), 10,000
/// symbols held 400 MB of histograms; the engine-wide histograms keep 2 or 3 digits.
pub fn symbol_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 1).unwrap_or_else(|_| Histogram::new(1).expect("valid sigfig"))
}

pub(crate) fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h with 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).expect("valid sigfig"))
}

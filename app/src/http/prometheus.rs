//! `/metrics`: a [`LiveSnapshot`] in the Prometheus text format (OpenMetrics 1.0), encoded
//! by the `prometheus-client` crate. Names follow Prometheus conventions: an `engine_`
//! prefix, `_total` on counters (the encoder adds it), `_seconds` on times, base units
//! (seconds; quote currency for money; instrument units for positions).
//!
//! Cardinality: with per-symbol labels on (`http.symbol_labels`, the default) each
//! per-symbol family has one series per symbol: 12 families, so about 12 × symbols series,
//! plus about 40 series that do not depend on the symbol count. With them off, each
//! per-symbol family is one series, summed over the symbols.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use engine::discrepancy::DiscrepancyCode;
use engine::Direction;
use hdrhistogram::Histogram;
use protocol::Money;

use super::live::LiveSnapshot;

/// The content type of the encoded text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Histogram bucket upper bounds, in seconds (the last bucket is +Inf).
const LATENCY_BOUNDS_S: [f64; 16] =
    [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1.0, 2.5];

/// Encodes a snapshot (a series without labels is written without braces; an unlabelled
/// family has exactly one row). `symbol_labels`: one series per symbol, or one summed series.
pub fn encode(snapshot: Arc<LiveSnapshot>, symbol_labels: bool) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector { snapshot, symbol_labels }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

#[derive(Debug)]
struct SnapshotCollector {
    snapshot: Arc<LiveSnapshot>,
    symbol_labels: bool,
}

/// A fixed-point amount in base units, for a gauge (display only: the books stay exact).
fn money(m: Money) -> f64 {
    m.raw() as f64 / 1e8
}

type Labels = Vec<(&'static str, String)>;

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, rows: &[(Labels, u64)]) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in rows {
        if labels.is_empty() {
            ConstCounter::new(*value).encode(metric)?;
            return Ok(());
        }
        ConstCounter::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<&Unit>,
    rows: &[(Labels, f64)],
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, unit, MetricType::Gauge)?;
    for (labels, value) in rows {
        if labels.is_empty() {
            ConstGauge::new(*value).encode(metric)?;
            return Ok(());
        }
        ConstGauge::new(*value).encode(metric.encode_family(labels)?)?;
    }
    Ok(())
}

/// A latency histogram recorded in µs, as buckets in seconds.
fn latency_histogram(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    histogram: Option<&Histogram<u64>>,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, Some(&Unit::Seconds), MetricType::Histogram)?;
    let (sum, count, buckets) = histogram_buckets(histogram);
    metric.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
}

/// (sum in seconds, count, per-bucket counts — not cumulative — with `f64::MAX` as +Inf).
fn histogram_buckets(histogram: Option<&Histogram<u64>>) -> (f64, u64, Vec<(f64, u64)>) {
    let mut buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_S.iter().map(|b| (*b, 0)).collect();
    buckets.push((f64::MAX, 0));
    let Some(h) = histogram else {
        return (0.0, 0, buckets);
    };
    let mut sum_us = 0.0;
    for value in h.iter_recorded() {
        let us = h.highest_equivalent(value.value_iterated_to());
        let n = value.count_at_value();
        sum_us += us as f64 * n as f64;
        let seconds = us as f64 / 1e6;
        let slot = buckets.iter().position(|(bound, _)| seconds <= *bound).unwrap_or(buckets.len() - 1);
        if let Some(bucket) = buckets.get_mut(slot) {
            bucket.1 += n;
        }
    }
    (sum_us / 1e6, h.len(), buckets)
}

impl SnapshotCollector {
    /// One row per symbol, or one row summing every symbol.
    fn per_symbol<T: Copy + std::iter::Sum<T>>(
        &self,
        value: impl Fn(&engine::symbol_core::SymbolStatus) -> T,
    ) -> Vec<(Labels, T)> {
        let statuses = &self.snapshot.symbols;
        if self.symbol_labels {
            statuses.iter().map(|s| (vec![("symbol", s.symbol.to_string())], value(s))).collect()
        } else {
            vec![(Vec::new(), statuses.iter().map(value).sum())]
        }
    }
}

impl Collector for SnapshotCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> std::fmt::Result {
        let s = &self.snapshot;
        let none = Vec::new;
        // Orders and fills, per symbol.
        counter(&mut e, "engine_orders_sent", "Orders sent to the gateway.", &self.per_symbol(|s| s.counters.orders))?;
        let mut outcomes = Vec::new();
        for (outcome, pick) in [
            ("rejected", (|s: &engine::symbol_core::SymbolStatus| s.counters.rejects) as fn(&_) -> u64),
            ("timed_out", |s| s.counters.timeouts),
        ] {
            for (mut labels, n) in self.per_symbol(pick) {
                labels.push(("outcome", outcome.to_string()));
                outcomes.push((labels, n));
            }
        }
        counter(&mut e, "engine_order_failures", "Orders the gateway rejected or that timed out.", &outcomes)?;
        counter(
            &mut e,
            "engine_decisions_refused",
            "Decisions refused by risk or control before any order.",
            &self.per_symbol(|s| s.counters.refusals),
        )?;
        counter(&mut e, "engine_fills", "Fill reports booked.", &self.per_symbol(|s| s.counters.fills))?;
        counter(&mut e, "engine_trades_closed", "Round trips closed.", &self.per_symbol(|s| s.counters.trades))?;
        counter(&mut e, "engine_ticks", "Ticks taken by the symbol.", &self.per_symbol(|s| s.counters.ticks))?;
        counter(
            &mut e,
            "engine_efsm_errors",
            "Inputs with no legal state-machine edge.",
            &self.per_symbol(|s| s.efsm_errors),
        )?;
        // Money and positions, per symbol.
        gauge(
            &mut e,
            "engine_realized_pnl",
            "Realized PnL this session, before fees (quote currency).",
            None,
            &self.per_symbol(|s| money(s.realized)),
        )?;
        gauge(
            &mut e,
            "engine_unrealized_pnl",
            "Unrealized PnL of the open position at the last tick (quote currency).",
            None,
            &self.per_symbol(|s| money(s.unrealized)),
        )?;
        gauge(
            &mut e,
            "engine_fees",
            "Fees paid this session (quote currency).",
            None,
            &self.per_symbol(|s| money(s.fees)),
        )?;
        gauge(
            &mut e,
            "engine_position",
            "Open position, signed (long > 0, short < 0), instrument units.",
            None,
            &self.per_symbol(|s| {
                s.position.map_or(0.0, |p| {
                    let qty = p.qty.raw() as f64 / 1e8;
                    if p.direction == Direction::Short {
                        -qty
                    } else {
                        qty
                    }
                })
            }),
        )?;
        gauge(
            &mut e,
            "engine_lock_held",
            "1 while the symbol has an order on the wire.",
            None,
            &self.per_symbol(|s| f64::from(u8::from(s.order_in_flight.is_some()))),
        )?;
        gauge(
            &mut e,
            "engine_symbol_halted",
            "1 while the symbol is halted.",
            None,
            &self.per_symbol(|s| f64::from(u8::from(s.is_halted()))),
        )?;
        // Portfolio-wide.
        gauge(
            &mut e,
            "engine_locks_held",
            "Order locks held by the bridges now.",
            None,
            &[(none(), s.bridge.locks_held as f64)],
        )?;
        let mut by_code = Vec::new();
        for code in DiscrepancyCode::ALL {
            let n: u64 = s.symbols.iter().map(|st| st.discrepancies.get(code)).sum();
            by_code.push((vec![("code", code.as_str().to_string())], n));
        }
        counter(&mut e, "engine_discrepancies", "Reports that contradicted what was asked, by code.", &by_code)?;
        let state = s.breaker.name();
        let breaker: Vec<(Labels, f64)> = ["closed", "open", "half_open"]
            .iter()
            .map(|name| (vec![("state", (*name).to_string())], f64::from(u8::from(*name == state))))
            .collect();
        gauge(&mut e, "engine_breaker_state", "1 for the circuit breaker's current state.", None, &breaker)?;
        counter(&mut e, "engine_breaker_trips", "Times the circuit breaker opened.", &[(none(), s.breaker_trips)])?;
        counter(
            &mut e,
            "engine_breaker_transitions",
            "Circuit breaker state changes.",
            &[(none(), s.breaker_transitions)],
        )?;
        let flags: Vec<(Labels, f64)> = [
            ("entry_enabled", s.flags.entry_enabled),
            ("exit_enabled", s.flags.exit_enabled),
            ("global_lock", s.flags.global_lock),
        ]
        .iter()
        .map(|(flag, on)| (vec![("flag", (*flag).to_string())], f64::from(u8::from(*on))))
        .collect();
        gauge(&mut e, "engine_control_flag", "Global control flags (1 = on).", None, &flags)?;
        gauge(
            &mut e,
            "engine_gateway_up",
            "1 while every shard sees the gateway up.",
            None,
            &[(none(), f64::from(u8::from(s.bridge.gateway_up)))],
        )?;
        gauge(
            &mut e,
            "engine_gateway_silence",
            "Time since the last frame from the gateway (heartbeats included), worst shard.",
            Some(&Unit::Seconds),
            &[(none(), s.bridge.gateway_silent_ms as f64 / 1e3)],
        )?;
        counter(
            &mut e,
            "engine_gateway_disconnects",
            "Connection drops seen by the DEALERs.",
            &[(none(), s.bridge.disconnects)],
        )?;
        counter(
            &mut e,
            "engine_gateway_seq_gaps",
            "Sequence gaps on the order channel.",
            &[(none(), s.bridge.seq_gaps)],
        )?;
        latency_histogram(
            &mut e,
            "engine_round_trip",
            "Order round trip, submit to terminal report.",
            s.bridge.round_trip_histogram.as_ref().map(|m| &m.0),
        )?;
        latency_histogram(
            &mut e,
            "engine_tick_to_order",
            "Tick arrival to order decision.",
            s.tick_to_order_us.as_ref(),
        )?;
        counter(
            &mut e,
            "engine_feed_ticks_received",
            "Tick frames read from the market-data sockets.",
            &[(none(), s.feed.received)],
        )?;
        counter(&mut e, "engine_feed_ticks_dispatched", "Ticks handed to a symbol.", &[(none(), s.feed.dispatched)])?;
        let dropped = vec![
            (vec![("reason", "mailbox_full".to_string())], s.feed.dropped_full),
            (vec![("reason", "unknown_symbol".to_string())], s.feed.unknown_symbol),
            (vec![("reason", "undecodable".to_string())], s.feed.undecodable),
        ];
        counter(&mut e, "engine_feed_ticks_dropped", "Ticks not handed to any symbol, by reason.", &dropped)?;
        gauge(
            &mut e,
            "engine_state_journal_lag",
            "How long the newest durable state has waited unwritten.",
            Some(&Unit::Seconds),
            &[(none(), s.state_lag.as_secs_f64())],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::live::LiveSnapshot;

    fn snapshot(symbols: &[(&str, u64)]) -> Arc<LiveSnapshot> {
        let risk = engine::risk::PortfolioRisk::new(Default::default(), 1);
        let statuses = symbols
            .iter()
            .map(|(name, orders)| {
                let symbol = protocol::Symbol::new(name).unwrap();
                let template =
                    engine::strategy::IntentTemplate { qty: "1".parse().unwrap(), exits: Default::default() };
                let core = engine::symbol_core::SymbolCore::new(
                    engine::symbol_core::CoreConfig::new(symbol),
                    Box::new(engine::strategy::churn::Churn::new(template)),
                    &risk,
                );
                let mut status = core.status();
                status.counters.orders = *orders;
                status.realized = Money::from_raw_signed(150_000_000);
                status
            })
            .collect();
        Arc::new(LiveSnapshot {
            at_ns: 0,
            symbols: statuses,
            shard_of: Default::default(),
            bridge: Default::default(),
            tick_to_order_us: None,
            feed: Default::default(),
            flags: risk.flags(),
            symbol_flags: Default::default(),
            breaker: risk.breaker_state(),
            breaker_trips: 0,
            breaker_transitions: 0,
            gateway_up: true,
            venue_reconciling: false,
            state_lag: std::time::Duration::ZERO,
            recent_changes: Vec::new(),
            recent_discrepancies: Vec::new(),
        })
    }

    #[test]
    fn symbol_labels_give_one_series_per_symbol_or_one_sum() {
        let two = snapshot(&[("A", 3), ("B", 4)]);
        let labelled = encode(Arc::clone(&two), true).unwrap();
        assert!(labelled.contains("engine_orders_sent_total{symbol=\"A\"} 3\n"), "{labelled}");
        assert!(labelled.contains("engine_orders_sent_total{symbol=\"B\"} 4\n"), "{labelled}");
        assert!(labelled.contains("engine_realized_pnl{symbol=\"B\"} 1.5\n"), "{labelled}");
        let summed = encode(two, false).unwrap();
        assert!(summed.contains("engine_orders_sent_total 7\n"), "{summed}");
        assert!(summed.contains("engine_realized_pnl 3.0\n"), "{summed}");
        assert!(!summed.contains("symbol=\""), "no symbol label at all: {summed}");
        assert!(!summed.contains("{}"), "no empty label sets: {summed}");
        assert!(summed.contains("# TYPE engine_round_trip_seconds histogram"), "{summed}");
        assert!(summed.ends_with("# EOF\n"));
    }

    #[test]
    fn buckets_hold_each_value_once_in_the_first_bound_above_it() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in [10, 30, 30, 2_000, 5_000_000] {
            h.record(us).unwrap();
        }
        let (sum, count, buckets) = histogram_buckets(Some(&h));
        assert_eq!(count, 5);
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 5, "every value in one bucket");
        assert_eq!(buckets[0], (25e-6, 1), "10 µs");
        assert_eq!(buckets[1], (50e-6, 2), "30 µs twice");
        assert_eq!(buckets[6], (2.5e-3, 1), "2 ms");
        assert_eq!(buckets.last().copied(), Some((f64::MAX, 1)), "5 s is above every bound");
        assert!((sum - 5.00207).abs() < 0.01, "{sum}");
        let (_, empty, _) = histogram_buckets(None);
        assert_eq!(empty, 0);
    }
}

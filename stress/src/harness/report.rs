//! Writes a stress run's `report.json` (machine-readable), `report.md` (a table per
//! symbol) and `latency.svg` (round-trip and tick→intent percentiles by symbol).

use std::fmt::Write as _;
use std::path::Path;

use ::actors::bridge::Percentiles;
use protocol::{Money, Symbol};
use serde_json::{json, Value};

use super::{StressOptions, StressOutcome};

/// A latency summary (p50, p90, p99, p999, max, count) as JSON. With no sample the
/// percentiles are `null`, not 0: an empty histogram measured nothing.
fn pct(p: &Percentiles) -> Value {
    if p.count == 0 {
        return json!({"p50": null, "p90": null, "p99": null, "p999": null, "max": null, "count": 0});
    }
    json!({"p50": p.p50, "p90": p.p90, "p99": p.p99, "p999": p.p999, "max": p.max, "count": p.count})
}

/// One percentile of a JSON latency summary for a table cell: the number, or `n = 0` when
/// the histogram is empty or absent (never a 0 µs that was not measured).
fn percentile_cell(summary: &Value, key: &str) -> String {
    match (summary["count"].as_u64(), summary[key].as_u64()) {
        (Some(n), Some(v)) if n > 0 => v.to_string(),
        _ => "n = 0".to_string(),
    }
}

fn per_second(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

/// The report as JSON.
pub fn json_report(options: &StressOptions, out: &StressOutcome) -> Value {
    let job = &out.job;
    let rtt_by: std::collections::HashMap<Symbol, Percentiles> =
        job.bridge.round_trip_by_symbol.iter().copied().collect();
    let t2i_by: std::collections::HashMap<Symbol, Percentiles> = job.tick_to_intent_by_symbol.iter().copied().collect();
    let symbols: Vec<Value> = job
        .symbols
        .iter()
        .map(|row| {
            let s = &row.status;
            let c = &s.counters;
            let closed = c.wins + c.losses;
            let win_rate = if closed > 0 { (c.wins as f64 / closed as f64 * 10_000.0).round() / 10_000.0 } else { 0.0 };
            json!({
                "symbol": s.symbol.as_str(),
                "trades": c.trades,
                "wins": c.wins,
                "losses": c.losses,
                "win_rate": win_rate,
                "realized_pnl": s.realized.checked_sub(s.fees).unwrap_or(Money::ZERO).to_string(),
                "gross_realized": s.realized.to_string(),
                "fees": s.fees.to_string(),
                "unrealized_pnl": s.unrealized.to_string(),
                "exposure": s.exposure.to_string(),
                "state": s.state,
                "orders": c.orders,
                "fills": c.fills,
                "ticks": c.ticks,
                "rejects": c.rejects,
                "timeouts": c.timeouts,
                "round_trip_us": rtt_by.get(&s.symbol).map(pct),
                "tick_to_intent_us": t2i_by.get(&s.symbol).map(pct),
            })
        })
        .collect();
    // Throughput over the active window (first to last tick), not the drain at the end.
    let secs = if job.feed.active.is_zero() { job.trading.as_secs_f64() } else { job.feed.active.as_secs_f64() };
    let sum_symbols = Money::checked_sum(
        job.symbols.iter().map(|r| r.status.realized.checked_sub(r.status.fees).unwrap_or(Money::ZERO)),
    )
    .unwrap_or(Money::ZERO);
    let published: u64 = out.gateway.iter().map(|d| d["counters"]["ticks_published"].as_u64().unwrap_or(0)).sum();
    json!({
        "run_id": out.run_dir.file_name().map(|n| n.to_string_lossy().to_string()),
        "seed": options.seed,
        "command_line": options.command_line,
        "workload": {
            "symbols": options.symbols.len(),
            "duration_s": options.duration.map(|d| d.as_secs_f64()),
            "ticks_per_symbol": options.ticks_per_symbol,
            "interval_ms": format!("{}..{}", options.interval.min, options.interval.max),
            "max_rate": options.max_rate,
            "codec": options.codec.as_str(),
            "gateway": if options.in_process { "in-process" } else { "process" },
            "faults": {"reject_rate": options.reject_rate, "drop_reply_rate": options.drop_reply_rate, "latency_ms": options.latency_ms, "restart_at_s": options.restart_at.map(|d| d.as_secs_f64())},
        },
        "symbols": symbols,
        "replay": replay_json(job),
        "total_pnl": job.metrics.total_net.to_string(),
        "sum_symbol_pnl": sum_symbols.to_string(),
        "gateway_ledger_pnl": job.gateway_ledger_net.map(|m| m.to_string()),
        "locks": {
            "acquire": out.audit.acquire,
            "release": out.audit.release,
            "orphans": out.audit.orphans,
            "overlaps": out.audit.overlaps,
            "unmatched_releases": out.audit.unmatched_releases,
            "access_violations": out.audit.access_violations,
            "max_held_us": out.audit.max_held_us,
            "outcomes": out.audit.outcomes,
        },
        "efsm_errors": out.audit.efsm_errors.max(job.efsm_errors),
        "error_lines": out.audit.error_lines,
        "ticks": {"published": published, "received": job.feed.received, "dispatched": job.feed.dispatched, "dropped": job.feed.dropped,
                  "taken": job.symbols.iter().map(|r| r.status.counters.ticks).sum::<u64>(), "max_gap_us_at_engine": job.feed.max_gap_us, "gaps_over_50ms_at_engine": job.feed.gaps_over_50ms},
        "orders": {"sent": job.bridge.orders_sent, "status_queries": job.bridge.queries_sent, "fills": job.bridge.fills_received, "timeouts": job.bridge.timeouts, "query_timeouts": job.bridge.query_timeouts},
        "gateway_link": {
            "first_contact_ms": job.bridge.first_contact_ms,
            "reconcile_requests": job.bridge.reconcile_requests,
            "seq_gaps": job.bridge.seq_gaps,
            "seq_repeats": job.bridge.seq_repeats,
            "unacknowledged_spells": job.bridge.unacknowledged_spells,
            "sessions": job.bridge.gateway_sessions,
        },
        "breaker": {"state": job.breaker.state, "trips": job.breaker.trips, "transitions": job.breaker.transitions},
        "discrepancies": job.discrepancies.nonzero().map(|(c, n)| (c.as_str().to_string(), serde_json::json!(n))).collect::<serde_json::Map<String, serde_json::Value>>(),
        "throughput": {
            "seconds": (secs * 1000.0).round() / 1000.0,
            "ticks_per_s": per_second(job.feed.dispatched, secs),
            "orders_per_s": per_second(job.bridge.orders_sent, secs),
            "fills_per_s": per_second(job.bridge.fills_received, secs),
        },
        "latency_us": {
            "tick_to_intent": pct(&job.tick_to_intent_us),
            "round_trip": pct(&job.bridge.round_trip_us),
            "lock_hold": pct(&job.bridge.lock_hold_us),
        },
        "memory": {"peak_rss_kib": out.peak_rss_kib, "per_symbol_kib": if options.symbols.is_empty() { 0 } else { out.peak_rss_kib / options.symbols.len() as u64 }},
        "gateway": out.gateway.iter().map(|d| d["counters"].clone()).collect::<Vec<_>>(),
        "gate": out.gate,
    })
}

/// The report as Markdown.
/// The replayed span (`null` for the random walk): first and last recorded time, ticks,
/// bad rows, trades and PnL.
fn replay_json(job: &engine_app::main_job::JobSummary) -> Value {
    let Some(r) = &job.replay else { return Value::Null };
    let s = &r.span;
    json!({
        "first": paper_gateway::replay::timestamp::format_utc(s.first_ns),
        "last": paper_gateway::replay::timestamp::format_utc(s.last_ns),
        "first_ns": s.first_ns,
        "last_ns": s.last_ns,
        "speed": s.speed,
        "files": s.files,
        "ticks": s.ticks,
        "published": s.published,
        "taken": job.symbols.iter().map(|r| r.status.counters.ticks).sum::<u64>(),
        "bad_rows": s.bad_rows,
        "trades": r.trades.len(),
        "pnl": job.metrics.total_net.to_string(),
    })
}

pub fn markdown_report(report: &Value) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Stress run {}\n", report["run_id"].as_str().unwrap_or("?"));
    let _ = writeln!(md, "`{}`\n", report["command_line"].as_str().unwrap_or(""));
    let gate = &report["gate"];
    let _ = writeln!(md, "**Gate: {}**\n", if gate["pass"].as_bool() == Some(true) { "PASS" } else { "FAIL" });
    let _ = writeln!(md, "| criterion | value | threshold | result |\n|---|---|---|---|");
    for c in gate["criteria"].as_array().into_iter().flatten() {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            c["name"].as_str().unwrap_or(""),
            c["value"].as_str().unwrap_or(""),
            c["threshold"].as_str().unwrap_or(""),
            if c["pass"].as_bool() == Some(true) { "pass" } else { "**FAIL**" }
        );
    }
    let r = &report["replay"];
    if r.is_object() {
        let _ = writeln!(
            md,
            "Replayed span {} .. {} at speed {}: {} ticks published of {} ({} taken, {} bad rows skipped), {} trades, PnL {}\n",
            r["first"].as_str().unwrap_or("-"),
            r["last"].as_str().unwrap_or("-"),
            r["speed"].as_str().unwrap_or("-"),
            r["published"],
            r["ticks"],
            r["taken"],
            r["bad_rows"],
            r["trades"],
            r["pnl"].as_str().unwrap_or("-")
        );
    }
    let _ = writeln!(md, "\n## Totals\n\n| | value |\n|---|---|");
    for key in ["total_pnl", "sum_symbol_pnl", "gateway_ledger_pnl"] {
        let _ = writeln!(md, "| {key} | {} |", report[key].as_str().unwrap_or("-"));
    }
    let t = &report["throughput"];
    let _ = writeln!(
        md,
        "| ticks/s | {} |\n| orders/s | {} |\n| fills/s | {} |\n| peak RSS (KiB) | {} |",
        t["ticks_per_s"], t["orders_per_s"], t["fills_per_s"], report["memory"]["peak_rss_kib"]
    );
    let _ = writeln!(
        md,
        "\n## Latency (µs)\n\n| path | p50 | p90 | p99 | p99.9 | max | n |\n|---|---|---|---|---|---|---|"
    );
    for (name, l) in report["latency_us"].as_object().into_iter().flatten() {
        let n = l["count"].as_u64().unwrap_or(0);
        let cells: Vec<String> = if n == 0 {
            // One "n = 0" instead of five percentiles that were never measured.
            vec!["n = 0".into(), "-".into(), "-".into(), "-".into(), "-".into()]
        } else {
            ["p50", "p90", "p99", "p999", "max"].iter().map(|k| percentile_cell(l, k)).collect()
        };
        let _ = writeln!(md, "| {name} | {} | {n} |", cells.join(" | "));
    }
    let _ = writeln!(md, "\n## Per symbol\n\n| symbol | trades | wins | losses | win rate | realized (net) | unrealized | exposure | orders | fills | ticks | rtt p50 | rtt p99 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in report["symbols"].as_array().into_iter().flatten() {
        let rtt = |k: &str| percentile_cell(&s["round_trip_us"], k);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s["symbol"].as_str().unwrap_or(""),
            s["trades"],
            s["wins"],
            s["losses"],
            s["win_rate"],
            s["realized_pnl"].as_str().unwrap_or(""),
            s["unrealized_pnl"].as_str().unwrap_or(""),
            s["exposure"].as_str().unwrap_or(""),
            s["orders"],
            s["fills"],
            s["ticks"],
            rtt("p50"),
            rtt("p99")
        );
    }
    let _ = writeln!(md, "\n![latency by symbol](latency.svg)");
    md
}

/// An SVG chart: per symbol (up to 40, the slowest by p99 when there are more), the round
/// trip's p50/p99/p99.9 and the tick→intent p99, on a log scale. A symbol whose round trip
/// has n = 0 (no order answered in time) has no percentile to draw and is left out.
pub fn latency_svg(report: &Value) -> String {
    let mut rows: Vec<(String, [f64; 4])> = report["symbols"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let r = &s["round_trip_us"];
            Some((
                s["symbol"].as_str()?.to_string(),
                [
                    r["p50"].as_f64()?,
                    r["p99"].as_f64()?,
                    r["p999"].as_f64()?,
                    s["tick_to_intent_us"]["p99"].as_f64().unwrap_or(0.0),
                ],
            ))
        })
        .collect();
    if rows.len() > 40 {
        rows.sort_by(|a, b| b.1[1].total_cmp(&a.1[1]));
        rows.truncate(40);
        rows.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let (w, h, left, bottom, top) = (960.0, 420.0, 70.0, 90.0, 40.0);
    let max = rows.iter().flat_map(|r| r.1).fold(10.0_f64, f64::max);
    let decades = max.log10().ceil().max(1.0);
    let y = |v: f64| top + (h - top - bottom) * (1.0 - (v.max(1.0).log10() / decades));
    let mut svg = format!("<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n");
    let _ = writeln!(svg, "<text x='{left}' y='20' font-size='14'>Order round trip (submit → fill report) and tick → intent, µs, by symbol (log scale)</text>");
    for d in 0..=decades as i32 {
        let v = 10f64.powi(d);
        let yy = y(v);
        let _ = writeln!(svg, "<line x1='{left}' x2='{}' y1='{yy:.1}' y2='{yy:.1}' stroke='#ddd'/><text x='{}' y='{:.1}' text-anchor='end'>{}</text>", w - 20.0, left - 6.0, yy + 4.0, v);
    }
    let n = rows.len().max(1) as f64;
    let step = (w - left - 20.0) / n;
    let colors = ["#1f77b4", "#ff7f0e", "#d62728", "#2ca02c"];
    for (i, (name, v)) in rows.iter().enumerate() {
        let x = left + step * (i as f64 + 0.5);
        for (k, value) in v.iter().enumerate() {
            if *value > 0.0 {
                let _ = writeln!(
                    svg,
                    "<circle cx='{:.1}' cy='{:.1}' r='3.5' fill='{}'><title>{name} {}: {value} µs</title></circle>",
                    x + (k as f64 - 1.5) * 3.0,
                    y(*value),
                    colors[k],
                    ["rtt p50", "rtt p99", "rtt p99.9", "tick→intent p99"][k]
                );
            }
        }
        let _ = writeln!(
            svg,
            "<text x='{x:.1}' y='{:.1}' transform='rotate(60 {x:.1} {:.1})'>{name}</text>",
            h - bottom + 12.0,
            h - bottom + 12.0
        );
    }
    for (k, label) in ["rtt p50", "rtt p99", "rtt p99.9", "tick→intent p99"].iter().enumerate() {
        let x = left + 10.0 + k as f64 * 130.0;
        let _ = writeln!(
            svg,
            "<circle cx='{x}' cy='32' r='4' fill='{}'/><text x='{}' y='36'>{label}</text>",
            colors[k],
            x + 8.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes all three files into the run directory.
pub fn write_all(options: &StressOptions, out: &StressOutcome, dir: &Path) -> std::io::Result<Value> {
    let report = json_report(options, out);
    std::fs::write(dir.join("report.json"), serde_json::to_string_pretty(&report).unwrap_or_default())?;
    std::fs::write(dir.join("report.md"), markdown_report(&report))?;
    std::fs::write(dir.join("latency.svg"), latency_svg(&report))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// p50, p90, p99, p999, max, count.
    fn p([p50, p90, p99, p999, max, count]: [u64; 6]) -> Percentiles {
        Percentiles { p50, p90, p99, p999, max, count }
    }

    fn report_with(round_trip: [u64; 6], symbol_rtt: Option<[u64; 6]>) -> Value {
        json!({
            "run_id": "r",
            "command_line": "stress",
            "gate": {"pass": false, "criteria": []},
            "throughput": {},
            "memory": {},
            "latency_us": {
                "tick_to_intent": pct(&p([5, 9, 12, 20, 31, 1000])),
                "round_trip": pct(&p(round_trip)),
            },
            "symbols": [{
                "symbol": "BTCUSD.s",
                "round_trip_us": symbol_rtt.map(|r| pct(&p(r))),
                "tick_to_intent_us": pct(&p([5, 9, 12, 20, 31, 100])),
            }],
        })
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles_in_json() {
        let empty = pct(&Percentiles::default());
        assert_eq!(empty["count"], 0);
        for k in ["p50", "p90", "p99", "p999", "max"] {
            assert!(empty[k].is_null(), "{k}: {empty}");
        }
        assert_eq!(pct(&p([7, 8, 9, 10, 11, 3]))["p50"], 7);
    }

    #[test]
    fn markdown_says_n_0_instead_of_a_0_us_percentile() {
        // Every order timed out: the round trip measured nothing.
        let md = markdown_report(&report_with([0; 6], Some([0; 6])));
        assert!(md.contains("| round_trip | n = 0 | - | - | - | - | 0 |"), "{md}");
        assert!(md.contains("| tick_to_intent | 5 | 9 | 12 | 20 | 31 | 1000 |"), "{md}");
        let row = md.lines().find(|l| l.starts_with("| BTCUSD.s")).unwrap_or_default();
        assert!(row.ends_with("| n = 0 | n = 0 |"), "{row}");
        // A symbol that sent no order at all reads the same.
        let md = markdown_report(&report_with([0; 6], None));
        let row = md.lines().find(|l| l.starts_with("| BTCUSD.s")).unwrap_or_default();
        assert!(row.ends_with("| n = 0 | n = 0 |"), "{row}");
    }

    #[test]
    fn markdown_prints_measured_percentiles() {
        let md = markdown_report(&report_with([100, 200, 300, 400, 500, 9], Some([100, 200, 300, 400, 500, 9])));
        assert!(md.contains("| round_trip | 100 | 200 | 300 | 400 | 500 | 9 |"), "{md}");
        let row = md.lines().find(|l| l.starts_with("| BTCUSD.s")).unwrap_or_default();
        assert!(row.ends_with("| 100 | 300 |"), "{row}");
    }

    #[test]
    fn the_chart_leaves_out_symbols_with_n_0() {
        let svg = latency_svg(&report_with([0; 6], Some([0; 6])));
        assert!(!svg.contains("BTCUSD.s"), "{svg}");
        let svg = latency_svg(&report_with([1; 6], Some([100, 200, 300, 400, 500, 9])));
        assert!(svg.contains("BTCUSD.s rtt p50: 100 µs"), "{svg}");
    }
}

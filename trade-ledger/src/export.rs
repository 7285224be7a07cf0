//! `engine trades` output: a table for people, CSV and JSON for tools. Money is printed
//! exactly (decimal text; JSON also carries the raw fixed-point integers).

use std::fmt::Write as _;

use protocol::Money;
use serde_json::{json, Value};

use crate::query::{SymbolTotals, TradeOut, TradeReport, Verdict};
use crate::time::format_ns;

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "table" => Ok(Format::Table),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            other => Err(format!("{other:?}: expected table, csv or json")),
        }
    }
}

pub fn render(report: &TradeReport, format: Format) -> String {
    match format {
        Format::Table => table(report),
        Format::Csv => csv(report),
        Format::Json => serde_json::to_string_pretty(&to_json(report)).unwrap_or_default(),
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn book_net(t: &SymbolTotals) -> String {
    t.book().ok().and_then(|(r, f)| r.checked_sub(f).ok()).map_or("overflow".into(), |m| m.to_fixed_string())
}

fn summary_net(t: &SymbolTotals) -> Option<Money> {
    t.summary.and_then(|(r, f, _)| r.checked_sub(f).ok())
}

fn table(report: &TradeReport) -> String {
    let mut out = String::new();
    let runs: Vec<&str> = report.runs.iter().map(|r| r.run_id.as_str()).collect();
    let _ = writeln!(out, "run {}", if runs.is_empty() { "-".to_string() } else { runs.join(", ") });
    let _ = writeln!(
        out,
        "{:<30} {:<10} {:>5} {:<5} {:>12} {:>16} {:>16} {:>16} {:>14} {:>16}  {:<13} decided by",
        "exit time (UTC)",
        "symbol",
        "#",
        "dir",
        "qty",
        "entry price",
        "exit price",
        "realized",
        "fees",
        "net",
        "exit reason"
    );
    for t in &report.trades {
        let by = t.decided_by_name.as_ref().map_or(t.decided_by.clone(), |n| format!("{} {n}", t.decided_by));
        let _ = writeln!(
            out,
            "{:<30} {:<10} {:>5} {:<5} {:>12} {:>16} {:>16} {:>16} {:>14} {:>16}  {:<13} {by}",
            format_ns(t.exit_ns),
            t.symbol,
            t.trade_seq,
            t.direction,
            t.qty.to_string(),
            t.entry_price.to_string(),
            opt(t.exit_price),
            t.realized.to_fixed_string(),
            t.fees.to_fixed_string(),
            t.net.to_fixed_string(),
            t.exit_reason
        );
        // The theses on lines of their own (control characters as spaces; CSV and JSON
        // carry the text exactly).
        for (label, thesis) in [("thesis", &t.thesis), ("exit thesis", &t.exit_thesis)] {
            if let Some(thesis) = thesis {
                let line: String = thesis.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
                let _ = writeln!(out, "    {label}: {line}");
            }
        }
    }
    let _ = writeln!(out, "\nper symbol (closed trades; the book adds the open trade and adjustments)");
    let _ = writeln!(
        out,
        "{:<10} {:>7} {:>16} {:>14} {:>16} {:>16} {:>16}",
        "symbol", "trades", "realized", "fees", "net", "book net", "summary net"
    );
    for t in &report.totals {
        let _ = writeln!(
            out,
            "{:<10} {:>7} {:>16} {:>14} {:>16} {:>16} {:>16}",
            t.symbol,
            t.trades,
            t.realized.to_fixed_string(),
            t.fees.to_fixed_string(),
            t.net().to_fixed_string(),
            book_net(t),
            summary_net(t).map_or("-".into(), |m| m.to_fixed_string())
        );
    }
    let _ = writeln!(out, "{}", verdict_line(&report.verdict));
    if let Verdict::Differs(lines) = &report.verdict {
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
    }
    out
}

/// The last line of the table.
pub fn verdict_line(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Matches => "LEDGER MATCHES THE RUN'S SUMMARY".to_string(),
        Verdict::Differs(lines) => format!("LEDGER DIFFERS FROM THE RUN'S SUMMARY ({} differences)", lines.len()),
        Verdict::NotChecked(why) => format!("ledger not checked against a summary: {why}"),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The CSV columns, in order: one header for both kinds of row; `record` is `trade` or
/// `total` (a symbol's closed trades), and a row leaves the columns it has no value for empty.
const CSV_COLUMNS: [&str; 24] = [
    "record",
    "run_id",
    "symbol",
    "trade_seq",
    "direction",
    "qty",
    "entry_time",
    "exit_time",
    "entry_ns",
    "exit_ns",
    "entry_price",
    "exit_price",
    "realized",
    "fees",
    "net",
    "exit_reason",
    "entry_intent",
    "exit_intent",
    "decided_by",
    "decided_by_name",
    "fills",
    "trades",
    "thesis",
    "exit_thesis",
];

fn csv(report: &TradeReport) -> String {
    let mut out = CSV_COLUMNS.join(",");
    out.push('\n');
    for t in &report.trades {
        csv_row(&mut out, |column| trade_csv_field(t, column));
    }
    for t in &report.totals {
        csv_row(&mut out, |column| total_csv_field(t, column));
    }
    out
}

/// One line: each column's value, quoted where needed.
fn csv_row(out: &mut String, value: impl Fn(&str) -> Option<String>) {
    let fields: Vec<String> = CSV_COLUMNS.iter().map(|c| csv_field(&value(c).unwrap_or_default())).collect();
    out.push_str(&fields.join(","));
    out.push('\n');
}

fn trade_csv_field(t: &TradeOut, column: &str) -> Option<String> {
    Some(match column {
        "record" => "trade".to_string(),
        "run_id" => t.run_id.clone(),
        "symbol" => t.symbol.clone(),
        "trade_seq" => t.trade_seq.to_string(),
        "direction" => t.direction.clone(),
        "qty" => t.qty.to_string(),
        "entry_time" => format_ns(t.entry_ns),
        "exit_time" => format_ns(t.exit_ns),
        "entry_ns" => t.entry_ns.to_string(),
        "exit_ns" => t.exit_ns.to_string(),
        "entry_price" => t.entry_price.to_string(),
        "exit_price" => t.exit_price?.to_string(),
        "realized" => t.realized.to_string(),
        "fees" => t.fees.to_string(),
        "net" => t.net.to_string(),
        "exit_reason" => t.exit_reason.clone(),
        "entry_intent" => t.entry_intent?.to_string(),
        "exit_intent" => t.exit_intent?.to_string(),
        "decided_by" => t.decided_by.clone(),
        "decided_by_name" => t.decided_by_name.clone()?,
        "fills" => t.fills.to_string(),
        "thesis" => t.thesis.clone()?,
        "exit_thesis" => t.exit_thesis.clone()?,
        _ => return None,
    })
}

fn total_csv_field(t: &SymbolTotals, column: &str) -> Option<String> {
    Some(match column {
        "record" => "total".to_string(),
        "symbol" => t.symbol.clone(),
        "realized" => t.realized.to_string(),
        "fees" => t.fees.to_string(),
        "net" => t.net().to_string(),
        "trades" => t.trades.to_string(),
        _ => return None,
    })
}

fn money_json(m: Money) -> Value {
    json!({ "value": m.to_string(), "raw": m.raw() })
}

fn trade_json(t: &TradeOut) -> Value {
    json!({
        "run_id": t.run_id,
        "symbol": t.symbol,
        "trade_seq": t.trade_seq,
        "direction": t.direction,
        "qty": t.qty.to_string(),
        "entry_time": format_ns(t.entry_ns),
        "exit_time": format_ns(t.exit_ns),
        "entry_ns": t.entry_ns,
        "exit_ns": t.exit_ns,
        "entry_price": t.entry_price.to_string(),
        "exit_price": t.exit_price.map(|p| p.to_string()),
        "realized": money_json(t.realized),
        "fees": money_json(t.fees),
        "net": money_json(t.net),
        "exit_reason": t.exit_reason,
        "entry_intent": t.entry_intent,
        "exit_intent": t.exit_intent,
        "decided_by": t.decided_by,
        "decided_by_name": t.decided_by_name,
        "fills": t.fills,
        "thesis": t.thesis,
        "exit_thesis": t.exit_thesis,
    })
}

fn totals_json(t: &SymbolTotals) -> Value {
    let book = t.book().ok();
    json!({
        "symbol": t.symbol,
        "trades": t.trades,
        "realized": money_json(t.realized),
        "fees": money_json(t.fees),
        "net": money_json(t.net()),
        "open_realized": money_json(t.open_realized),
        "open_fees": money_json(t.open_fees),
        "adjusted_realized": money_json(t.adjusted_realized),
        "adjusted_fees": money_json(t.adjusted_fees),
        "book_realized": book.map(|(r, _)| money_json(r)),
        "book_fees": book.map(|(_, f)| money_json(f)),
        "summary": t.summary.map(|(r, f, n)| json!({ "realized": money_json(r), "fees": money_json(f), "trades": n })),
    })
}

pub fn to_json(report: &TradeReport) -> Value {
    let (matches, differences, note) = match &report.verdict {
        Verdict::Matches => (Some(true), Vec::new(), None),
        Verdict::Differs(lines) => (Some(false), lines.clone(), None),
        Verdict::NotChecked(why) => (None, Vec::new(), Some(*why)),
    };
    json!({
        "runs": report.runs.iter().map(|r| json!({ "run_id": r.run_id, "started": format_ns(r.started_ns) })).collect::<Vec<_>>(),
        "trades": report.trades.iter().map(trade_json).collect::<Vec<_>>(),
        "totals": report.totals.iter().map(totals_json).collect::<Vec<_>>(),
        "verdict": { "matches": matches, "differences": differences, "note": note },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::{RunInfo, TradeOut};

    #[test]
    fn csv_rows_line_up_with_the_header() {
        let trade = TradeOut {
            run_id: "run-a".into(),
            symbol: "BTCUSD.s".into(),
            trade_seq: 1,
            direction: "long".into(),
            qty: "0.01".parse().unwrap(),
            entry_ns: 1_767_225_600_000_000_000,
            exit_ns: 1_767_225_660_500_000_000,
            entry_price: "100".parse().unwrap(),
            exit_price: Some("101.5".parse().unwrap()),
            realized: "0.015".parse().unwrap(),
            fees: "0.002".parse().unwrap(),
            net: "0.013".parse().unwrap(),
            exit_reason: "take_profit".into(),
            entry_intent: Some(7),
            exit_intent: None,
            decided_by: "strategy".into(),
            decided_by_name: Some("z, \"score\"".into()),
            fills: 2,
            thesis: Some("mean \"reverts\", fast\nsecond line".into()),
            exit_thesis: None,
        };
        let totals = SymbolTotals {
            symbol: "BTCUSD.s".into(),
            trades: 1,
            realized: "0.015".parse().unwrap(),
            fees: "0.002".parse().unwrap(),
            ..Default::default()
        };
        let report = TradeReport {
            runs: vec![RunInfo { id: 1, run_id: "run-a".into(), started_ns: 0 }],
            trades: vec![trade],
            totals: vec![totals],
            verdict: Verdict::Matches,
        };
        assert_eq!(
            csv(&report),
            "record,run_id,symbol,trade_seq,direction,qty,entry_time,exit_time,entry_ns,exit_ns,entry_price,exit_price,realized,fees,net,exit_reason,entry_intent,exit_intent,decided_by,decided_by_name,fills,trades,thesis,exit_thesis\n\
             trade,run-a,BTCUSD.s,1,long,0.01,2026-01-01T00:00:00.000000000Z,2026-01-01T00:01:00.500000000Z,1767225600000000000,1767225660500000000,100,101.5,0.015,0.002,0.013,take_profit,7,,strategy,\"z, \"\"score\"\"\",2,,\"mean \"\"reverts\"\", fast\nsecond line\",\n\
             total,,BTCUSD.s,,,,,,,,,,0.015,0.002,0.013,,,,,,,1,,\n"
        );
    }
}

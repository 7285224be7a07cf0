//! The ledger end to end without an engine: rows through the writer thread into SQLite,
//! read back with their totals, checked against the recorded summary; a database with a
//! row removed or changed is reported as differing; drops and failed writes are counted.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::time::Duration;

use engine::efsm::{Direction, ExitReason};
use engine::symbol_core::{OrderPurpose, OrderRequest};
use engine::trade::{BookAdjustment, BookedFill, CloseReason, ClosedTrade, DecidedBy};
use protocol::*;
use trade_ledger::export::{render, Format};
use trade_ledger::query::{report, RunSelect, TradeQuery, Verdict};
use trade_ledger::schema::open_for_reading;
use trade_ledger::{AgentIntentRow, LedgerRow, LedgerWriter, SymbolTotalsRow};

const SEC: u64 = 1_000_000_000;
const T0: u64 = 1_767_225_600 * SEC; // 2026-01-01T00:00:00Z

fn temp(name: &str) -> PathBuf {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    std::env::temp_dir().join(format!("ledger-test-{}-{n}-{name}", std::process::id())).join("trades.sqlite")
}

fn m(s: &str) -> Money {
    s.parse().unwrap()
}
fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn order(intent: u64, side: Side, purpose: OrderPurpose, at: u64) -> LedgerRow {
    LedgerRow::Order(OrderRequest {
        intent_id: IntentId(intent),
        symbol: sym("BTCUSD.s"),
        side,
        qty: "0.01".parse().unwrap(),
        ord_type: OrdType::Market,
        limit_price: None,
        purpose,
        placed_at: at,
    })
}

#[allow(clippy::too_many_arguments)] // one fill's columns, in table order
fn fill(symbol: &str, seq: u64, exec: u64, side: Side, price: &str, fee: &str, realized: &str, at: u64) -> LedgerRow {
    LedgerRow::Fill(BookedFill {
        symbol: sym(symbol),
        trade_seq: seq,
        exec_id: ExecId(exec),
        intent_id: IntentId(exec),
        side,
        qty: "0.01".parse().unwrap(),
        price: price.parse().unwrap(),
        fee: m(fee),
        realized: m(realized),
        at,
    })
}

fn trade(symbol: &str, seq: u64, realized: &str, fees: &str, exit_at: u64, reason: CloseReason) -> LedgerRow {
    LedgerRow::Trade(ClosedTrade {
        symbol: sym(symbol),
        trade_seq: seq,
        direction: Direction::Long,
        qty: "0.01".parse().unwrap(),
        entry_at: exit_at - SEC,
        exit_at,
        entry_price: "100000".parse().unwrap(),
        exit_price: Some("100100".parse().unwrap()),
        realized: m(realized),
        fees: m(fees),
        reason,
        entry_intent: Some(IntentId(1)),
        exit_intent: Some(IntentId(2)),
        decided_by: DecidedBy::Strategy("zscore"),
        fills: 2,
    })
}

/// Two closed BTC trades, one open ETH fill, one adjustment, and the summary that agrees.
fn a_run() -> Vec<LedgerRow> {
    let tp = CloseReason::Exit(ExitReason::TakeProfit);
    vec![
        order(1, Side::Buy, OrderPurpose::Entry(Direction::Long), T0),
        order(2, Side::Sell, OrderPurpose::Exit(ExitReason::TakeProfit), T0 + SEC),
        fill("BTCUSD.s", 1, 1, Side::Buy, "100000", "0.25", "0", T0),
        fill("BTCUSD.s", 1, 2, Side::Sell, "100100", "0.25", "1", T0 + SEC),
        trade("BTCUSD.s", 1, "1", "0.5", T0 + SEC, tp),
        fill("BTCUSD.s", 2, 3, Side::Buy, "100000", "0.25", "0", T0 + 10 * SEC),
        fill("BTCUSD.s", 2, 4, Side::Sell, "99900", "0.25", "-1", T0 + 11 * SEC),
        trade("BTCUSD.s", 2, "-1", "0.5", T0 + 11 * SEC, CloseReason::Exit(ExitReason::StopLoss)),
        fill("ETHUSD.s", 1, 5, Side::Buy, "3000", "0.01", "0", T0 + 12 * SEC),
        LedgerRow::Adjustment(BookAdjustment { symbol: sym("ETHUSD.s"), realized: m("2"), fees: m("0.1"), at: T0 }),
        LedgerRow::Totals(SymbolTotalsRow {
            symbol: sym("BTCUSD.s"),
            realized: m("0"),
            fees: m("1"),
            trades: 2,
            gateway_net: Some(m("-1")),
        }),
        LedgerRow::Totals(SymbolTotalsRow {
            symbol: sym("ETHUSD.s"),
            realized: m("2"),
            fees: m("0.11"),
            trades: 0,
            gateway_net: None,
        }),
    ]
}

fn write(path: &std::path::Path, run_id: &str, rows: Vec<LedgerRow>) -> trade_ledger::LedgerReport {
    let writer = LedgerWriter::start(path, run_id, T0).unwrap();
    let sender = writer.sender();
    let (a, b) = rows.split_at(rows.len() / 2);
    sender.send(a.to_vec());
    sender.send(b.to_vec());
    drop(sender);
    writer.finish(Duration::from_secs(10))
}

fn whole_run() -> TradeQuery {
    TradeQuery { run: RunSelect::Latest, from: None, to: None }
}

#[test]
fn a_run_reads_back_with_totals_that_match_its_summary() {
    let path = temp("match");
    let written = write(&path, "run-a", a_run());
    assert!(written.complete(), "{written:?}");
    assert_eq!(written.rows_written, 12);
    let conn = open_for_reading(&path).unwrap();
    let r = report(&conn, &whole_run()).unwrap();
    assert_eq!(r.verdict, Verdict::Matches);
    assert_eq!(r.trades.len(), 2);
    assert_eq!(r.trades[0].exit_reason, "take_profit");
    assert_eq!(r.trades[0].decided_by_name.as_deref(), Some("zscore"));
    let btc = r.totals.iter().find(|t| t.symbol == "BTCUSD.s").unwrap();
    assert_eq!((btc.trades, btc.realized, btc.fees), (2, m("0"), m("1")));
    let eth = r.totals.iter().find(|t| t.symbol == "ETHUSD.s").unwrap();
    assert_eq!(eth.book().unwrap(), (m("2"), m("0.11")), "open fill + adjustment");
    let orders: i64 = conn.query_row("SELECT count(*) FROM orders", [], |row| row.get(0)).unwrap();
    assert_eq!(orders, 2);
    let (raw, text): (i64, String) = conn
        .query_row("SELECT realized_raw, realized FROM trades WHERE trade_seq = 2", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((raw, text.as_str()), (-100_000_000, "-1"), "exact integer and its text");

    let table = render(&r, Format::Table);
    assert!(table.contains("LEDGER MATCHES THE RUN'S SUMMARY"), "{table}");
    let csv = render(&r, Format::Csv);
    assert_eq!(csv.lines().count(), 1 + 2 + 2, "header, two trades, two totals:\n{csv}");
    assert!(csv.contains("trade,run-a,BTCUSD.s,1,long,0.01,2026-01-01T00:00:00.000000000Z"), "{csv}");
    let json: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert_eq!(json["verdict"]["matches"], true);
    assert_eq!(json["trades"][1]["net"]["raw"], -150_000_000);
}

#[test]
fn a_removed_or_changed_row_is_reported_as_differing() {
    for (name, sql, expect) in [
        ("fill", "DELETE FROM fills WHERE exec_id = 4", "fills sum to"),
        ("open-fill", "DELETE FROM fills WHERE exec_id = 5", "ETHUSD.s: fees"),
        ("trade", "DELETE FROM trades WHERE trade_seq = 2", "closed trades in the ledger"),
        ("realized", "UPDATE trades SET realized_raw = realized_raw + 1 WHERE trade_seq = 1", "realized"),
        ("adjustment", "DELETE FROM adjustments", "ETHUSD.s: realized"),
    ] {
        let path = temp(name);
        assert!(write(&path, "run-b", a_run()).complete());
        rusqlite::Connection::open(&path).unwrap().execute(sql, []).unwrap();
        let r = report(&open_for_reading(&path).unwrap(), &whole_run()).unwrap();
        let Verdict::Differs(lines) = &r.verdict else { panic!("{name}: {:?}", r.verdict) };
        assert!(lines.iter().any(|l| l.contains(expect)), "{name}: {lines:?}");
        assert!(render(&r, Format::Table).contains("LEDGER DIFFERS"), "{name}");
    }
}

#[test]
fn runs_share_a_database_and_a_time_span_selects_by_exit_time() {
    let path = temp("span");
    assert!(write(&path, "run-1", a_run()).complete());
    assert!(write(&path, "run-2", a_run()[..5].to_vec()).complete());
    let conn = open_for_reading(&path).unwrap();
    let latest = report(&conn, &whole_run()).unwrap();
    assert_eq!(latest.runs[0].run_id, "run-2");
    assert_eq!(latest.trades.len(), 1);
    assert!(matches!(latest.verdict, Verdict::NotChecked(_)), "run-2 recorded no summary");
    let named = report(&conn, &TradeQuery { run: RunSelect::Named("run-1".into()), from: None, to: None }).unwrap();
    assert_eq!(named.verdict, Verdict::Matches);
    let span = TradeQuery { run: RunSelect::All, from: Some((T0 + 5 * SEC) as i64), to: Some((T0 + 20 * SEC) as i64) };
    let r = report(&conn, &span).unwrap();
    assert_eq!(r.trades.len(), 1, "only run-1's stop-loss closed in the span");
    assert_eq!(r.trades[0].exit_reason, "stop_loss");
    assert!(matches!(r.verdict, Verdict::NotChecked(_)));
    let none = report(&conn, &TradeQuery { run: RunSelect::Named("nope".into()), from: None, to: None }).unwrap();
    assert!(none.runs.is_empty() && none.trades.is_empty());
}

#[test]
fn a_failed_write_is_counted_and_an_unfinished_writer_is_reported() {
    let path = temp("fail");
    let mut rows = a_run();
    rows.push(rows[4].clone()); // the same trade twice: UNIQUE (run, symbol, trade_seq) fails the transaction
    let writer = LedgerWriter::start(&path, "run-f", T0).unwrap();
    let sender = writer.sender();
    sender.send(rows);
    let late = writer.sender();
    let report = writer.finish(Duration::from_millis(300));
    assert!(!report.finished, "a handle is still open: the writer cannot have finished");
    drop(sender);
    drop(late);
    let path2 = temp("fail2");
    let mut rows = a_run();
    rows.push(rows[4].clone());
    let writer = LedgerWriter::start(&path2, "run-f", T0).unwrap();
    writer.sender().send(rows);
    let report = writer.finish(Duration::from_secs(10));
    assert_eq!((report.rows_failed, report.rows_written), (13, 0));
    assert!(!report.complete() && report.last_error.is_some(), "{report:?}");
}

fn agent_intent(order_intent_id: u64, action: &'static str, thesis: Option<&str>) -> LedgerRow {
    LedgerRow::AgentIntent(Box::new(AgentIntentRow {
        order_intent_id,
        agent_id: "a1".into(),
        client_intent_id: format!("c-{order_intent_id}"),
        action,
        symbol: sym("BTCUSD.s"),
        thesis: thesis.map(str::to_string),
        accepted_ns: T0 + order_intent_id,
    }))
}

/// An agent's accepted intents are stored with their thesis exactly as given, and each
/// trade shows the thesis of the intent that opened it (and of the one that closed it);
/// CSV quotes a thesis with quotes, commas and newlines; JSON carries it as is.
#[test]
fn an_agent_intents_thesis_is_stored_and_shown_with_its_trade() {
    let path = temp("thesis");
    let thesis = "z = -2.4, \"reverts\" to the mean\nsecond line; 'quoted' — ünïcode ✓";
    let mut rows = a_run();
    rows.push(agent_intent(1, "enter_long", Some(thesis)));
    rows.push(agent_intent(2, "exit", Some("done")));
    rows.push(agent_intent(99, "enter_short", None));
    let written = write(&path, "run-t", rows);
    assert!(written.complete(), "{written:?}");
    let conn = open_for_reading(&path).unwrap();
    let stored: (String, String, String, String, Option<String>) = conn
        .query_row(
            "SELECT agent_id, client_intent_id, symbol, action, thesis FROM agent_intents WHERE order_intent_id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(stored, ("a1".into(), "c-1".into(), "BTCUSD.s".into(), "enter_long".into(), Some(thesis.to_string())));
    let none: Option<String> =
        conn.query_row("SELECT thesis FROM agent_intents WHERE order_intent_id = 99", [], |r| r.get(0)).unwrap();
    assert_eq!(none, None, "no thesis: NULL");

    let r = report(&conn, &whole_run()).unwrap();
    assert_eq!(r.verdict, Verdict::Matches, "the agent's rows change no totals");
    // Both trades were opened by intent 1 and closed by intent 2 (the fixture's ids).
    assert_eq!(r.trades[0].thesis.as_deref(), Some(thesis));
    assert_eq!(r.trades[0].exit_thesis.as_deref(), Some("done"));

    let csv = render(&r, Format::Csv);
    assert!(csv.starts_with("record,") && csv.lines().next().unwrap().ends_with(",thesis,exit_thesis"), "{csv}");
    let quoted = "\"z = -2.4, \"\"reverts\"\" to the mean\nsecond line; 'quoted' — ünïcode ✓\",done\n";
    assert!(csv.contains(quoted), "{csv}");
    let json: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert_eq!(json["trades"][0]["thesis"], thesis);
    assert_eq!(json["trades"][0]["exit_thesis"], "done");
    let table = render(&r, Format::Table);
    assert!(table.contains("    thesis: z = -2.4, \"reverts\" to the mean second line;"), "{table}");

    // A trade no agent opened has no thesis.
    let plain = temp("no-thesis");
    assert!(write(&plain, "run-p", a_run()).complete());
    let r = report(&open_for_reading(&plain).unwrap(), &whole_run()).unwrap();
    assert!(r.trades.iter().all(|t| t.thesis.is_none() && t.exit_thesis.is_none()));
    let json: serde_json::Value = serde_json::from_str(&render(&r, Format::Json)).unwrap();
    assert!(json["trades"][0]["thesis"].is_null());
}

/// A version 1 file (written before `agent_intents` existed) is still read: no thesis.
#[test]
fn a_version_1_ledger_reads_without_thesis() {
    let path = temp("v1");
    assert!(write(&path, "run-old", a_run()).complete());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("DROP TABLE agent_intents; PRAGMA user_version = 1;").unwrap();
    drop(conn);
    let r = report(&open_for_reading(&path).unwrap(), &whole_run()).unwrap();
    assert_eq!(r.verdict, Verdict::Matches);
    assert!(r.trades.iter().all(|t| t.thesis.is_none()));
}

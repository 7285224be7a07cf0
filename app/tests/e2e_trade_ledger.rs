//! The trade ledger against the run it recorded: the main job runs for a few seconds with
//! the embedded paper gateway and writes its SQLite ledger; then, per symbol, the closed
//! trades plus the open trade's fills (plus adjustments) must equal the run's summary (the
//! book) and the gateway's ledger exactly, every order and fill must be a row, and
//! `engine trades` must print the same totals and say they match. A copy of the database
//! with one fill removed must be reported as differing (exit 1).
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use engine_app::config::TradeLedger;
use protocol::Money;
use rusqlite::Connection;

fn temp_dir(name: &str) -> PathBuf {
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("e2e-ledger-{}-{n}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn money(raw: i64) -> Money {
    Money::from_raw_signed(raw)
}

/// (closed realized, closed fees, closed trades, open realized, open fees, adjusted realized, adjusted fees).
fn ledger_figures(conn: &Connection, symbol: &str) -> (Money, Money, u64, Money, Money, Money, Money) {
    let (r, f, n): (i64, i64, i64) = conn
        .query_row(
            "SELECT coalesce(sum(realized_raw), 0), coalesce(sum(fees_raw), 0), count(*) FROM trades WHERE symbol = ?1",
            [symbol],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    let (or, of): (i64, i64) = conn
        .query_row(
            "SELECT coalesce(sum(realized_raw), 0), coalesce(sum(fee_raw), 0) FROM fills f WHERE symbol = ?1 AND NOT EXISTS
               (SELECT 1 FROM trades t WHERE t.run = f.run AND t.symbol = f.symbol AND t.trade_seq = f.trade_seq)",
            [symbol],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let (ar, af): (i64, i64) = conn
        .query_row(
            "SELECT coalesce(sum(realized_raw), 0), coalesce(sum(fees_raw), 0) FROM adjustments WHERE symbol = ?1",
            [symbol],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    (money(r), money(f), n as u64, money(or), money(of), money(ar), money(af))
}

fn engine_trades(db: &Path, format: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["trades", "--format", format, "--db"])
        .arg(db)
        .output()
        .expect("engine trades runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_ledger_equals_the_runs_summary_and_the_gateway_ledger() {
    let dir = temp_dir("run");
    let db = dir.join("trades.sqlite");
    let symbols = common::names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]);
    let mut config = common::fast_config(&symbols);
    config.trade_ledger = TradeLedger::At(db.clone());
    let summary = common::run(config, 4.0);
    common::assert_books_balance(&summary);
    let report = summary.ledger.clone().expect("the run had a ledger");
    assert!(report.complete(), "every row written: {report:?}");

    let conn = Connection::open(&db).unwrap();
    let mut closed_total = 0;
    for row in &summary.symbols {
        let s = &row.status;
        let name = s.symbol.as_str();
        let (r, f, n, or, of, ar, af) = ledger_figures(&conn, name);
        closed_total += n;
        assert_eq!(n, s.counters.trades, "{name}: one trade row per closed trade");
        let realized = Money::checked_sum([r, or, ar]).unwrap();
        let fees = Money::checked_sum([f, of, af]).unwrap();
        assert_eq!((realized, fees), (s.realized, s.fees), "{name}: ledger = the run's summary (book)");
        let net = realized.checked_sub(fees).unwrap();
        assert_eq!(Some(net), row.gateway_net, "{name}: ledger = the gateway's ledger over the session");
        let orders: i64 =
            conn.query_row("SELECT count(*) FROM orders WHERE symbol = ?1", [name], |x| x.get(0)).unwrap();
        assert_eq!(orders as u64, s.counters.orders, "{name}: one row per order sent");
        let fills: i64 = conn.query_row("SELECT count(*) FROM fills WHERE symbol = ?1", [name], |x| x.get(0)).unwrap();
        assert_eq!(fills as u64, s.counters.fills, "{name}: one row per booked fill");
        let gateway_fills = summary.gateway.as_ref().and_then(|g| g.ledger.get(&s.symbol)).map_or(0, |l| l.fills);
        assert_eq!(fills as u64, gateway_fills, "{name}: every gateway fill is a row");
    }
    assert!(closed_total > 0, "the run closed trades (nothing would be compared otherwise)");
    let (bad_reason, unnamed): (i64, i64) = conn
        .query_row(
            "SELECT sum(exit_reason NOT IN ('take_profit','stop_loss','trailing_stop','time_limit','strategy','flatten')),
                    sum(decided_by <> 'strategy' OR decided_by_name <> 'zscore') FROM trades",
            [],
            |x| Ok((x.get(0)?, x.get(1)?)),
        )
        .unwrap();
    assert_eq!((bad_reason, unnamed), (0, 0), "exit reasons and who decided are recorded");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |x| x.get(0)).unwrap();
    assert_eq!(mode, "wal");
    drop(conn);

    // `engine trades`: the same totals as the summary, and the verdict.
    let (code, text) = engine_trades(&db, "json");
    assert_eq!(code, 0, "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON output");
    assert_eq!(json["verdict"]["matches"], true, "{text}");
    for row in &summary.symbols {
        let s = &row.status;
        let t = json["totals"].as_array().unwrap().iter().find(|t| t["symbol"] == s.symbol.as_str()).expect("symbol");
        assert_eq!(t["book_realized"]["raw"].as_i64(), Some(s.realized.raw()), "{}", s.symbol);
        assert_eq!(t["book_fees"]["raw"].as_i64(), Some(s.fees.raw()), "{}", s.symbol);
        assert_eq!(t["trades"].as_u64(), Some(s.counters.trades), "{}", s.symbol);
    }
    let (code, table) = engine_trades(&db, "table");
    assert_eq!(code, 0, "{table}");
    assert!(table.contains("LEDGER MATCHES THE RUN'S SUMMARY"), "{table}");
    let (code, csv) = engine_trades(&db, "csv");
    assert_eq!(code, 0);
    assert_eq!(csv.lines().filter(|l| l.starts_with("trade,")).count() as u64, closed_total);

    // One fill less: the check must fail.
    let copy = dir.join("tampered.sqlite");
    std::fs::copy(&db, &copy).unwrap();
    Connection::open(&copy)
        .unwrap()
        .execute("DELETE FROM fills WHERE rowid = (SELECT max(rowid) FROM fills)", [])
        .unwrap();
    let (code, text) = engine_trades(&copy, "table");
    assert_eq!(code, 1, "a missing fill is reported:\n{text}");
    assert!(text.contains("LEDGER DIFFERS"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_ledger_that_cannot_be_opened_stops_the_start_naming_the_key() {
    let dir = temp_dir("bad");
    std::fs::write(dir.join("file"), "not a folder").unwrap();
    let mut config = common::fast_config(&common::names(&["BTCUSD.s"]));
    config.trade_ledger = TradeLedger::At(dir.join("file").join("trades.sqlite"));
    let err = engine_app::main_job::run(engine_app::main_job::JobOptions::new(
        config,
        Some(std::time::Duration::from_secs(1)),
    ))
    .expect_err("no start without the configured ledger");
    assert!(err.to_string().contains("engine.trade_ledger"), "{err:#}");
    let _ = std::fs::remove_dir_all(&dir);
}

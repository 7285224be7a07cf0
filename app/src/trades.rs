//! `engine trades`: the trades of a run (the latest, `--run <run-id>`, or `--db PATH`), or
//! of a time span (`--from`/`--to`), as a table, CSV or JSON, with per-symbol totals; for a
//! whole run the totals are checked against the figures its summary recorded.

use std::path::{Path, PathBuf};

use trade_ledger::export::{self, Format};
use trade_ledger::query::{self, RunSelect, SymbolTotals, TradeQuery, TradeReport, Verdict};
use trade_ledger::time::parse_time;

use crate::config::TradeLedger;

/// What the user asked for.
#[derive(Clone, Debug)]
pub struct TradesRequest {
    pub db: Option<PathBuf>,
    pub run: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub format: Format,
    /// Where run folders are (`engine.log_dir`).
    pub log_dir: PathBuf,
    /// `engine.trade_ledger` (a configured file is used when no `--db` is given).
    pub ledger: TradeLedger,
}

/// The printed output and whether it is a failure (the ledger differs from the summary).
#[derive(Clone, Debug)]
pub struct TradesOutput {
    pub text: String,
    pub differs: bool,
}

/// Runs the request; an error names the flag or the file.
pub fn trades(request: &TradesRequest) -> Result<TradesOutput, String> {
    let from = request.from.as_deref().map(|t| parse_time(t).map_err(|e| format!("--from: {e}"))).transpose()?;
    let to = request.to.as_deref().map(|t| parse_time(t).map_err(|e| format!("--to: {e}"))).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            return Err("--from must be before --to".into());
        }
    }
    let span = from.is_some() || to.is_some();
    let select = match (&request.run, span) {
        (Some(run), _) => RunSelect::Named(run.clone()),
        (None, true) => RunSelect::All,
        (None, false) => RunSelect::Latest,
    };
    let databases = databases(request, span)?;
    let query = TradeQuery { run: select, from, to };
    let mut reports = Vec::new();
    for db in &databases {
        let conn = trade_ledger::schema::open_for_reading(db).map_err(|e| e.to_string())?;
        reports.push(query::report(&conn, &query).map_err(|e| e.to_string())?);
    }
    let report = merge(reports);
    if report.runs.is_empty() {
        let names: Vec<String> = databases.iter().map(|d| d.display().to_string()).collect();
        return Err(format!("no such run in {}", names.join(", ")));
    }
    let differs = matches!(report.verdict, Verdict::Differs(_));
    Ok(TradesOutput { text: export::render(&report, request.format), differs })
}

/// The database files to read.
fn databases(request: &TradesRequest, span: bool) -> Result<Vec<PathBuf>, String> {
    let existing =
        |p: PathBuf| if p.is_file() { Ok(p) } else { Err(format!("{}: no trade ledger there", p.display())) };
    if let Some(db) = &request.db {
        return existing(db.clone()).map(|p| vec![p]);
    }
    if let TradeLedger::At(path) = &request.ledger {
        return existing(path.clone()).map(|p| vec![p]);
    }
    if let Some(run) = &request.run {
        return existing(request.log_dir.join(run).join("trades.sqlite")).map(|p| vec![p]);
    }
    let mut found = run_folders(&request.log_dir)?;
    if found.is_empty() {
        return Err(format!("no run in {} has a trade ledger (trades.sqlite)", request.log_dir.display()));
    }
    if !span {
        // Run ids begin with their UTC start time: the greatest is the latest.
        found = found.split_off(found.len() - 1);
    }
    Ok(found)
}

/// Every `<log_dir>/<run-id>/trades.sqlite`, oldest first.
fn run_folders(log_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(log_dir).map_err(|e| format!("{}: {e}", log_dir.display()))?;
    let mut found: Vec<PathBuf> =
        entries.filter_map(Result::ok).map(|e| e.path().join("trades.sqlite")).filter(|p| p.is_file()).collect();
    found.sort();
    Ok(found)
}

/// Several databases' reports as one (a time span across run folders): the trades listed,
/// and totals of those trades.
fn merge(mut reports: Vec<TradeReport>) -> TradeReport {
    if reports.len() == 1 {
        if let Some(one) = reports.pop() {
            return one;
        }
    }
    let mut merged = TradeReport {
        runs: Vec::new(),
        trades: Vec::new(),
        totals: Vec::new(),
        verdict: Verdict::NotChecked("a time span or several runs: totals are of the trades listed"),
    };
    let mut totals: std::collections::BTreeMap<String, SymbolTotals> = Default::default();
    for r in reports {
        merged.runs.extend(r.runs);
        for t in &r.trades {
            let e = totals
                .entry(t.symbol.clone())
                .or_insert_with(|| SymbolTotals { symbol: t.symbol.clone(), ..Default::default() });
            e.trades += 1;
            e.realized = e.realized.checked_add(t.realized).unwrap_or(e.realized);
            e.fees = e.fees.checked_add(t.fees).unwrap_or(e.fees);
        }
        merged.trades.extend(r.trades);
    }
    merged.trades.sort_by_key(|t| (t.exit_ns, t.symbol.clone(), t.trade_seq));
    merged.totals = totals.into_values().collect();
    merged
}

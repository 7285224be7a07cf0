//! The run's trade ledger: opened before the engine starts (a ledger that cannot be opened
//! stops the start, naming `engine.trade_ledger`); at the end the summary's per-symbol
//! figures are recorded beside the rows (so `engine trades` can check them) and the writer
//! is finished; what it wrote, dropped or failed goes into the summary.

use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;
use trade_ledger::{LedgerReport, LedgerRow, LedgerWriter, SymbolTotalsRow};

use crate::config::RunConfig;
use crate::main_job::JobSummary;

/// How long the end of a run waits for the writer to write what is queued.
const FINISH_WITHIN: Duration = Duration::from_secs(10);

/// Opens the ledger for this run, if it has one.
pub fn open(config: &RunConfig, run_dir: Option<&Path>) -> anyhow::Result<Option<LedgerWriter>> {
    let Some(path) = config.trade_ledger.path(run_dir) else { return Ok(None) };
    let run_id = run_dir
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(crate::run_id::run_id);
    let writer = LedgerWriter::start(&path, &run_id, crate::run_id::wall_ns())
        .map_err(|e| anyhow!("engine.trade_ledger: {e}"))?;
    Ok(Some(writer))
}

/// Records the summary's figures and waits for the writer.
pub fn finish(writer: LedgerWriter, summary: &JobSummary) -> LedgerReport {
    let totals: Vec<LedgerRow> = summary
        .symbols
        .iter()
        .map(|row| {
            let s = &row.status;
            LedgerRow::Totals(SymbolTotalsRow {
                symbol: s.symbol,
                realized: s.realized,
                fees: s.fees,
                trades: s.counters.trades,
                gateway_net: row.gateway_net,
            })
        })
        .collect();
    writer.sender().send(totals);
    writer.finish(FINISH_WITHIN)
}

/// The summary's line about the ledger: loud when anything is missing.
pub fn summary_line(r: &LedgerReport) -> String {
    if r.complete() {
        format!("trade ledger            {} ({} rows)", r.path.display(), r.rows_written)
    } else {
        format!(
            "TRADE LEDGER INCOMPLETE  {}: {} rows sent, {} written, {} dropped (writer behind), {} failed{}{}",
            r.path.display(),
            r.rows_sent,
            r.rows_written,
            r.rows_dropped,
            r.rows_failed,
            if r.finished { "" } else { ", writer not finished" },
            r.last_error.as_ref().map_or(String::new(), |e| format!(", last error: {e}"))
        )
    }
}

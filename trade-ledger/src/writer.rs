//! The ledger's writer thread. Shards hand over batches of rows through a bounded channel
//! (`try_send`: never a wait, never a lock, never I/O on a shard's thread); the writer
//! drains what is queued and writes it in one transaction. If the channel is full (the
//! writer fell behind) the batch is dropped and counted; if a write fails its rows are
//! counted as failed; both are logged at ERROR and shown in the run's summary. Nothing is
//! lost without being counted.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use engine::symbol_core::OrderPurpose;
use protocol::{Money, Side};
use rusqlite::{params, Connection, Statement, Transaction};
use tracing::{error, info};

use crate::rows::LedgerRow;
use crate::{schema, LedgerError};

/// Batches the channel holds before a shard's hand-off is dropped (and counted).
pub const CHANNEL_BATCHES: usize = 4_096;
/// At most this many rows in one transaction.
const MAX_TRANSACTION_ROWS: usize = 65_536;
/// How long the writer gathers rows after the first of a transaction.
const GATHER: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct Counters {
    rows_sent: AtomicU64,
    rows_written: AtomicU64,
    rows_dropped: AtomicU64,
    batches_dropped: AtomicU64,
    rows_failed: AtomicU64,
    transactions: AtomicU64,
    max_backlog_batches: AtomicU64,
}

/// A shard's handle: hands batches to the writer without waiting.
#[derive(Clone, Debug)]
pub struct LedgerSender {
    tx: Sender<Vec<LedgerRow>>,
    counters: Arc<Counters>,
}

impl LedgerSender {
    /// Hands a batch over. A full channel (the writer is behind) or a stopped writer drops
    /// the batch: counted, and logged at ERROR (the first time and every 1,000th).
    pub fn send(&self, rows: Vec<LedgerRow>) {
        let n = rows.len() as u64;
        if n == 0 {
            return;
        }
        self.counters.rows_sent.fetch_add(n, Ordering::Relaxed);
        let why = match self.tx.try_send(rows) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "the writer is behind (channel full)",
            Err(TrySendError::Disconnected(_)) => "the writer has stopped",
        };
        self.counters.rows_dropped.fetch_add(n, Ordering::Relaxed);
        let dropped = self.counters.batches_dropped.fetch_add(1, Ordering::Relaxed);
        if dropped.is_multiple_of(1_000) {
            let rows_dropped = self.counters.rows_dropped.load(Ordering::Relaxed);
            error!(target: "ledger", reason = why, rows_dropped, "TRADE_LEDGER_DROPPED: rows not written to the trade ledger (trading goes on; counted in the summary)");
        }
    }
}

/// What the ledger did over a run (printed in the summary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LedgerReport {
    pub path: PathBuf,
    /// Rows handed over by the shards (and the run's totals).
    pub rows_sent: u64,
    pub rows_written: u64,
    /// Dropped because the writer was behind or gone.
    pub rows_dropped: u64,
    /// In a transaction that failed.
    pub rows_failed: u64,
    pub transactions: u64,
    /// The most batches ever queued for the writer.
    pub max_backlog_batches: u64,
    /// The writer wrote everything it was given and stopped in time.
    pub finished: bool,
    pub last_error: Option<String>,
}

impl LedgerReport {
    /// Every row handed over is in the database.
    pub fn complete(&self) -> bool {
        self.finished && self.rows_dropped == 0 && self.rows_failed == 0 && self.rows_written == self.rows_sent
    }
}

/// The running writer.
pub struct LedgerWriter {
    path: PathBuf,
    sender: LedgerSender,
    done: Receiver<Option<String>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LedgerWriter {
    /// Opens (or creates) the database, records the run, and starts the writer thread.
    pub fn start(path: &Path, run_id: &str, started_ns: u64) -> Result<LedgerWriter, LedgerError> {
        let conn = schema::open_for_writing(path)?;
        conn.execute("INSERT INTO runs (run_id, started_ns) VALUES (?1, ?2)", params![run_id, as_i64(started_ns)])?;
        let run = conn.last_insert_rowid();
        let (tx, rx) = crossbeam_channel::bounded(CHANNEL_BATCHES);
        let counters = Arc::new(Counters::default());
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let thread_counters = Arc::clone(&counters);
        let thread = std::thread::Builder::new()
            .name("trade-ledger".into())
            .spawn(move || {
                let last_error = write_loop(conn, run, &rx, &thread_counters);
                let _ = done_tx.send(last_error);
            })
            .map_err(LedgerError::Thread)?;
        info!(target: "ledger", path = %path.display(), run_id, "trade ledger open (SQLite, WAL)");
        Ok(LedgerWriter { path: path.to_path_buf(), sender: LedgerSender { tx, counters }, done, thread: Some(thread) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle for a shard (or anyone) to send rows with.
    pub fn sender(&self) -> LedgerSender {
        self.sender.clone()
    }

    /// Closes our handle and waits (at most `wait`) for the writer to write everything it
    /// was given; it stops once every other handle is gone too.
    pub fn finish(mut self, wait: Duration) -> LedgerReport {
        let counters = Arc::clone(&self.sender.counters);
        drop(self.sender);
        let (finished, last_error) = match self.done.recv_timeout(wait) {
            Ok(last_error) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
                (true, last_error)
            }
            Err(_) => (false, Some(format!("the writer did not finish within {wait:?}"))),
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let report = LedgerReport {
            path: self.path.clone(),
            rows_sent: load(&counters.rows_sent),
            rows_written: load(&counters.rows_written),
            rows_dropped: load(&counters.rows_dropped),
            rows_failed: load(&counters.rows_failed),
            transactions: load(&counters.transactions),
            max_backlog_batches: load(&counters.max_backlog_batches),
            finished,
            last_error,
        };
        if report.complete() {
            info!(target: "ledger", path = %report.path.display(), rows = report.rows_written, transactions = report.transactions, "trade ledger complete");
        } else {
            error!(target: "ledger", path = %report.path.display(), sent = report.rows_sent, written = report.rows_written, dropped = report.rows_dropped, failed = report.rows_failed, finished = report.finished, error = report.last_error.as_deref().unwrap_or("-"), "TRADE_LEDGER_INCOMPLETE: rows are missing from the trade ledger");
        }
        report
    }
}

/// Writes batches until every sender is gone; returns the last write error, if any.
fn write_loop(mut conn: Connection, run: i64, rx: &Receiver<Vec<LedgerRow>>, counters: &Counters) -> Option<String> {
    let mut last_error = None;
    while let Ok(mut rows) = rx.recv() {
        counters.max_backlog_batches.fetch_max(rx.len() as u64 + 1, Ordering::Relaxed);
        // Gather for a moment: one commit per GATHER rewrites each index page once, not
        // once per shard hand-off (the writer's CPU is taken from the cores the shards use).
        let until = std::time::Instant::now() + GATHER;
        while rows.len() < MAX_TRANSACTION_ROWS {
            match rx.recv_deadline(until) {
                Ok(more) => rows.extend(more),
                Err(_) => break,
            }
        }
        let n = rows.len() as u64;
        match write_rows(&mut conn, run, &rows) {
            Ok(()) => {
                counters.rows_written.fetch_add(n, Ordering::Relaxed);
                counters.transactions.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                counters.rows_failed.fetch_add(n, Ordering::Relaxed);
                error!(target: "ledger", rows = n, error = %e, "TRADE_LEDGER_WRITE_FAILED: a batch of rows was not written (trading goes on; counted in the summary)");
                last_error = Some(e.to_string());
            }
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        last_error = Some(format!("checkpoint: {e}"));
    }
    last_error
}

const INSERT_ORDER: &str =
    "INSERT INTO orders (run, intent_id, symbol, side, qty_raw, qty, kind, exit_reason, placed_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
const INSERT_FILL: &str =
    "INSERT INTO fills (run, exec_id, intent_id, symbol, side, qty_raw, qty, price_raw, price, fee_raw, fee,
                                    realized_raw, realized, trade_seq, at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
const INSERT_TRADE: &str = "INSERT INTO trades (run, symbol, trade_seq, direction, qty_raw, qty, entry_ns, exit_ns,
                                     entry_price_raw, entry_price, exit_price_raw, exit_price, realized_raw, realized,
                                     fees_raw, fees, net_raw, net, exit_reason, entry_intent, exit_intent,
                                     decided_by, decided_by_name, fills)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,
                         ?21, ?22, ?23, ?24)";
const INSERT_ADJUSTMENT: &str =
    "INSERT INTO adjustments (run, symbol, realized_raw, realized, fees_raw, fees, reason, at_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'adopt', ?7)";
const INSERT_TOTALS: &str =
    "INSERT OR REPLACE INTO run_totals (run, symbol, realized_raw, realized, fees_raw, fees, trades,
                                                    gateway_net_raw, gateway_net)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

const INSERT_AGENT_INTENT: &str =
    "INSERT INTO agent_intents (run, order_intent_id, agent_id, client_intent_id, symbol, action, thesis, accepted_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// One transaction for the whole batch.
pub(crate) fn write_rows(conn: &mut Connection, run: i64, rows: &[LedgerRow]) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction()?;
    {
        let mut statements = Statements::prepare(&tx)?;
        for row in rows {
            insert(&mut statements, run, row)?;
        }
    }
    tx.commit()
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

fn money(m: Option<Money>) -> (Option<i64>, Option<String>) {
    (m.map(Money::raw), m.map(|m| m.to_string()))
}

/// The inserts, prepared once per transaction.
struct Statements<'a> {
    order: Statement<'a>,
    fill: Statement<'a>,
    trade: Statement<'a>,
    adjustment: Statement<'a>,
    totals: Statement<'a>,
    agent_intent: Statement<'a>,
}

impl<'a> Statements<'a> {
    fn prepare(tx: &'a Transaction<'_>) -> Result<Statements<'a>, rusqlite::Error> {
        Ok(Statements {
            order: tx.prepare(INSERT_ORDER)?,
            fill: tx.prepare(INSERT_FILL)?,
            trade: tx.prepare(INSERT_TRADE)?,
            adjustment: tx.prepare(INSERT_ADJUSTMENT)?,
            totals: tx.prepare(INSERT_TOTALS)?,
            agent_intent: tx.prepare(INSERT_AGENT_INTENT)?,
        })
    }
}

fn insert(st: &mut Statements<'_>, run: i64, row: &LedgerRow) -> Result<(), rusqlite::Error> {
    match row {
        LedgerRow::Order(o) => {
            let (kind, reason) = match o.purpose {
                OrderPurpose::Entry(_) => ("entry", None),
                OrderPurpose::Exit(r) => ("exit", Some(r.as_str())),
            };
            st.order.execute(params![
                run,
                as_i64(o.intent_id.0),
                o.symbol.as_str(),
                side(o.side),
                o.qty.raw(),
                o.qty.to_string(),
                kind,
                reason,
                as_i64(o.placed_at)
            ])?;
        }
        LedgerRow::Fill(f) => {
            st.fill.execute(params![
                run,
                as_i64(f.exec_id.0),
                as_i64(f.intent_id.0),
                f.symbol.as_str(),
                side(f.side),
                f.qty.raw(),
                f.qty.to_string(),
                f.price.raw(),
                f.price.to_string(),
                f.fee.raw(),
                f.fee.to_string(),
                f.realized.raw(),
                f.realized.to_string(),
                as_i64(f.trade_seq),
                as_i64(f.at)
            ])?;
        }
        LedgerRow::Trade(t) => {
            let net = t.net().ok();
            let (net_raw, net_text) = money(net);
            st.trade.execute(params![
                run,
                t.symbol.as_str(),
                as_i64(t.trade_seq),
                t.direction.as_str(),
                t.qty.raw(),
                t.qty.to_string(),
                as_i64(t.entry_at),
                as_i64(t.exit_at),
                t.entry_price.raw(),
                t.entry_price.to_string(),
                t.exit_price.map(|p| p.raw()),
                t.exit_price.map(|p| p.to_string()),
                t.realized.raw(),
                t.realized.to_string(),
                t.fees.raw(),
                t.fees.to_string(),
                net_raw.unwrap_or(0),
                net_text.unwrap_or_else(|| "overflow".into()),
                t.reason.as_str(),
                t.entry_intent.map(|i| as_i64(i.0)),
                t.exit_intent.map(|i| as_i64(i.0)),
                t.decided_by.kind(),
                t.decided_by.name(),
                i64::from(t.fills)
            ])?;
        }
        LedgerRow::Adjustment(a) => {
            st.adjustment.execute(params![
                run,
                a.symbol.as_str(),
                a.realized.raw(),
                a.realized.to_string(),
                a.fees.raw(),
                a.fees.to_string(),
                as_i64(a.at)
            ])?;
        }
        LedgerRow::Totals(s) => {
            let (gw_raw, gw_text) = money(s.gateway_net);
            st.totals.execute(params![
                run,
                s.symbol.as_str(),
                s.realized.raw(),
                s.realized.to_string(),
                s.fees.raw(),
                s.fees.to_string(),
                as_i64(s.trades),
                gw_raw,
                gw_text
            ])?;
        }
        LedgerRow::AgentIntent(a) => {
            // The thesis as given: a bound parameter, never interpreted.
            st.agent_intent.execute(params![
                run,
                as_i64(a.order_intent_id),
                a.agent_id,
                a.client_intent_id,
                a.symbol.as_str(),
                a.action,
                a.thesis,
                as_i64(a.accepted_ns)
            ])?;
        }
    }
    Ok(())
}

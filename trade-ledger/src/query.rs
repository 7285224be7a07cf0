//! Reading a ledger back: which run, the trades (of a run, or closed within a time span),
//! each symbol's totals, and the check of those totals against the figures the run's
//! summary recorded (`run_totals`): closed trades + the open trade's fills + adjustments
//! must equal the book's realized PnL and fees exactly, the number of closed trades the
//! core's count, and every trade the sum of its own fills.

use std::collections::BTreeMap;

use protocol::{Money, Price, Qty};
use rusqlite::{params, Connection, OptionalExtension};

use crate::time::EpochNs;
use crate::LedgerError;

/// Which run's rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunSelect {
    /// The last run recorded in the database.
    Latest,
    /// The run with this id (`logs/<run-id>/`).
    Named(String),
    /// Every run in the database.
    All,
}

/// What to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeQuery {
    pub run: RunSelect,
    /// Trades that closed at or after this time.
    pub from: Option<EpochNs>,
    /// Trades that closed before this time.
    pub to: Option<EpochNs>,
}

impl TradeQuery {
    /// A whole run (no time span): its totals can be checked against its summary.
    pub fn is_whole_run(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.run != RunSelect::All
    }
}

/// A run in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    pub id: i64,
    pub run_id: String,
    pub started_ns: EpochNs,
}

/// One closed trade as read back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeOut {
    pub run_id: String,
    pub symbol: String,
    pub trade_seq: i64,
    pub direction: String,
    pub qty: Qty,
    pub entry_ns: EpochNs,
    pub exit_ns: EpochNs,
    pub entry_price: Price,
    pub exit_price: Option<Price>,
    pub realized: Money,
    pub fees: Money,
    pub net: Money,
    pub exit_reason: String,
    pub entry_intent: Option<i64>,
    pub exit_intent: Option<i64>,
    pub decided_by: String,
    pub decided_by_name: Option<String>,
    pub fills: i64,
    /// The `thesis` of the agent intent that opened it (`agent_intents`, joined on
    /// `entry_intent`); `None` when no agent's intent with a thesis opened it.
    pub thesis: Option<String>,
    /// The `thesis` of the agent's `exit` intent that closed it (joined on `exit_intent`).
    pub exit_thesis: Option<String>,
}

/// A symbol's totals in the ledger, and in the run's summary when it was recorded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SymbolTotals {
    pub symbol: String,
    /// Of the trades listed.
    pub trades: u64,
    pub realized: Money,
    pub fees: Money,
    /// Fills of the trade still open at the end (whole runs only).
    pub open_realized: Money,
    pub open_fees: Money,
    /// Operator adjustments (whole runs only).
    pub adjusted_realized: Money,
    pub adjusted_fees: Money,
    /// What the run's summary recorded: realized, fees, trades.
    pub summary: Option<(Money, Money, u64)>,
}

impl SymbolTotals {
    /// Closed + open + adjustments: the book's realized PnL and fees by the ledger.
    pub fn book(&self) -> Result<(Money, Money), LedgerError> {
        let bad = |_| LedgerError::BadValue(format!("{}: totals overflow", self.symbol));
        let realized = Money::checked_sum([self.realized, self.open_realized, self.adjusted_realized]).map_err(bad)?;
        let fees = Money::checked_sum([self.fees, self.open_fees, self.adjusted_fees]).map_err(bad)?;
        Ok((realized, fees))
    }
    pub fn net(&self) -> Money {
        self.realized.checked_sub(self.fees).unwrap_or(Money::ZERO)
    }
}

/// The ledger against the run's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every symbol's figures equal the summary's, and every trade its fills.
    Matches,
    /// What differs, one line each.
    Differs(Vec<String>),
    /// The run recorded no summary (it did not finish), or a time span was asked for.
    NotChecked(&'static str),
}

/// Everything `engine trades` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TradeReport {
    pub runs: Vec<RunInfo>,
    pub trades: Vec<TradeOut>,
    pub totals: Vec<SymbolTotals>,
    pub verdict: Verdict,
}

/// The runs the query names (none: no such run).
pub fn runs(conn: &Connection, select: &RunSelect) -> Result<Vec<RunInfo>, LedgerError> {
    let row = |r: &rusqlite::Row<'_>| Ok(RunInfo { id: r.get(0)?, run_id: r.get(1)?, started_ns: r.get(2)? });
    let found = match select {
        RunSelect::Latest => conn
            .query_row("SELECT id, run_id, started_ns FROM runs ORDER BY id DESC LIMIT 1", [], row)
            .optional()?
            .into_iter()
            .collect(),
        RunSelect::Named(name) => conn
            .query_row(
                "SELECT id, run_id, started_ns FROM runs WHERE run_id = ?1 ORDER BY id DESC LIMIT 1",
                [name],
                row,
            )
            .optional()?
            .into_iter()
            .collect(),
        RunSelect::All => {
            let mut stmt = conn.prepare("SELECT id, run_id, started_ns FROM runs ORDER BY id")?;
            let all = stmt.query_map([], row)?.collect::<Result<Vec<_>, _>>()?;
            all
        }
    };
    Ok(found)
}

fn money(raw: i64) -> Money {
    Money::from_raw_signed(raw)
}

fn price(raw: i64, what: &str) -> Result<Price, LedgerError> {
    Price::from_raw(raw).map_err(|e| LedgerError::BadValue(format!("{what}: {e}")))
}

fn qty(raw: i64, what: &str) -> Result<Qty, LedgerError> {
    Qty::from_raw(raw).map_err(|e| LedgerError::BadValue(format!("{what}: {e}")))
}

/// Reads the report for a query.
pub fn report(conn: &Connection, query: &TradeQuery) -> Result<TradeReport, LedgerError> {
    let runs = runs(conn, &query.run)?;
    let mut trades = Vec::new();
    for run in &runs {
        trades.extend(run_trades(conn, run, query)?);
    }
    let mut totals: BTreeMap<String, SymbolTotals> = BTreeMap::new();
    let add = |a: Money, b: Money, what: &str| {
        a.checked_add(b).map_err(|_| LedgerError::BadValue(format!("{what}: totals overflow")))
    };
    for t in &trades {
        let e = totals
            .entry(t.symbol.clone())
            .or_insert_with(|| SymbolTotals { symbol: t.symbol.clone(), ..Default::default() });
        e.trades += 1;
        e.realized = add(e.realized, t.realized, &t.symbol)?;
        e.fees = add(e.fees, t.fees, &t.symbol)?;
    }
    let verdict = match (query.is_whole_run(), runs.first()) {
        (true, Some(run)) => check_run(conn, run, &mut totals)?,
        (true, None) => Verdict::NotChecked("no such run in the ledger"),
        (false, _) => Verdict::NotChecked("a time span or several runs: totals are of the trades listed"),
    };
    Ok(TradeReport { runs, trades, totals: totals.into_values().collect(), verdict })
}

fn run_trades(conn: &Connection, run: &RunInfo, query: &TradeQuery) -> Result<Vec<TradeOut>, LedgerError> {
    // A version 1 file has no `agent_intents`: no thesis.
    let sql = if crate::schema::has_table(conn, "agent_intents")? {
        "SELECT t.symbol, t.trade_seq, t.direction, t.qty_raw, t.entry_ns, t.exit_ns, t.entry_price_raw,
                t.exit_price_raw, t.realized_raw, t.fees_raw, t.exit_reason, t.entry_intent, t.exit_intent,
                t.decided_by, t.decided_by_name, t.fills,
                (SELECT a.thesis FROM agent_intents a WHERE a.run = t.run AND a.order_intent_id = t.entry_intent
                 ORDER BY a.accepted_ns DESC LIMIT 1),
                (SELECT a.thesis FROM agent_intents a WHERE a.run = t.run AND a.order_intent_id = t.exit_intent
                 ORDER BY a.accepted_ns DESC LIMIT 1)
         FROM trades t WHERE t.run = ?1 AND t.exit_ns >= ?2 AND t.exit_ns < ?3
         ORDER BY t.exit_ns, t.symbol, t.trade_seq"
    } else {
        "SELECT symbol, trade_seq, direction, qty_raw, entry_ns, exit_ns, entry_price_raw, exit_price_raw,
                realized_raw, fees_raw, exit_reason, entry_intent, exit_intent, decided_by, decided_by_name, fills,
                NULL, NULL
         FROM trades WHERE run = ?1 AND exit_ns >= ?2 AND exit_ns < ?3
         ORDER BY exit_ns, symbol, trade_seq"
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![run.id, query.from.unwrap_or(i64::MIN), query.to.unwrap_or(i64::MAX)], |r| {
        Ok((
            (r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?, r.get::<_, i64>(3)?),
            (r.get::<_, i64>(4)?, r.get::<_, i64>(5)?, r.get::<_, i64>(6)?, r.get::<_, Option<i64>>(7)?),
            (r.get::<_, i64>(8)?, r.get::<_, i64>(9)?, r.get::<_, String>(10)?),
            (r.get::<_, Option<i64>>(11)?, r.get::<_, Option<i64>>(12)?),
            (r.get::<_, String>(13)?, r.get::<_, Option<String>>(14)?, r.get::<_, i64>(15)?),
            (r.get::<_, Option<String>>(16)?, r.get::<_, Option<String>>(17)?),
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (
            (symbol, trade_seq, direction, qty_raw),
            (entry_ns, exit_ns, entry_px, exit_px),
            (realized, fees, reason),
            (ei, xi),
            (by, by_name, fills),
            (thesis, exit_thesis),
        ) = row?;
        let what = format!("trade {symbol} #{trade_seq}");
        let (realized, fees) = (money(realized), money(fees));
        let net = realized.checked_sub(fees).map_err(|e| LedgerError::BadValue(format!("{what}: {e}")))?;
        out.push(TradeOut {
            run_id: run.run_id.clone(),
            qty: qty(qty_raw, &what)?,
            entry_price: price(entry_px, &what)?,
            exit_price: exit_px.map(|p| price(p, &what)).transpose()?,
            symbol,
            trade_seq,
            direction,
            entry_ns,
            exit_ns,
            realized,
            fees,
            net,
            exit_reason: reason,
            entry_intent: ei,
            exit_intent: xi,
            decided_by: by,
            decided_by_name: by_name,
            fills,
            thesis,
            exit_thesis,
        });
    }
    Ok(out)
}

/// Sums of (realized, fees) per symbol for one of the run's grouping queries.
fn sums(conn: &Connection, sql: &str, run: i64) -> Result<BTreeMap<String, (Money, Money)>, LedgerError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt.query_map([run], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (symbol, realized, fees) = row?;
        out.insert(symbol, (money(realized), money(fees)));
    }
    Ok(out)
}

/// Fills the open and adjusted parts and the summary's figures, then compares.
fn check_run(
    conn: &Connection,
    run: &RunInfo,
    totals: &mut BTreeMap<String, SymbolTotals>,
) -> Result<Verdict, LedgerError> {
    let open = sums(
        conn,
        "SELECT f.symbol, sum(f.realized_raw), sum(f.fee_raw) FROM fills f WHERE f.run = ?1 AND NOT EXISTS
           (SELECT 1 FROM trades t WHERE t.run = f.run AND t.symbol = f.symbol AND t.trade_seq = f.trade_seq)
         GROUP BY f.symbol",
        run.id,
    )?;
    let adjusted = sums(
        conn,
        "SELECT symbol, sum(realized_raw), sum(fees_raw) FROM adjustments WHERE run = ?1 GROUP BY symbol",
        run.id,
    )?;
    let mut stmt = conn.prepare("SELECT symbol, realized_raw, fees_raw, trades FROM run_totals WHERE run = ?1")?;
    let summary = stmt
        .query_map([run.id], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, i64>(3)?))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    for (symbol, (r, f)) in open {
        let e = totals.entry(symbol.clone()).or_insert_with(|| SymbolTotals { symbol, ..Default::default() });
        (e.open_realized, e.open_fees) = (r, f);
    }
    for (symbol, (r, f)) in adjusted {
        let e = totals.entry(symbol.clone()).or_insert_with(|| SymbolTotals { symbol, ..Default::default() });
        (e.adjusted_realized, e.adjusted_fees) = (r, f);
    }
    for (symbol, realized, fees, trades) in &summary {
        let e = totals
            .entry(symbol.clone())
            .or_insert_with(|| SymbolTotals { symbol: symbol.clone(), ..Default::default() });
        e.summary = Some((money(*realized), money(*fees), u64::try_from(*trades).unwrap_or(0)));
    }
    if summary.is_empty() {
        return Ok(Verdict::NotChecked("the run recorded no summary (it did not finish)"));
    }
    let mut differences = Vec::new();
    for t in totals.values() {
        let Some((realized, fees, trades)) = t.summary else {
            differences.push(format!("{}: in the ledger but not in the run's summary", t.symbol));
            continue;
        };
        let (book_realized, book_fees) = t.book()?;
        if book_realized != realized {
            differences
                .push(format!("{}: realized {} in the ledger, {} in the summary", t.symbol, book_realized, realized));
        }
        if book_fees != fees {
            differences.push(format!("{}: fees {} in the ledger, {} in the summary", t.symbol, book_fees, fees));
        }
        if t.trades != trades {
            differences
                .push(format!("{}: {} closed trades in the ledger, {} in the summary", t.symbol, t.trades, trades));
        }
    }
    differences.extend(trades_against_fills(conn, run.id)?);
    Ok(if differences.is_empty() { Verdict::Matches } else { Verdict::Differs(differences) })
}

/// Trades whose realized PnL, fees or fill count differ from their own fills.
fn trades_against_fills(conn: &Connection, run: i64) -> Result<Vec<String>, LedgerError> {
    let mut stmt = conn.prepare(
        "SELECT t.symbol, t.trade_seq, t.realized_raw, t.fees_raw, t.fills,
                coalesce(sum(f.realized_raw), 0), coalesce(sum(f.fee_raw), 0), count(f.exec_id)
         FROM trades t LEFT JOIN fills f ON f.run = t.run AND f.symbol = t.symbol AND f.trade_seq = t.trade_seq
         WHERE t.run = ?1
         GROUP BY t.symbol, t.trade_seq
         HAVING t.realized_raw <> coalesce(sum(f.realized_raw), 0) OR t.fees_raw <> coalesce(sum(f.fee_raw), 0)
             OR t.fills <> count(f.exec_id)",
    )?;
    let rows = stmt.query_map([run], |r| {
        Ok(format!(
            "{} trade #{}: realized {} fees {} over {} fills, but its fills sum to {} and {} over {}",
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            money(r.get(2)?),
            money(r.get(3)?),
            r.get::<_, i64>(4)?,
            money(r.get(5)?),
            money(r.get(6)?),
            r.get::<_, i64>(7)?
        ))
    })?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

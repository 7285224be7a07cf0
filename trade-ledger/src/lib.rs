//! The trade ledger: every order the engine sends, every fill it books, every trade that
//! closes (and every adjustment an operator's `adopt` makes), and every decision agent's
//! accepted intent with its thesis, as rows of an embedded SQLite database, written off the
//! hot path; and the queries behind `engine trades`.
//!
//! Money is stored as the exact fixed-point integer (`*_raw`, value × 10^8) beside a text
//! rendering; never as a float. The schema is documented in docs/TRADE_LEDGER.md.
//!
//! Layout:
//! - [`rows`]: what a shard hands over (`LedgerRow`) and the run's summary rows.
//! - [`schema`]: the tables, opening a database (WAL), the schema version.
//! - [`writer`]: the writer thread: batches in through a bounded channel, one transaction
//!   per drained batch; counters of what was written, dropped or failed.
//! - [`query`]: reading a run's trades back, per-symbol totals, and the check against the
//!   run's summary.
//! - [`export`]: the table, CSV and JSON renderings.
//! - [`time`]: ISO 8601 and epoch times for `--from`/`--to` and the output.

pub mod export;
pub mod query;
pub mod rows;
pub mod schema;
pub mod time;
pub mod writer;

pub use rows::{AgentIntentRow, LedgerRow, SymbolTotalsRow};
pub use writer::{LedgerReport, LedgerSender, LedgerWriter};

/// Why the ledger could not be opened, written or read.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path} was written by schema version {found}; this engine reads version {expected}")]
    SchemaVersion { path: String, found: i64, expected: i64 },
    #[error("the database holds a bad value: {0}")]
    BadValue(String),
    #[error("cannot start the ledger writer thread: {0}")]
    Thread(std::io::Error),
}

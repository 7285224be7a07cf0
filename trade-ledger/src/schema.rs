//! The ledger's tables (docs/TRADE_LEDGER.md describes every column), and opening a
//! database: WAL journal, `synchronous = NORMAL` (a crash loses at most the last
//! transactions, never the file), the schema created if absent and its version checked.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::LedgerError;

/// `PRAGMA user_version` of the schema this code writes and reads. Version 2 added the
/// `agent_intents` table; a version 1 file is read as it is (no thesis) and, opened for
/// writing, gets the table (`CREATE TABLE IF NOT EXISTS`) and version 2.
pub const SCHEMA_VERSION: i64 = 2;
/// The oldest version this code still reads (and upgrades when writing).
pub const OLDEST_READABLE: i64 = 1;

/// Every table. Money, prices and quantities: `*_raw` is the exact fixed-point integer
/// (value × 10^8), the column without the suffix its decimal text. Times: ns since the
/// Unix epoch (UTC).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL,
    started_ns  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    run         INTEGER NOT NULL REFERENCES runs(id),
    intent_id   INTEGER NOT NULL,
    symbol      TEXT NOT NULL,
    side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty_raw     INTEGER NOT NULL,
    qty         TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('entry', 'exit')),
    exit_reason TEXT,
    placed_ns   INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fills (
    run          INTEGER NOT NULL REFERENCES runs(id),
    exec_id      INTEGER NOT NULL,
    intent_id    INTEGER NOT NULL,
    symbol       TEXT NOT NULL,
    side         TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    qty_raw      INTEGER NOT NULL,
    qty          TEXT NOT NULL,
    price_raw    INTEGER NOT NULL,
    price        TEXT NOT NULL,
    fee_raw      INTEGER NOT NULL,
    fee          TEXT NOT NULL,
    realized_raw INTEGER NOT NULL,
    realized     TEXT NOT NULL,
    trade_seq    INTEGER NOT NULL,
    at_ns        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trades (
    run              INTEGER NOT NULL REFERENCES runs(id),
    symbol           TEXT NOT NULL,
    trade_seq        INTEGER NOT NULL,
    direction        TEXT NOT NULL CHECK (direction IN ('long', 'short')),
    qty_raw          INTEGER NOT NULL,
    qty              TEXT NOT NULL,
    entry_ns         INTEGER NOT NULL,
    exit_ns          INTEGER NOT NULL,
    entry_price_raw  INTEGER NOT NULL,
    entry_price      TEXT NOT NULL,
    exit_price_raw   INTEGER,
    exit_price       TEXT,
    realized_raw     INTEGER NOT NULL,
    realized         TEXT NOT NULL,
    fees_raw         INTEGER NOT NULL,
    fees             TEXT NOT NULL,
    net_raw          INTEGER NOT NULL,
    net              TEXT NOT NULL,
    exit_reason      TEXT NOT NULL,
    entry_intent     INTEGER,
    exit_intent      INTEGER,
    decided_by       TEXT NOT NULL,
    decided_by_name  TEXT,
    fills            INTEGER NOT NULL,
    UNIQUE (run, symbol, trade_seq)
);
CREATE TABLE IF NOT EXISTS adjustments (
    run          INTEGER NOT NULL REFERENCES runs(id),
    symbol       TEXT NOT NULL,
    realized_raw INTEGER NOT NULL,
    realized     TEXT NOT NULL,
    fees_raw     INTEGER NOT NULL,
    fees         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    at_ns        INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS run_totals (
    run              INTEGER NOT NULL REFERENCES runs(id),
    symbol           TEXT NOT NULL,
    realized_raw     INTEGER NOT NULL,
    realized         TEXT NOT NULL,
    fees_raw         INTEGER NOT NULL,
    fees             TEXT NOT NULL,
    trades           INTEGER NOT NULL,
    gateway_net_raw  INTEGER,
    gateway_net      TEXT,
    UNIQUE (run, symbol)
);
CREATE TABLE IF NOT EXISTS agent_intents (
    run              INTEGER NOT NULL REFERENCES runs(id),
    order_intent_id  INTEGER NOT NULL,
    agent_id         TEXT NOT NULL,
    client_intent_id TEXT NOT NULL,
    symbol           TEXT NOT NULL,
    action           TEXT NOT NULL CHECK (action IN ('enter_long', 'enter_short', 'exit')),
    thesis           TEXT,
    accepted_ns      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_intents_by_order ON agent_intents (run, order_intent_id);
CREATE INDEX IF NOT EXISTS trades_by_exit ON trades (exit_ns);
CREATE INDEX IF NOT EXISTS trades_by_symbol ON trades (run, symbol);
CREATE INDEX IF NOT EXISTS fills_by_trade ON fills (run, symbol, trade_seq);
CREATE INDEX IF NOT EXISTS orders_by_intent ON orders (intent_id);
";

/// Opens (creating if needed) a ledger for writing: WAL, the schema, the version.
pub fn open_for_writing(path: &Path) -> Result<Connection, LedgerError> {
    let at = |source| LedgerError::Open { path: path.display().to_string(), source };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            at(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("cannot create {}: {e}", dir.display())),
            ))
        })?;
    }
    let conn = Connection::open(path).map_err(at)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(at)?;
    // journal_mode answers with the mode in force; anything but WAL is an error.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(at)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(LedgerError::BadValue(format!("{}: journal_mode is {mode}, not wal", path.display())));
    }
    conn.execute_batch("PRAGMA synchronous = NORMAL;").map_err(at)?;
    check_version(&conn, path, true)?;
    // Creates what is absent: every table of a new file, the tables a version added to an
    // older one; then the file is of this version.
    conn.execute_batch(SCHEMA).map_err(at)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(at)?;
    Ok(conn)
}

/// Opens an existing ledger for reading (never creates one).
pub fn open_for_reading(path: &Path) -> Result<Connection, LedgerError> {
    let at = |source| LedgerError::Open { path: path.display().to_string(), source };
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(at)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(at)?;
    check_version(&conn, path, false)?;
    Ok(conn)
}

/// Our version or an older one we read (a writer upgrades it); a fresh file (0) only for
/// a writer; any other version is refused.
fn check_version(conn: &Connection, path: &Path, writing: bool) -> Result<(), LedgerError> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    match found {
        OLDEST_READABLE..=SCHEMA_VERSION => Ok(()),
        0 if writing => Ok(()),
        _ => Err(LedgerError::SchemaVersion { path: path.display().to_string(), found, expected: SCHEMA_VERSION }),
    }
}

/// Whether the file has a table (a version 1 file has no `agent_intents`).
pub fn has_table(conn: &Connection, table: &str) -> Result<bool, LedgerError> {
    let n: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| r.get(0))?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        std::env::temp_dir().join(format!("ledger-schema-{}-{n}-{name}", std::process::id())).join("t.sqlite")
    }

    #[test]
    fn a_new_ledger_is_wal_with_every_table_and_reopens() {
        let path = temp("new");
        let conn = open_for_writing(&path).unwrap();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        for table in ["runs", "orders", "fills", "trades", "adjustments", "run_totals", "agent_intents"] {
            let n: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1", [table], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(n, 1, "{table}");
        }
        drop(conn);
        open_for_writing(&path).unwrap();
        open_for_reading(&path).unwrap();
    }

    #[test]
    fn another_schema_version_is_refused_by_name() {
        let path = temp("version");
        let conn = open_for_writing(&path).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
        drop(conn);
        let err = open_for_reading(&path).unwrap_err();
        assert!(matches!(err, LedgerError::SchemaVersion { found: 99, .. }), "{err}");
        assert!(open_for_writing(&path).is_err());
    }

    /// A version 1 file (no `agent_intents`) is read as it is, and a writer adds the table
    /// and makes it version 2.
    #[test]
    fn a_version_1_file_is_read_and_upgraded_by_a_writer() {
        let path = temp("v1");
        let conn = open_for_writing(&path).unwrap();
        conn.execute_batch("DROP TABLE agent_intents; PRAGMA user_version = 1;").unwrap();
        drop(conn);
        let reader = open_for_reading(&path).unwrap();
        assert!(!has_table(&reader, "agent_intents").unwrap());
        drop(reader);
        let conn = open_for_writing(&path).unwrap();
        assert!(has_table(&conn, "agent_intents").unwrap());
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_missing_file_is_not_created_by_a_reader() {
        let path = temp("missing");
        assert!(open_for_reading(&path).is_err());
        assert!(!path.exists());
    }
}

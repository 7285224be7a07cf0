//! `Journal`: the write-ahead journal of every symbol's durable state (position with cost
//! basis, cooldowns, the order on the wire). A symbol actor appends a record synchronously
//! whenever that state changes, in the same step that changed it: so a booked fill is in
//! the journal before the symbol's next order is decided, and an order is in the journal
//! before it is handed to the bridge. A `kill -9` then loses nothing: the restarted engine
//! replays the journal (last record per symbol wins) and asks the gateway about the order
//! that was on the wire.
//!
//! Format: one JSON object per line, `{"symbol":"BTCUSD.s","state":{...}}`. A torn last
//! line (the process died mid-write) is skipped with a warning; a damaged line before the
//! last is an error that names the line. The journal is compacted (one line per symbol,
//! written to a temporary file and renamed) at open and whenever it grows past
//! [`COMPACT_AT_BYTES`]. Each append is one `write` call, which survives the process dying;
//! with `fsync` on, it is also synced to the disk (survives power loss, costs far more).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use engine::symbol_core::DurableSymbol;
use protocol::Symbol;
use serde::{Deserialize, Serialize};

/// Compact when the journal grows past this.
pub const COMPACT_AT_BYTES: u64 = 16 * 1024 * 1024;

/// One line as read back.
#[derive(Deserialize)]
struct Record {
    symbol: String,
    state: DurableSymbol,
}

/// One line as written (borrowed: no allocation per append).
#[derive(Serialize)]
struct RecordOut<'a> {
    symbol: &'a str,
    state: &'a DurableSymbol,
}

/// The journal's path for a state file: the same name with the extension `wal`.
pub fn path_for(state_file: &Path) -> PathBuf {
    state_file.with_extension("wal")
}

/// What a replay found.
#[derive(Debug, Default)]
pub struct Replayed {
    pub states: BTreeMap<Symbol, DurableSymbol>,
    pub records: u64,
    /// A torn last line was skipped.
    pub torn_tail: bool,
}

/// Reads a journal. A missing file is empty.
pub fn replay(path: &Path) -> Result<Replayed, String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replayed::default()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut out = Replayed::default();
    let lines: Vec<&[u8]> = text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect();
    let complete = text.ends_with(b"\n");
    for (i, line) in lines.iter().enumerate() {
        let last = i + 1 == lines.len();
        match serde_json::from_slice::<Record>(line) {
            Ok(record) => {
                let symbol = Symbol::new(&record.symbol).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1))?;
                out.states.insert(symbol, record.state);
                out.records += 1;
            }
            Err(_) if last && !complete => out.torn_tail = true,
            Err(e) => return Err(format!("{}:{}: damaged journal record: {e}", path.display(), i + 1)),
        }
    }
    Ok(out)
}

struct Inner {
    file: File,
    bytes: u64,
    latest: BTreeMap<Symbol, DurableSymbol>,
}

thread_local! {
    /// Each symbol thread's encoding buffer (reused: no allocation per append).
    static LINE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// The open journal, shared by every symbol actor.
pub struct Journal {
    path: PathBuf,
    fsync: bool,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("path", &self.path).field("fsync", &self.fsync).finish()
    }
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Journal {
    /// Opens the journal at `path`, compacted to `states` (what was restored).
    pub fn open(path: &Path, states: &BTreeMap<Symbol, DurableSymbol>, fsync: bool) -> Result<Journal, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        let (file, bytes) = write_compacted(path, states)?;
        let inner = Inner { file, bytes, latest: states.clone() };
        Ok(Journal { path: path.to_path_buf(), fsync, inner: Mutex::new(inner) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one symbol's state (one `write` call). On success the record survives the
    /// process dying (and, with fsync, the machine).
    pub fn append(&self, symbol: Symbol, state: &DurableSymbol) -> Result<(), String> {
        // Encoded before the lock is taken: only the write itself is serialized.
        let line = LINE.with(|buffer| {
            let mut line = buffer.take();
            line.clear();
            serde_json::to_writer(&mut line, &RecordOut { symbol: symbol.as_str(), state })
                .map_err(|e| e.to_string())?;
            line.push(b'\n');
            Ok::<Vec<u8>, String>(line)
        })?;
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let written = inner.file.write_all(&line).map_err(|e| format!("{}: {e}", self.path.display()));
        let length = line.len() as u64;
        LINE.with(|buffer| buffer.replace(line));
        if written.is_err() {
            // A partial write (a full disk) must not leave a fragment for the next record
            // to be appended to: cut the file back to its last whole record.
            let _ = inner.file.set_len(inner.bytes);
        }
        written?;
        if self.fsync {
            inner.file.sync_data().map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        inner.bytes += length;
        inner.latest.insert(symbol, *state);
        if inner.bytes > COMPACT_AT_BYTES {
            let (file, bytes) = write_compacted(&self.path, &inner.latest)?;
            inner.file = file;
            inner.bytes = bytes;
        }
        Ok(())
    }
}

/// Writes one line per symbol to a temporary file, syncs it, renames it over `path`, and
/// returns it opened for appending.
fn write_compacted(path: &Path, states: &BTreeMap<Symbol, DurableSymbol>) -> Result<(File, u64), String> {
    let tmp = path.with_extension("wal.tmp");
    let mut text = Vec::new();
    for (symbol, state) in states {
        serde_json::to_writer(&mut text, &RecordOut { symbol: symbol.as_str(), state }).map_err(|e| e.to_string())?;
        text.push(b'\n');
    }
    let mut file = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    file.write_all(&text).map_err(|e| format!("{}: {e}", tmp.display()))?;
    file.sync_all().map_err(|e| format!("{}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = OpenOptions::new().append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((file, text.len() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::book::Position;
    use engine::Direction;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("journal-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }
    fn long(qty: &str, cost: &str) -> DurableSymbol {
        DurableSymbol {
            position: Some(Position {
                direction: Direction::Long,
                qty: qty.parse().unwrap(),
                cost: cost.parse().unwrap(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_last_record_per_symbol_wins_and_a_reopen_compacts() {
        let d = dir("last");
        let path = d.join("state.wal");
        let (btc, eth) = (Symbol::new("BTCUSD.s").unwrap(), Symbol::new("ETHUSD.s").unwrap());
        let j = Journal::open(&path, &BTreeMap::new(), false).unwrap();
        j.append(btc, &long("1", "100")).unwrap();
        j.append(eth, &long("2", "50")).unwrap();
        j.append(btc, &long("3", "300.5")).unwrap();
        drop(j);
        let r = replay(&path).unwrap();
        assert_eq!(r.records, 3);
        assert_eq!(r.states.get(&btc), Some(&long("3", "300.5")));
        assert_eq!(r.states.get(&eth), Some(&long("2", "50")));
        let j = Journal::open(&path, &r.states, false).unwrap();
        drop(j);
        assert_eq!(replay(&path).unwrap().records, 2, "compacted to one line per symbol");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_torn_tail_is_skipped_and_damage_before_it_is_refused() {
        let d = dir("torn");
        let path = d.join("state.wal");
        let btc = Symbol::new("BTCUSD.s").unwrap();
        let j = Journal::open(&path, &BTreeMap::new(), true).unwrap();
        j.append(btc, &long("1", "100")).unwrap();
        drop(j);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(br#"{"symbol":"BTCUSD.s","sta"#);
        std::fs::write(&path, &text).unwrap();
        let r = replay(&path).unwrap();
        assert!(r.torn_tail);
        assert_eq!(r.states.get(&btc), Some(&long("1", "100")));
        text.extend_from_slice(b"\n{\"symbol\":\"BTCUSD.s\"}\n");
        std::fs::write(&path, &text).unwrap();
        assert!(replay(&path).unwrap_err().contains("state.wal:2"));
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn it_compacts_when_it_grows_past_the_limit() {
        let d = dir("grow");
        let path = d.join("state.wal");
        let btc = Symbol::new("BTCUSD.s").unwrap();
        let j = Journal::open(&path, &BTreeMap::new(), false).unwrap();
        let state = long("1", "100");
        let line = serde_json::to_vec(&RecordOut { symbol: btc.as_str(), state: &state }).unwrap().len() as u64 + 1;
        for _ in 0..(COMPACT_AT_BYTES / line + 2) {
            j.append(btc, &state).unwrap();
        }
        assert!(std::fs::metadata(&path).unwrap().len() < COMPACT_AT_BYTES);
        assert_eq!(replay(&path).unwrap().states.get(&btc), Some(&state));
        let _ = std::fs::remove_dir_all(d);
    }
}

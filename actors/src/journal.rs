//! `Journal`: the write-ahead journal of every symbol's durable state (position with cost
//! basis, cooldowns, the order on the wire). A symbol actor adds a record to its shard's
//! batch ([`ShardJournal`]) in the same step that changed that state; the shard's bridge
//! writes the batch before it sends any order, so a booked fill is in the file before the
//! symbol's next order leaves, and an order is in the file before it reaches the gateway.
//! A `kill -9` then loses nothing: the restarted engine replays the journal (last record
//! per symbol wins) and asks the gateway about the order that was on the wire.
//!
//! Format: one JSON object per line, `{"symbol":"BTCUSD.s","state":{...}}`. A torn last
//! line (the process died mid-write) is skipped with a warning; a damaged line before the
//! last is an error that names the line. The journal is compacted (one line per symbol,
//! written to a temporary file and renamed) at open and whenever it grows past
//! [`COMPACT_AT_BYTES`]. Each batch is one `write` call, which survives the process dying;
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

/// The open journal, shared by every shard (each through its [`ShardJournal`]).
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

    /// Appends one symbol's state (one `write` call): the journal's tests write through it;
    /// the engine writes through each shard's [`ShardJournal`].
    #[cfg(test)]
    fn append(&self, symbol: Symbol, state: &DurableSymbol) -> Result<(), String> {
        let mut line = Vec::new();
        encode(&mut line, symbol, state)?;
        self.write_batch(&line, &[(symbol, *state)])
    }

    /// Writes whole encoded records (one `write` call for all of them), then notes their
    /// states; compacts if the file grew past [`COMPACT_AT_BYTES`].
    fn write_batch(&self, bytes: &[u8], states: &[(Symbol, DurableSymbol)]) -> Result<(), String> {
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        if let Err(e) = inner.file.write_all(bytes) {
            // A partial write (a full disk) must not leave a fragment for the next record
            // to be appended to: cut the file back to its last whole record.
            let _ = inner.file.set_len(inner.bytes);
            return Err(format!("{}: {e}", self.path.display()));
        }
        if self.fsync {
            inner.file.sync_data().map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        inner.bytes += bytes.len() as u64;
        for (symbol, state) in states {
            inner.latest.insert(*symbol, *state);
        }
        if inner.bytes > COMPACT_AT_BYTES {
            let (file, bytes) = write_compacted(&self.path, &inner.latest)?;
            inner.file = file;
            inner.bytes = bytes;
        }
        Ok(())
    }
}

/// One record, as a line.
fn encode(out: &mut Vec<u8>, symbol: Symbol, state: &DurableSymbol) -> Result<(), String> {
    serde_json::to_writer(&mut *out, &RecordOut { symbol: symbol.as_str(), state }).map_err(|e| e.to_string())?;
    out.push(b'\n');
    Ok(())
}

/// One shard's front to the journal: its symbols' records are collected on the shard's
/// thread and written together (group commit), so a burst of fills costs one `write`
/// instead of one per fill. The rule that makes a crash safe still holds, enforced where
/// orders leave: the shard's bridge calls [`ShardJournal::flush`] before it sends an order,
/// so every record made before an order is written before the order reaches the gateway.
/// Records not followed by an order are written within [`GROUP_COMMIT_WITHIN`].
#[derive(Debug)]
pub struct ShardJournal {
    journal: std::sync::Arc<Journal>,
    pending: Mutex<Pending>,
    /// A timed flush is already arranged (at most one at a time, whatever the batches).
    flush_armed: std::sync::atomic::AtomicBool,
}

#[derive(Debug, Default)]
struct Pending {
    bytes: Vec<u8>,
    states: Vec<(Symbol, DurableSymbol)>,
}

/// The longest a record waits for an order to carry it to disk.
pub const GROUP_COMMIT_WITHIN: std::time::Duration = std::time::Duration::from_millis(1);

impl ShardJournal {
    pub fn new(journal: std::sync::Arc<Journal>) -> ShardJournal {
        ShardJournal {
            journal,
            pending: Mutex::new(Pending::default()),
            flush_armed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Adds one record to the shard's batch (no system call). True when the caller must
    /// arrange a flush within [`GROUP_COMMIT_WITHIN`] and then call [`Self::timed_flush`]:
    /// no timed flush is armed yet. One armed flush covers every batch until it runs (a
    /// batch that an order's flush already wrote leaves it nothing to do), so a shard
    /// arms at most one timer per [`GROUP_COMMIT_WITHIN`], not one per order.
    pub fn append(&self, symbol: Symbol, state: &DurableSymbol) -> Result<bool, String> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let before = pending.bytes.len();
        if let Err(e) = encode(&mut pending.bytes, symbol, state) {
            pending.bytes.truncate(before);
            return Err(e);
        }
        pending.states.push((symbol, *state));
        Ok(!self.flush_armed.swap(true, std::sync::atomic::Ordering::AcqRel))
    }

    /// The armed flush: disarms (a record appended from now on arms the next one), then
    /// writes what is pending.
    pub fn timed_flush(&self) -> Result<(), String> {
        self.flush_armed.store(false, std::sync::atomic::Ordering::Release);
        self.flush()
    }

    /// Writes the batch (one `write` call). On failure the batch is kept, to be written by
    /// the next flush.
    pub fn flush(&self) -> Result<(), String> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.states.is_empty() {
            return Ok(());
        }
        self.journal.write_batch(&pending.bytes, &pending.states)?;
        pending.bytes.clear();
        pending.states.clear();
        Ok(())
    }

    pub fn path(&self) -> &Path {
        self.journal.path()
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
    fn a_shard_batch_reaches_the_file_only_when_flushed_and_in_order() {
        let d = dir("batch");
        let path = d.join("state.wal");
        let btc = Symbol::new("BTCUSD.s").unwrap();
        let journal = std::sync::Arc::new(Journal::open(&path, &BTreeMap::new(), false).unwrap());
        let shard = ShardJournal::new(std::sync::Arc::clone(&journal));
        assert!(shard.append(btc, &long("1", "100")).unwrap(), "the first record arms a timed flush");
        assert!(!shard.append(btc, &long("2", "200")).unwrap(), "one armed flush covers the batch");
        assert_eq!(replay(&path).unwrap().records, 0, "nothing written before the flush");
        shard.flush().unwrap();
        let r = replay(&path).unwrap();
        assert_eq!(r.records, 2);
        assert_eq!(r.states.get(&btc), Some(&long("2", "200")), "the later record wins");
        shard.flush().unwrap();
        assert_eq!(replay(&path).unwrap().records, 2, "an empty flush writes nothing");
        assert!(!shard.append(btc, &long("3", "300")).unwrap(), "an order's flush leaves the timer armed");
        shard.timed_flush().unwrap();
        assert_eq!(replay(&path).unwrap().records, 3, "the armed flush wrote the record after it");
        assert!(shard.append(btc, &long("4", "400")).unwrap(), "after the timed flush, the next record arms one");
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

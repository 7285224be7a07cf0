//! The gateway's journal: one JSON line per stored order (with its reports) and per intent
//! answered `unknown_order`. Replayed at start, so a restarted gateway answers status
//! queries truthfully and its ledger continues.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use protocol::IntentId;
use serde::{Deserialize, Serialize};

use crate::venue::OrderRecord;

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Entry {
    Order(OrderRecord),
    Unknown { intent_id: IntentId },
}

/// What a journal held.
#[derive(Default)]
pub struct Replayed {
    pub records: Vec<OrderRecord>,
    pub dead: Vec<IntentId>,
    /// Lines that could not be read (a torn last write); skipped.
    pub skipped: usize,
}

pub struct Journal {
    path: PathBuf,
    out: BufWriter<File>,
}

impl Journal {
    /// Opens (creating) the journal and returns what it already holds.
    pub fn open(path: &Path) -> std::io::Result<(Journal, Replayed)> {
        let mut replayed = Replayed::default();
        if path.exists() {
            for line in BufReader::new(File::open(path)?).lines() {
                match serde_json::from_str::<Entry>(&line?) {
                    Ok(Entry::Order(record)) => replayed.records.push(record),
                    Ok(Entry::Unknown { intent_id }) => replayed.dead.push(intent_id),
                    Err(_) => replayed.skipped += 1,
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok((Journal { path: path.to_path_buf(), out: BufWriter::new(file) }, replayed))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn record_order(&mut self, record: &OrderRecord) -> std::io::Result<()> {
        self.write(&Entry::Order(record.clone()))
    }

    pub fn record_unknown(&mut self, intent_id: IntentId) -> std::io::Result<()> {
        self.write(&Entry::Unknown { intent_id })
    }

    fn write(&mut self, entry: &Entry) -> std::io::Result<()> {
        serde_json::to_writer(&mut self.out, entry)?;
        self.out.write_all(b"\n")
    }

    /// Flushes buffered lines to the OS (called once per loop turn, before replies go out).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

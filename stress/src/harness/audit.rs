//! The stress harness's own reading of `engine.jsonl`: lock pairing, per-symbol overlaps,
//! the access counter, hold times and EFSM errors, counted from the log the engine wrote
//! (not from the bridge's counters). `scripts/audit_locks.py` checks the same file
//! independently, in another language.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LockAudit {
    pub acquire: u64,
    pub release: u64,
    pub orphans: u64,
    pub unmatched_releases: u64,
    pub overlaps: u64,
    pub access_violations: u64,
    pub max_held_us: u64,
    pub efsm_errors: u64,
    pub error_lines: u64,
    pub unparseable_lines: u64,
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

impl LockAudit {
    pub fn balanced(&self) -> bool {
        self.acquire == self.release
            && self.orphans == 0
            && self.unmatched_releases == 0
            && self.overlaps == 0
            && self.access_violations == 0
    }
}

/// Reads the log line by line (memory: one entry per open lock).
pub fn audit(path: &Path) -> std::io::Result<LockAudit> {
    let mut a = LockAudit::default();
    let mut open: HashMap<u64, String> = HashMap::new();
    let mut held_by_symbol: HashMap<String, u64> = HashMap::new();
    // `access` increases per shard (a symbol's lock events all come from its shard).
    let mut last_access: HashMap<u64, u64> = HashMap::new();
    for line in BufReader::new(std::fs::File::open(path)?).lines() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
            a.unparseable_lines += 1;
            continue;
        };
        let message = v["message"].as_str().unwrap_or_default();
        if v["level"] == "ERROR" {
            if message == "EFSM_ERROR" {
                a.efsm_errors += 1;
            } else {
                a.error_lines += 1;
            }
        }
        if message != "ZMQ_LOCK_ACQUIRE" && message != "ZMQ_LOCK_RELEASE" {
            continue;
        }
        let (Some(lock_id), Some(symbol), access) =
            (v["lock_id"].as_u64(), v["symbol"].as_str(), v["access"].as_u64().unwrap_or(0))
        else {
            a.unparseable_lines += 1;
            continue;
        };
        let last = last_access.entry(v["shard"].as_u64().unwrap_or(0)).or_insert(0);
        if access <= *last {
            a.access_violations += 1;
        }
        *last = access;
        if message == "ZMQ_LOCK_ACQUIRE" {
            a.acquire += 1;
            if held_by_symbol.insert(symbol.to_string(), lock_id).is_some() {
                a.overlaps += 1;
            }
            open.insert(lock_id, symbol.to_string());
        } else {
            a.release += 1;
            match open.remove(&lock_id) {
                Some(sym) => {
                    if held_by_symbol.get(&sym) == Some(&lock_id) {
                        held_by_symbol.remove(&sym);
                    }
                }
                None => a.unmatched_releases += 1,
            }
            a.max_held_us = a.max_held_us.max(v["held_us"].as_u64().unwrap_or(0));
            *a.outcomes.entry(v["outcome"].as_str().unwrap_or("?").to_string()).or_default() += 1;
        }
    }
    a.orphans = open.len() as u64;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> LockAudit {
        // Tests run in parallel in one process: each call gets its own file.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("audit-{}-{n}.jsonl", std::process::id()));
        std::fs::write(&path, lines.join("\n")).unwrap();
        let a = audit(&path).unwrap();
        let _ = std::fs::remove_file(path);
        a
    }

    const A1: &str = r#"{"level":"INFO","message":"ZMQ_LOCK_ACQUIRE","symbol":"A","lock_id":1,"access":1}"#;
    const R1: &str = r#"{"level":"INFO","message":"ZMQ_LOCK_RELEASE","symbol":"A","lock_id":1,"access":2,"outcome":"filled","held_us":5}"#;
    const A2: &str = r#"{"level":"INFO","message":"ZMQ_LOCK_ACQUIRE","symbol":"A","lock_id":2,"access":3}"#;

    #[test]
    fn verdicts() {
        assert!(run(&[A1, R1]).balanced());
        let orphan = run(&[A1]);
        assert_eq!((orphan.orphans, orphan.balanced()), (1, false));
        assert_eq!(run(&[A1, A2]).overlaps, 1);
        assert_eq!(run(&[R1]).unmatched_releases, 1);
        assert_eq!(run(&[A1, R1, R1]).unmatched_releases, 1);
        assert_eq!(run(&[A2, A1]).access_violations, 1, "access went back");
        let e = run(&[A1, R1, r#"{"level":"ERROR","message":"EFSM_ERROR"}"#, "not json"]);
        assert_eq!((e.efsm_errors, e.unparseable_lines, e.max_held_us), (1, 1, 5));
    }

    #[test]
    fn access_counts_per_shard() {
        let s1a = r#"{"level":"INFO","message":"ZMQ_LOCK_ACQUIRE","symbol":"B","lock_id":3,"access":1,"shard":1}"#;
        let s1r = r#"{"level":"INFO","message":"ZMQ_LOCK_RELEASE","symbol":"B","lock_id":3,"access":2,"shard":1,"outcome":"filled","held_us":5}"#;
        let a = run(&[A1, s1a, R1, s1r]);
        assert!(a.balanced(), "two shards interleaved, each in order: {a:?}");
        let back = r#"{"level":"INFO","message":"ZMQ_LOCK_RELEASE","symbol":"B","lock_id":3,"access":1,"shard":1,"outcome":"filled","held_us":5}"#;
        assert_eq!(run(&[s1a, A1, back]).access_violations, 1, "shard 1 went back");
    }
}

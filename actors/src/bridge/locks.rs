//! The per-symbol lock table of the bridge: at most one request per symbol on the wire.
//!
//! Every acquire logs `ZMQ_LOCK_ACQUIRE` and every release logs exactly one matching
//! `ZMQ_LOCK_RELEASE` (fields per docs/LOG_FORMAT.md). A lock leaves the table only through
//! a release, and every release path (terminal report, timeout, send failure, session
//! reject, shutdown) goes through [`LockTable::release`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use protocol::{IntentId, Symbol};
use tracing::info;

use crate::time::mono_us;

/// What the request on the wire is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    Order,
    StatusQuery,
}

impl RequestKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestKind::Order => "order",
            RequestKind::StatusQuery => "status_query",
        }
    }
}

/// How a lock ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Filled,
    PartiallyFilled,
    Rejected,
    Canceled,
    Expired,
    Timeout,
    GatewayDown,
    /// A status query whose answer the symbol no longer needs (a late report resolved the
    /// order first), released so that the symbol's next order can go out.
    Superseded,
}

impl Outcome {
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Filled => "filled",
            Outcome::PartiallyFilled => "partially_filled",
            Outcome::Rejected => "rejected",
            Outcome::Canceled => "canceled",
            Outcome::Expired => "expired",
            Outcome::Timeout => "timeout",
            Outcome::GatewayDown => "gateway_down",
            Outcome::Superseded => "superseded",
        }
    }
}

/// A held lock.
#[derive(Clone, Copy, Debug)]
pub struct HeldLock {
    pub lock_id: u64,
    pub symbol: Symbol,
    pub intent_id: IntentId,
    pub kind: RequestKind,
    pub acquired_at: Instant,
    pub deadline: Instant,
    /// Sequence number of the frame that carried the request.
    pub seq: u64,
}

/// The symbol already holds a lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockBusy {
    pub held_by: IntentId,
}

/// Locks by symbol for one shard. Lock ids are unique in the run (shard `s` of `n` hands
/// out `s + n`, `s + 2n`, ...); the access counter counts this shard's lock events, so it
/// strictly increases per shard in file order (a symbol's events all come from its shard).
#[derive(Debug)]
pub struct LockTable {
    by_symbol: HashMap<Symbol, HeldLock>,
    by_intent: HashMap<IntentId, Symbol>,
    next_lock_id: u64,
    /// Shard number and shard count, for run-unique lock ids.
    shard: u64,
    shards: u64,
    access: u64,
    timeout: Duration,
    acquired: u64,
    released: u64,
}

impl LockTable {
    /// The table of a lone bridge (shard 0 of 1).
    pub fn new(timeout: Duration) -> LockTable {
        LockTable::for_shard(timeout, 0, 1)
    }

    /// The table of shard `shard` (0-based) of `shards`.
    pub fn for_shard(timeout: Duration, shard: usize, shards: usize) -> LockTable {
        let shards = shards.max(1) as u64;
        let shard = (shard as u64).min(shards - 1);
        LockTable {
            by_symbol: HashMap::new(),
            by_intent: HashMap::new(),
            next_lock_id: shards + shard,
            shard,
            shards,
            access: 0,
            timeout,
            acquired: 0,
            released: 0,
        }
    }

    /// The shard this table serves.
    pub fn shard(&self) -> usize {
        usize::try_from(self.shard).unwrap_or(0)
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
    pub fn held(&self) -> usize {
        self.by_symbol.len()
    }
    pub fn acquired(&self) -> u64 {
        self.acquired
    }
    pub fn released(&self) -> u64 {
        self.released
    }
    pub fn holder(&self, symbol: &Symbol) -> Option<&HeldLock> {
        self.by_symbol.get(symbol)
    }
    pub fn by_intent(&self, intent: IntentId) -> Option<&HeldLock> {
        self.by_intent.get(&intent).and_then(|s| self.by_symbol.get(s))
    }

    /// The lock taken by the frame with this sequence number, if still held.
    pub fn by_seq(&self, seq: u64) -> Option<&HeldLock> {
        self.by_symbol.values().find(|l| l.seq == seq)
    }

    /// Takes the symbol's lock for a request, or says who holds it.
    pub fn acquire(
        &mut self,
        symbol: Symbol,
        intent_id: IntentId,
        kind: RequestKind,
        seq: u64,
        now: Instant,
    ) -> Result<HeldLock, LockBusy> {
        if let Some(held) = self.by_symbol.get(&symbol) {
            return Err(LockBusy { held_by: held.intent_id });
        }
        let lock = HeldLock {
            lock_id: self.next_lock_id,
            symbol,
            intent_id,
            kind,
            acquired_at: now,
            deadline: now + self.timeout,
            seq,
        };
        self.next_lock_id += self.shards;
        self.access += 1;
        self.acquired += 1;
        self.by_symbol.insert(symbol, lock);
        self.by_intent.insert(intent_id, symbol);
        info!(
            target: "locks",
            symbol = %symbol,
            lock_id = lock.lock_id,
            access = self.access,
            shard = self.shard,
            intent_id = intent_id.0,
            kind = kind.as_str(),
            deadline_us = u64::try_from(self.timeout.as_micros()).unwrap_or(u64::MAX),
            mono_us = mono_us(),
            "ZMQ_LOCK_ACQUIRE"
        );
        Ok(lock)
    }

    /// Releases the lock held for `intent_id`, if any, logging the release once.
    pub fn release(&mut self, intent_id: IntentId, outcome: Outcome, now: Instant) -> Option<HeldLock> {
        let symbol = self.by_intent.remove(&intent_id)?;
        let lock = self.by_symbol.remove(&symbol)?;
        self.access += 1;
        self.released += 1;
        info!(
            target: "locks",
            symbol = %symbol,
            lock_id = lock.lock_id,
            access = self.access,
            shard = self.shard,
            intent_id = intent_id.0,
            kind = lock.kind.as_str(),
            outcome = outcome.as_str(),
            held_us = u64::try_from(now.saturating_duration_since(lock.acquired_at).as_micros()).unwrap_or(u64::MAX),
            mono_us = mono_us(),
            "ZMQ_LOCK_RELEASE"
        );
        Some(lock)
    }

    /// Intents whose deadline has passed (release them with outcome `timeout`).
    pub fn expired(&self, now: Instant) -> Vec<IntentId> {
        self.by_symbol.values().filter(|l| l.deadline <= now).map(|l| l.intent_id).collect()
    }

    /// Every held intent (shutdown or a dead gateway).
    pub fn all_held(&self) -> Vec<IntentId> {
        self.by_symbol.values().map(|l| l.intent_id).collect()
    }
}

// Keep the `PartialEq` needed by the test on `Result<HeldLock, LockBusy>`.
impl PartialEq for HeldLock {
    fn eq(&self, other: &Self) -> bool {
        self.lock_id == other.lock_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str) -> Symbol {
        Symbol::new(s).unwrap()
    }

    #[test]
    fn one_lock_per_symbol_and_every_path_releases_once() {
        let mut t = LockTable::new(Duration::from_millis(100));
        let now = Instant::now();
        let a = t.acquire(sym("A"), IntentId(1), RequestKind::Order, 1, now).unwrap();
        assert_eq!(
            t.acquire(sym("A"), IntentId(2), RequestKind::Order, 2, now),
            Err(LockBusy { held_by: IntentId(1) })
        );
        let b = t.acquire(sym("B"), IntentId(3), RequestKind::StatusQuery, 3, now).unwrap();
        assert_ne!(a.lock_id, b.lock_id);
        assert!(t.release(IntentId(1), Outcome::Filled, now).is_some());
        assert!(t.release(IntentId(1), Outcome::Filled, now).is_none(), "never released twice");
        assert!(t.expired(now + Duration::from_millis(99)).is_empty());
        assert_eq!(t.expired(now + Duration::from_millis(100)), vec![IntentId(3)]);
        assert!(t.release(IntentId(3), Outcome::Timeout, now).is_some());
        t.acquire(sym("A"), IntentId(4), RequestKind::Order, 4, now).unwrap();
        assert_eq!(t.all_held(), vec![IntentId(4)]);
        assert!(t.release(IntentId(4), Outcome::GatewayDown, now).is_some());
        assert_eq!(t.held(), 0);
        assert_eq!(t.acquired(), t.released());
    }
}

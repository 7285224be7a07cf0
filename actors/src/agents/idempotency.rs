//! One agent's recent intents by `intent_id`: a repeat with the same body gets the original
//! answer (waiting for it if it is still being decided), a repeat with another body is a
//! mismatch. An id cancelled before it was seen is a tombstone: its first submit is answered
//! `cancelled` (and kept). Bounded: the oldest ids are forgotten first (docs/AGENTS.md,
//! "Idempotency").

use std::collections::{HashMap, VecDeque};

use serde_json::{Map, Value};

use super::wire::{ClientIntentId, IntentAnswer};

/// Intent ids remembered per agent.
pub const REMEMBERED_PER_AGENT: usize = 4_096;

type Body = Map<String, Value>;

enum Entry<W> {
    /// Being decided: who else is waiting for the answer.
    Pending {
        body: Body,
        waiters: Vec<W>,
    },
    Done {
        body: Body,
        answer: IntentAnswer,
    },
    /// Cancelled before any submit: the first submit (any body) is answered `cancelled`.
    Tombstone,
}

impl<W> Entry<W> {
    fn body(&self) -> Option<&Body> {
        match self {
            Entry::Pending { body, .. } | Entry::Done { body, .. } => Some(body),
            Entry::Tombstone => None,
        }
    }
}

/// What the log holds for an id (for `cancel_intent`).
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    Unknown,
    Tombstone,
    Pending,
    Done(&'a IntentAnswer),
}

/// What a new request for an id finds.
#[derive(Debug, PartialEq, Eq)]
pub enum Begin {
    /// Never seen (or forgotten): decide it, then [`IntentLog::finish`].
    New,
    /// Decided before with this body: the original answer.
    Answered(IntentAnswer),
    /// Still being decided: the waiter gets the answer when it is known.
    Waiting,
    /// Seen with another body.
    Mismatch,
    /// Cancelled before it was seen: refuse it `cancelled` and [`IntentLog::finish`] it.
    Cancelled,
}

/// The intents of one agent, newest last.
pub struct IntentLog<W> {
    capacity: usize,
    order: VecDeque<ClientIntentId>,
    entries: HashMap<ClientIntentId, Entry<W>>,
}

impl<W> IntentLog<W> {
    pub fn new(capacity: usize) -> IntentLog<W> {
        IntentLog { capacity: capacity.max(1), order: VecDeque::new(), entries: HashMap::new() }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Looks `id` up; a new id is remembered as pending (`waiter` is not kept), a pending
    /// one keeps `waiter` for its answer.
    pub fn begin(&mut self, id: &ClientIntentId, body: &Body, waiter: W) -> Begin {
        match self.entries.get_mut(id) {
            Some(entry @ Entry::Tombstone) => {
                *entry = Entry::Pending { body: body.clone(), waiters: Vec::new() };
                Begin::Cancelled
            }
            Some(entry) if entry.body() != Some(body) => Begin::Mismatch,
            Some(Entry::Done { answer, .. }) => Begin::Answered(answer.clone()),
            Some(Entry::Pending { waiters, .. }) => {
                waiters.push(waiter);
                Begin::Waiting
            }
            None => {
                self.remember(id, Entry::Pending { body: body.clone(), waiters: Vec::new() });
                Begin::New
            }
        }
    }

    /// The kept answer of a decided id (`None`: unknown, forgotten or still pending).
    pub fn answered(&self, id: &ClientIntentId) -> Option<&IntentAnswer> {
        match self.entries.get(id) {
            Some(Entry::Done { answer, .. }) => Some(answer),
            _ => None,
        }
    }

    /// Adds a new id, forgetting the oldest beyond the bound.
    fn remember(&mut self, id: &ClientIntentId, entry: Entry<W>) {
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
        self.order.push_back(id.clone());
        self.entries.insert(id.clone(), entry);
    }

    /// The body of a known id (not of a tombstone).
    pub fn body(&self, id: &ClientIntentId) -> Option<&Body> {
        self.entries.get(id).and_then(Entry::body)
    }

    /// What the log holds for `id`.
    pub fn lookup(&self, id: &ClientIntentId) -> Lookup<'_> {
        match self.entries.get(id) {
            None => Lookup::Unknown,
            Some(Entry::Tombstone) => Lookup::Tombstone,
            Some(Entry::Pending { .. }) => Lookup::Pending,
            Some(Entry::Done { answer, .. }) => Lookup::Done(answer),
        }
    }

    /// Records a tombstone for an id never seen (no-op for a known id).
    pub fn tombstone(&mut self, id: &ClientIntentId) {
        if !self.entries.contains_key(id) {
            self.remember(id, Entry::Tombstone);
        }
    }

    /// Restores a decided answer (reloaded from the durable answer log at start).
    pub fn restore(&mut self, id: &ClientIntentId, body: Body, answer: IntentAnswer) {
        self.order.retain(|o| o != id);
        self.remember(id, Entry::Done { body, answer });
    }

    /// Restores a tombstone (reloaded from the durable answer log at start).
    pub fn restore_tombstone(&mut self, id: &ClientIntentId) {
        self.order.retain(|o| o != id);
        self.remember(id, Entry::Tombstone);
    }

    /// Records the answer of a pending id; returns the waiters to give it to.
    pub fn finish(&mut self, id: &ClientIntentId, answer: &IntentAnswer) -> Vec<W> {
        match self.entries.remove(id) {
            Some(Entry::Pending { body, waiters }) => {
                self.entries.insert(id.clone(), Entry::Done { body, answer: answer.clone() });
                waiters
            }
            Some(other) => {
                self.entries.insert(id.clone(), other);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Forgets a pending id without an answer to keep (a refusal that says nothing about
    /// the decision, such as `rate_limited`): a later retry is decided afresh.
    pub fn forget(&mut self, id: &ClientIntentId) -> Vec<W> {
        self.order.retain(|o| o != id);
        match self.entries.remove(id) {
            Some(Entry::Pending { waiters, .. }) => waiters,
            _ => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::wire::{FrameRefusal, Reason};
    use serde_json::json;

    fn id(s: &str) -> ClientIntentId {
        ClientIntentId::new(s).unwrap()
    }
    fn body(qty: &str) -> Body {
        json!({"symbol": "ETHUSD.s", "qty": qty}).as_object().unwrap().clone()
    }

    #[test]
    fn a_repeat_gets_the_original_answer_and_another_body_is_a_mismatch() {
        let mut log: IntentLog<u32> = IntentLog::new(8);
        assert_eq!(log.begin(&id("a"), &body("1"), 0), Begin::New);
        // A retry while it is decided waits for the same answer.
        assert_eq!(log.begin(&id("a"), &body("1"), 7), Begin::Waiting);
        assert_eq!(log.begin(&id("a"), &body("2"), 8), Begin::Mismatch);
        let answer = IntentAnswer::accepted(&id("a"), protocol::IntentId(42));
        assert_eq!(log.finish(&id("a"), &answer), vec![7]);
        assert_eq!(log.begin(&id("a"), &body("1"), 0), Begin::Answered(answer.clone()));
        assert_eq!(log.begin(&id("a"), &body("2"), 0), Begin::Mismatch);
        // A second finish changes nothing (the first answer stands).
        let other = IntentAnswer::refused(Some(&id("a")), Reason::Frame(FrameRefusal::Busy), "");
        assert!(log.finish(&id("a"), &other).is_empty());
        assert_eq!(log.begin(&id("a"), &body("1"), 0), Begin::Answered(answer));
    }

    #[test]
    fn the_log_is_bounded_oldest_first() {
        let mut log: IntentLog<()> = IntentLog::new(3);
        for n in 0..5 {
            let key = id(&format!("i{n}"));
            assert_eq!(log.begin(&key, &body("1"), ()), Begin::New);
            log.finish(&key, &IntentAnswer::accepted(&key, protocol::IntentId(n)));
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.begin(&id("i0"), &body("1"), ()), Begin::New, "forgotten");
        assert!(matches!(log.begin(&id("i4"), &body("1"), ()), Begin::Answered(_)));
    }

    #[test]
    fn a_tombstone_answers_the_first_submit_cancelled_and_keeps_it() {
        let mut log: IntentLog<u8> = IntentLog::new(4);
        log.tombstone(&id("t"));
        assert_eq!(log.lookup(&id("t")), Lookup::Tombstone);
        assert_eq!(log.begin(&id("t"), &body("1"), 0), Begin::Cancelled);
        let cancelled = IntentAnswer::refused(Some(&id("t")), Reason::Frame(FrameRefusal::Cancelled), "");
        log.finish(&id("t"), &cancelled);
        assert_eq!(log.begin(&id("t"), &body("1"), 0), Begin::Answered(cancelled.clone()));
        assert_eq!(log.begin(&id("t"), &body("2"), 0), Begin::Mismatch);
        // A tombstone on a known id changes nothing.
        log.tombstone(&id("t"));
        assert_eq!(log.lookup(&id("t")), Lookup::Done(&cancelled));
        assert_eq!(log.lookup(&id("nope")), Lookup::Unknown);
        assert_eq!(log.begin(&id("p"), &body("1"), 0), Begin::New);
        assert_eq!(log.lookup(&id("p")), Lookup::Pending);
        // Tombstones count against the bound like any id.
        for n in 0..4 {
            log.tombstone(&id(&format!("x{n}")));
        }
        assert_eq!(log.len(), 4);
        assert_eq!(log.lookup(&id("t")), Lookup::Unknown, "forgotten, oldest first");
    }

    #[test]
    fn restored_answers_are_answered_like_decided_ones() {
        let mut log: IntentLog<u8> = IntentLog::new(2);
        let answer = IntentAnswer::accepted(&id("r"), protocol::IntentId(9));
        log.restore(&id("r"), body("1"), answer.clone());
        log.restore_tombstone(&id("c"));
        assert_eq!(log.begin(&id("r"), &body("1"), 0), Begin::Answered(answer));
        assert_eq!(log.begin(&id("c"), &body("1"), 0), Begin::Cancelled);
    }

    #[test]
    fn a_forgotten_pending_id_is_decided_afresh() {
        let mut log: IntentLog<u8> = IntentLog::new(4);
        assert_eq!(log.begin(&id("r"), &body("1"), 0), Begin::New);
        assert_eq!(log.begin(&id("r"), &body("1"), 1), Begin::Waiting);
        assert_eq!(log.forget(&id("r")), vec![1]);
        assert_eq!(log.begin(&id("r"), &body("1"), 0), Begin::New);
    }
}

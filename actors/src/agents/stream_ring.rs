//! The execution stream's sequencing and replay buffer: every event gets the stream-wide
//! `seq` and its topic's `topic_seq` (both from 1, no gaps) and is serialized once; the last
//! `capacity` events are kept (oldest dropped first) to answer `replay` and `query_intent`
//! (docs/AGENTS.md, "Execution stream"). Pure: no socket, no thread, no clock.

use std::collections::{HashMap, VecDeque};

use engine::agent::AgentId;
use serde::Serialize;
use serde_json::value::RawValue;

use super::stream::{StreamEvent, Topic};
use super::wire::ClientIntentId;

/// Default `agents.stream_buffer`.
pub const DEFAULT_BUFFER: usize = 65_536;
/// Smallest and largest `agents.stream_buffer`.
pub const MIN_BUFFER: usize = 1_024;
pub const MAX_BUFFER: usize = 4_194_304;
/// Most events one `replay` answer carries (and its default).
pub const MAX_REPLAY: usize = 1_000;

/// One published event, as kept.
struct Kept {
    seq: u64,
    topic: Topic,
    agent: Option<AgentId>,
    /// The client intents this event belongs to (its own, and a close's entry and exit).
    intents: [Option<ClientIntentId>; 3],
    body: Box<RawValue>,
}

/// The stream's numbering and its last events.
pub struct StreamRing {
    stream_id: String,
    capacity: usize,
    last_seq: u64,
    topic_seqs: HashMap<Topic, u64>,
    kept: VecDeque<Kept>,
}

/// What `replay` finds.
#[derive(Debug)]
pub enum Replay<'a> {
    /// `events` in seq order; `next_seq` is the seq after the last one this answer covers
    /// (continue with `after_seq = next_seq - 1`); `more` when events are left out by `max`.
    Ok { events: Vec<&'a RawValue>, next_seq: u64, more: bool },
    /// `after_seq + 1` is older than the oldest kept event: take a snapshot.
    TooOld { oldest_seq: u64 },
}

/// An event's wire form: the envelope fields, then the event's own (`event` and the rest).
#[derive(Serialize)]
struct Wire<'a> {
    stream_id: &'a str,
    seq: u64,
    topic_seq: u64,
    ts_ns: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    symbol: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    intent_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_intent_id: Option<u64>,
    #[serde(flatten)]
    kind: &'a super::stream::EventKind,
}

impl StreamRing {
    /// `capacity` is taken as at least 1.
    pub fn new(stream_id: String, capacity: usize) -> StreamRing {
        let capacity = capacity.max(1);
        StreamRing {
            stream_id,
            capacity,
            last_seq: 0,
            topic_seqs: HashMap::new(),
            kept: VecDeque::with_capacity(capacity.min(MIN_BUFFER)),
        }
    }

    pub fn stream_id(&self) -> &str {
        &self.stream_id
    }

    /// The seq of the newest event (0: none yet).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The seq of the oldest event kept (`None`: none yet).
    pub fn oldest_seq(&self) -> Option<u64> {
        self.kept.front().map(|k| k.seq)
    }

    /// Numbers `event`, serializes it and keeps it (dropping the oldest beyond capacity).
    /// Returns the topic and the body to publish. `Err`: it could not be serialized (it is
    /// then not numbered, so no gap is seen).
    pub fn push(&mut self, event: StreamEvent) -> Result<(Topic, &RawValue), serde_json::Error> {
        let seq = self.last_seq + 1;
        let topic_seq = self.topic_seqs.get(&event.topic).copied().unwrap_or(0) + 1;
        let symbol = event.symbol.map(|s| s.as_str().to_string());
        let agent = event.agent.map(|a| a.as_str().to_string());
        let wire = Wire {
            stream_id: &self.stream_id,
            seq,
            topic_seq,
            ts_ns: event.ts_ns,
            symbol: symbol.as_deref(),
            agent_id: agent.as_deref(),
            intent_id: event.intent_id.as_ref().map(ClientIntentId::as_str),
            order_intent_id: event.order_intent_id,
            kind: &event.kind,
        };
        let body = serde_json::value::to_raw_value(&wire)?;
        self.last_seq = seq;
        self.topic_seqs.insert(event.topic, topic_seq);
        while self.kept.len() >= self.capacity {
            self.kept.pop_front();
        }
        let [entry, exit] = event.kind.trade_intents();
        self.kept.push_back(Kept {
            seq,
            topic: event.topic,
            agent: event.agent,
            intents: [event.intent_id, entry, exit],
            body,
        });
        let last = self.kept.len() - 1; // just pushed: at least one
        Ok((event.topic, &self.kept[last].body))
    }

    /// Events with seq > `after_seq` (only `topics`' when given), at most `max` of them.
    pub fn replay(&self, after_seq: u64, topics: Option<&[String]>, max: usize) -> Replay<'_> {
        if let Some(oldest) = self.oldest_seq() {
            if after_seq.saturating_add(1) < oldest {
                return Replay::TooOld { oldest_seq: oldest };
            }
        }
        let wanted = |k: &Kept| topics.is_none_or(|t| t.iter().any(|name| k.topic.is(name)));
        let start = self.kept.partition_point(|k| k.seq <= after_seq);
        let mut matching = self.kept.range(start..).filter(|k| wanted(k));
        let page: Vec<&Kept> = matching.by_ref().take(max).collect();
        let more = matching.next().is_some();
        // Covered: up to the last event returned when cut, else everything kept.
        let next_seq = match page.last() {
            Some(last) if more => last.seq + 1,
            _ => self.last_seq.max(after_seq) + 1,
        };
        Replay::Ok { events: page.into_iter().map(|k| k.body.as_ref()).collect(), next_seq, more }
    }

    /// The kept events of one agent's intent (its own events, and the close of the trade it
    /// opened or closed), in seq order.
    pub fn intent_events(&self, agent: AgentId, id: &ClientIntentId) -> Vec<&RawValue> {
        self.kept
            .iter()
            .filter(|k| k.agent == Some(agent) && k.intents.iter().any(|i| i.as_ref() == Some(id)))
            .map(|k| k.body.as_ref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::stream::EventKind;
    use protocol::Symbol;
    use serde_json::Value;

    fn sym(name: &str) -> Symbol {
        Symbol::new(name).unwrap()
    }

    fn event(topic: Topic, intent: Option<&str>) -> StreamEvent {
        let symbol = match topic {
            Topic::Symbol(s) => Some(s),
            Topic::Agent(_) => None,
        };
        StreamEvent {
            topic,
            ts_ns: 7,
            symbol,
            agent: Some(AgentId::new("a1").unwrap()),
            intent_id: intent.map(|i| ClientIntentId::new(i).unwrap()),
            order_intent_id: Some(42),
            kind: EventKind::SymbolResumed,
        }
    }

    fn seqs(events: &[&RawValue]) -> Vec<(u64, u64)> {
        events
            .iter()
            .map(|e| {
                let v: Value = serde_json::from_str(e.get()).unwrap();
                (v["seq"].as_u64().unwrap(), v["topic_seq"].as_u64().unwrap())
            })
            .collect()
    }

    /// `seq` counts every event from 1; `topic_seq` counts each topic's own from 1.
    #[test]
    fn seq_is_stream_wide_and_topic_seq_per_topic() {
        let (eth, btc) = (Topic::Symbol(sym("ETHUSD.s")), Topic::Symbol(sym("BTCUSD.s")));
        let mut ring = StreamRing::new("s1".into(), 16);
        for topic in [eth, btc, eth, Topic::Agent(AgentId::new("a1").unwrap()), eth] {
            ring.push(event(topic, None)).unwrap();
        }
        let Replay::Ok { events, next_seq, more } = ring.replay(0, None, 100) else { panic!("too old") };
        assert_eq!(seqs(&events), vec![(1, 1), (2, 1), (3, 2), (4, 1), (5, 3)]);
        assert_eq!((next_seq, more), (6, false));
        let only_eth = ["ETHUSD.s".to_string()];
        let Replay::Ok { events, .. } = ring.replay(1, Some(&only_eth), 100) else { panic!("too old") };
        assert_eq!(seqs(&events), vec![(3, 2), (5, 3)]);
        let agent_topic = ["agent.a1".to_string()];
        let Replay::Ok { events, .. } = ring.replay(0, Some(&agent_topic), 100) else { panic!("too old") };
        assert_eq!(seqs(&events), vec![(4, 1)]);
    }

    /// The ring keeps the newest `capacity` events; a replay from before the oldest is
    /// `too_old`, one from exactly before it is whole.
    #[test]
    fn the_ring_is_bounded_and_too_old_is_told() {
        let eth = Topic::Symbol(sym("ETHUSD.s"));
        let mut ring = StreamRing::new("s1".into(), 4);
        for _ in 0..10 {
            ring.push(event(eth, None)).unwrap();
        }
        assert_eq!(ring.oldest_seq(), Some(7));
        assert!(matches!(ring.replay(5, None, 100), Replay::TooOld { oldest_seq: 7 }));
        assert!(matches!(ring.replay(0, None, 100), Replay::TooOld { oldest_seq: 7 }));
        let Replay::Ok { events, next_seq, more } = ring.replay(6, None, 100) else { panic!("too old") };
        assert_eq!(seqs(&events), vec![(7, 7), (8, 8), (9, 9), (10, 10)]);
        assert_eq!((next_seq, more), (11, false));
        // Nothing newer: empty, and the next seq to come.
        let Replay::Ok { events, next_seq, .. } = ring.replay(10, None, 100) else { panic!("too old") };
        assert!(events.is_empty());
        assert_eq!(next_seq, 11);
    }

    /// `max` cuts the answer: `more` is set and `next_seq` continues it gap-free.
    #[test]
    fn replay_in_pages_is_gap_free() {
        let eth = Topic::Symbol(sym("ETHUSD.s"));
        let mut ring = StreamRing::new("s1".into(), 64);
        for _ in 0..25 {
            ring.push(event(eth, None)).unwrap();
        }
        let (mut after, mut seen) = (0, Vec::new());
        loop {
            let Replay::Ok { events, next_seq, more } = ring.replay(after, None, 10) else { panic!("too old") };
            seen.extend(seqs(&events).into_iter().map(|s| s.0));
            after = next_seq - 1;
            if !more {
                break;
            }
        }
        assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    }

    /// The wire form: envelope fields, then the event; absent fields are left out.
    #[test]
    fn the_json_shape() {
        let mut ring = StreamRing::new("00ab".into(), 8);
        let (_, body) = ring.push(event(Topic::Symbol(sym("ETHUSD.s")), Some("i-1"))).unwrap();
        let v: Value = serde_json::from_str(body.get()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"stream_id": "00ab", "seq": 1, "topic_seq": 1, "ts_ns": 7, "symbol": "ETHUSD.s",
                "agent_id": "a1", "intent_id": "i-1", "order_intent_id": 42, "event": "symbol_resumed"})
        );
        let mut bare = event(Topic::Agent(AgentId::new("a1").unwrap()), None);
        bare.order_intent_id = None;
        bare.kind = EventKind::EventsLost { count: 3 };
        let (_, body) = ring.push(bare).unwrap();
        let v: Value = serde_json::from_str(body.get()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"stream_id": "00ab", "seq": 2, "topic_seq": 1, "ts_ns": 7, "agent_id": "a1",
                "event": "events_lost", "count": 3})
        );
    }

    /// An intent's events: its own and the close that names it, not another intent's.
    #[test]
    fn intent_events_are_found_by_client_id_and_agent() {
        let eth = Topic::Symbol(sym("ETHUSD.s"));
        let mut ring = StreamRing::new("s1".into(), 8);
        ring.push(event(eth, Some("i-1"))).unwrap();
        ring.push(event(eth, Some("i-2"))).unwrap();
        ring.push(event(eth, Some("i-1"))).unwrap();
        let a1 = AgentId::new("a1").unwrap();
        let id = ClientIntentId::new("i-1").unwrap();
        assert_eq!(seqs(&ring.intent_events(a1, &id)), vec![(1, 1), (3, 3)]);
        assert!(ring.intent_events(AgentId::new("a2").unwrap(), &id).is_empty());
        assert!(ring.intent_events(a1, &ClientIntentId::new("i-9").unwrap()).is_empty());
    }
}

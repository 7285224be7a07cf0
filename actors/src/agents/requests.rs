//! The intent endpoint's stream requests (docs/AGENTS.md): `replay` (events after a seq
//! from the stream's buffer, or `too_old`), `snapshot` (every symbol's authority, state and
//! position from the status board, with the stream seq it covers) and `query_intent` (one
//! intent's kept answer and its events). Authenticated like `submit_intent`; a field out of
//! range is refused `invalid_field` naming it, in the refusal shape of `intent_answer`.

use std::collections::HashMap;

use actix::prelude::*;
use crossbeam_channel::Sender;
use engine::agent::AgentId;
use protocol::Symbol;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::endpoint::{busy, ANSWER_WITHIN};
use super::router::AgentRouter;
use super::stream::SharedRing;
use super::stream_ring::{Replay, MAX_REPLAY};
use super::wire::{ClientIntentId, FrameRefusal, IntentAnswer, Reason};
use crate::status::StatusBoard;

/// The request types answered here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamRequest {
    Replay,
    Snapshot,
    QueryIntent,
}

impl StreamRequest {
    /// The request of this `type`, when it is one of these.
    pub fn named(kind: &str) -> Option<StreamRequest> {
        match kind {
            "replay" => Some(StreamRequest::Replay),
            "snapshot" => Some(StreamRequest::Snapshot),
            "query_intent" => Some(StreamRequest::QueryIntent),
            _ => None,
        }
    }

    /// The fields this request may carry besides `type`, `agent_id` and `token`.
    fn fields(self) -> &'static [&'static str] {
        match self {
            StreamRequest::Replay => &["after_seq", "topics", "max"],
            StreamRequest::Snapshot => &[],
            StreamRequest::QueryIntent => &["intent_id"],
        }
    }
}

/// router → endpoint: the kept answer of one intent (`query_intent`).
#[derive(Message)]
#[rtype(result = "()")]
pub struct LookupIntent {
    pub agent: AgentId,
    pub intent_id: ClientIntentId,
    pub reply: Sender<Option<IntentAnswer>>,
}

impl Handler<LookupIntent> for AgentRouter {
    type Result = ();
    fn handle(&mut self, msg: LookupIntent, _: &mut Context<Self>) {
        let _ = msg.reply.send(self.answered(msg.agent, &msg.intent_id));
    }
}

/// What the stream requests read.
#[derive(Clone)]
pub struct StreamRequests {
    /// This run's stream id (the session id), also when the stream is off.
    pub stream_id: String,
    /// The stream's buffer (`None`: `agents.stream = "off"`).
    pub ring: Option<SharedRing>,
    pub board: StatusBoard,
    /// The agent driving each agent-driven symbol (the others: the built-in strategy).
    pub owner: HashMap<Symbol, AgentId>,
    pub router: Recipient<LookupIntent>,
}

/// A refusal in the `intent_answer` shape, naming the field.
fn invalid(field: &str, detail: impl Into<String>) -> Box<IntentAnswer> {
    let mut answer = IntentAnswer::refused(None, Reason::Frame(FrameRefusal::InvalidField), detail);
    answer.field = Some(field.to_string());
    Box::new(answer)
}

fn encode<T: Serialize>(answer: &T) -> Vec<u8> {
    serde_json::to_vec(answer)
        .unwrap_or_else(|_| IntentAnswer::refused(None, Reason::Frame(FrameRefusal::Busy), "").encode())
}

/// The `replay` request's fields, checked.
#[derive(Debug, PartialEq, Eq)]
struct ReplayAsk {
    after_seq: u64,
    topics: Option<Vec<String>>,
    max: usize,
}

fn replay_ask(body: &Map<String, Value>) -> Result<ReplayAsk, Box<IntentAnswer>> {
    let after_seq = match body.get("after_seq") {
        Some(v) => v.as_u64().ok_or_else(|| invalid("after_seq", "must be a whole number >= 0"))?,
        None => return Err(invalid("after_seq", "is required (0: from the start)")),
    };
    let topics = match body.get("topics") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let names: Option<Vec<String>> = items.iter().map(|t| t.as_str().map(str::to_string)).collect();
            Some(names.ok_or_else(|| invalid("topics", "must be an array of topic strings"))?)
        }
        Some(_) => return Err(invalid("topics", "must be an array of topic strings")),
    };
    let max = match body.get("max") {
        None | Some(Value::Null) => MAX_REPLAY,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=1_000) => n as usize,
            _ => return Err(invalid("max", format!("must be a whole number in 1..={MAX_REPLAY}"))),
        },
    };
    Ok(ReplayAsk { after_seq, topics, max })
}

#[derive(Serialize)]
struct ReplayAnswer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    status: &'static str,
    stream_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    events: Option<Vec<&'a RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_seq: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    more: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    oldest_seq: Option<u64>,
}

/// One symbol in a `snapshot_answer`.
#[derive(Serialize)]
struct SymbolLine {
    symbol: String,
    authority: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_id: Option<String>,
    state: &'static str,
    side: &'static str,
    qty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    avg_price: Option<String>,
    realized: String,
    fees: String,
}

#[derive(Serialize)]
struct SnapshotAnswer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    stream_id: &'a str,
    seq: u64,
    symbols: Vec<SymbolLine>,
}

#[derive(Serialize)]
struct QueryAnswer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    intent_id: &'a str,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<IntentAnswer>,
    events: Vec<&'a RawValue>,
}

impl StreamRequests {
    /// Answers an authenticated request of `agent`; `body` is the whole frame.
    pub fn answer(&self, request: StreamRequest, agent: AgentId, body: &Map<String, Value>) -> Vec<u8> {
        let allowed = request.fields();
        if let Some(extra) =
            body.keys().find(|k| !matches!(k.as_str(), "type" | "agent_id" | "token") && !allowed.contains(&k.as_str()))
        {
            return invalid(extra, "is not a field of this request").encode();
        }
        match request {
            StreamRequest::Replay => match replay_ask(body) {
                Ok(ask) => self.replay(&ask),
                Err(refusal) => refusal.encode(),
            },
            StreamRequest::Snapshot => self.snapshot(),
            StreamRequest::QueryIntent => {
                match body.get("intent_id").and_then(Value::as_str).and_then(ClientIntentId::new) {
                    Some(id) => self.query_intent(agent, &id),
                    None => invalid("intent_id", "a string of 1..=64 printable ASCII characters is required").encode(),
                }
            }
        }
    }

    fn replay(&self, ask: &ReplayAsk) -> Vec<u8> {
        let Some(ring) = &self.ring else {
            let answer = ReplayAnswer {
                kind: "replay_answer",
                status: "off",
                stream_id: &self.stream_id,
                events: None,
                next_seq: None,
                more: None,
                oldest_seq: None,
            };
            return encode(&answer);
        };
        let ring = ring.lock();
        let answer = match ring.replay(ask.after_seq, ask.topics.as_deref(), ask.max) {
            Replay::Ok { events, next_seq, more } => ReplayAnswer {
                kind: "replay_answer",
                status: "ok",
                stream_id: ring.stream_id(),
                events: Some(events),
                next_seq: Some(next_seq),
                more: Some(more),
                oldest_seq: None,
            },
            Replay::TooOld { oldest_seq } => ReplayAnswer {
                kind: "replay_answer",
                status: "too_old",
                stream_id: ring.stream_id(),
                events: None,
                next_seq: None,
                more: None,
                oldest_seq: Some(oldest_seq),
            },
        };
        encode(&answer)
    }

    /// The stream seq first, then the board: every symbol publishes its status before its
    /// events, so the snapshot reflects at least every event up to `seq` (an event after it
    /// may be reflected already).
    fn snapshot(&self) -> Vec<u8> {
        let seq = self.ring.as_ref().map_or(0, |r| r.lock().last_seq());
        let symbols = self
            .board
            .snapshot()
            .into_iter()
            .map(|s| {
                let agent = self.owner.get(&s.symbol);
                let (side, qty, avg_price) = match s.position {
                    Some(p) => (p.direction.as_str(), p.qty.to_string(), p.avg_price().ok().map(|a| a.to_string())),
                    None => ("flat", protocol::Qty::ZERO.to_string(), None),
                };
                SymbolLine {
                    symbol: s.symbol.as_str().to_string(),
                    authority: if agent.is_some() { "agent" } else { "strategy" },
                    agent_id: agent.map(|a| a.as_str().to_string()),
                    state: s.state,
                    side,
                    qty,
                    avg_price,
                    realized: s.realized.to_string(),
                    fees: s.fees.to_string(),
                }
            })
            .collect();
        encode(&SnapshotAnswer { kind: "snapshot_answer", stream_id: &self.stream_id, seq, symbols })
    }

    fn query_intent(&self, agent: AgentId, id: &ClientIntentId) -> Vec<u8> {
        let (reply, answer) = crossbeam_channel::bounded(1);
        let asked = self.router.try_send(LookupIntent { agent, intent_id: id.clone(), reply });
        let kept = match asked {
            Ok(()) => match answer.recv_timeout(ANSWER_WITHIN) {
                Ok(kept) => kept,
                Err(_) => return busy(Some(id)).encode(),
            },
            Err(_) => return busy(Some(id)).encode(),
        };
        let ring = self.ring.as_ref().map(SharedRing::lock);
        let events = ring.as_ref().map(|r| r.intent_events(agent, id)).unwrap_or_default();
        let status = if kept.is_some() { "found" } else { "unknown" };
        encode(&QueryAnswer { kind: "query_answer", intent_id: id.as_str(), status, answer: kept, events })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn the_request_type_is_read_alone() {
        assert_eq!(StreamRequest::named("replay"), Some(StreamRequest::Replay));
        assert_eq!(StreamRequest::named("snapshot"), Some(StreamRequest::Snapshot));
        assert_eq!(StreamRequest::named("query_intent"), Some(StreamRequest::QueryIntent));
        assert_eq!(StreamRequest::named("submit_intent"), None);
        assert_eq!(StreamRequest::named("Replay"), None);
    }

    /// Each replay field is checked and a wrong one is named.
    #[test]
    fn replay_fields_are_checked_by_name() {
        let ok = replay_ask(&body(json!({"after_seq": 5, "topics": ["ETHUSD.s"], "max": 10}))).unwrap();
        assert_eq!(ok, ReplayAsk { after_seq: 5, topics: Some(vec!["ETHUSD.s".into()]), max: 10 });
        assert_eq!(replay_ask(&body(json!({"after_seq": 0}))).unwrap().max, MAX_REPLAY);
        for (frame, field) in [
            (json!({}), "after_seq"),
            (json!({"after_seq": -1}), "after_seq"),
            (json!({"after_seq": "5"}), "after_seq"),
            (json!({"after_seq": 0, "topics": "ETHUSD.s"}), "topics"),
            (json!({"after_seq": 0, "topics": [1]}), "topics"),
            (json!({"after_seq": 0, "max": 0}), "max"),
            (json!({"after_seq": 0, "max": 1001}), "max"),
        ] {
            let refused = replay_ask(&body(frame.clone())).unwrap_err();
            assert_eq!(refused.field.as_deref(), Some(field), "{frame}");
            assert_eq!(refused.reason.map(|r| r.code()), Some("invalid_field"));
        }
    }
}

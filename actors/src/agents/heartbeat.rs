//! `heartbeat` (docs/AGENTS.md, "Liveness"): a request with nothing but `type`, `agent_id`
//! and `token`, answered `heartbeat_answer` `{status:"ok", liveness:"alive", server_time_ns}`.
//! Like every authenticated request it is a sign of life for the agent router.

use actix::prelude::*;
use crossbeam_channel::Sender;
use engine::agent::AgentId;
use serde::Serialize;
use serde_json::{Map, Value};

use super::router::AgentRouter;
use crate::time::wall_ns;

/// The request type.
pub const HEARTBEAT: &str = "heartbeat";

/// The keys a heartbeat may carry (`token` is taken out before this check).
const KEYS: [&str; 2] = ["type", "agent_id"];

/// The first key a heartbeat may not carry, if any (`invalid_field` naming it).
pub fn unknown_field(body: &Map<String, Value>) -> Option<String> {
    body.keys().find(|k| !KEYS.contains(&k.as_str())).map(|k| k.chars().take(64).collect())
}

/// An authenticated heartbeat from the endpoint thread.
#[derive(Message)]
#[rtype(result = "()")]
pub struct HeartbeatFromEndpoint {
    pub agent: AgentId,
    pub reply: Sender<HeartbeatAnswer>,
}

/// The answer frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeartbeatAnswer {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: &'static str,
    pub liveness: &'static str,
    pub server_time_ns: u64,
}

impl HeartbeatAnswer {
    pub fn ok(server_time_ns: u64) -> HeartbeatAnswer {
        HeartbeatAnswer { kind: "heartbeat_answer", status: "ok", liveness: "alive", server_time_ns }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"type":"heartbeat_answer","status":"ok"}"#.to_vec())
    }
}

/// A heartbeat: the agent is alive (the router tells its symbols if it was silent).
impl Handler<HeartbeatFromEndpoint> for AgentRouter {
    type Result = ();
    fn handle(&mut self, msg: HeartbeatFromEndpoint, _: &mut Context<Self>) {
        let now = wall_ns();
        self.seen(msg.agent, now);
        let _ = msg.reply.send(HeartbeatAnswer::ok(now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_heartbeat_takes_no_other_field_and_answers_alive() {
        let ok = json!({"type": "heartbeat", "agent_id": "a1"});
        assert_eq!(unknown_field(ok.as_object().unwrap()), None);
        let extra = json!({"type": "heartbeat", "agent_id": "a1", "intent_id": "x"});
        assert_eq!(unknown_field(extra.as_object().unwrap()).as_deref(), Some("intent_id"));
        let v: Value = serde_json::from_slice(&HeartbeatAnswer::ok(7).encode()).unwrap();
        assert_eq!(v, json!({"type": "heartbeat_answer", "status": "ok", "liveness": "alive", "server_time_ns": 7}));
    }
}

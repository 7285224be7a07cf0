//! `cancel_intent` (docs/AGENTS.md, "Cancelling an intent"). An accepted entry is on the
//! wire at once (there is no queue), so a cancel can only stop an intent that has not been
//! submitted yet: an id never seen becomes a tombstone, and its later submit is refused
//! `cancelled`. An id already decided is answered `already_refused` or `on_wire` (with the
//! order's id), one being decided `deciding` (retry the cancel).

use actix::prelude::*;
use crossbeam_channel::Sender;
use engine::agent::AgentId;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::info;

use super::idempotency::{IntentLog, Lookup};
use super::router::AgentRouter;
use super::wire::{ClientIntentId, FrameRefusal, IntentAnswer, Reason, Status};
use crate::time::wall_ns;

/// The request type.
pub const CANCEL_INTENT: &str = "cancel_intent";

/// The keys a cancel may carry (`token` is taken out before this check).
const KEYS: [&str; 3] = ["type", "agent_id", "intent_id"];

/// The first key a cancel may not carry, if any (`invalid_field` naming it).
pub fn unknown_field(body: &Map<String, Value>) -> Option<String> {
    body.keys().find(|k| !KEYS.contains(&k.as_str())).map(|k| k.chars().take(64).collect())
}

/// An authenticated cancel from the endpoint thread.
#[derive(Message)]
#[rtype(result = "()")]
pub struct CancelFromEndpoint {
    pub agent: AgentId,
    pub intent_id: ClientIntentId,
    pub reply: Sender<CancelAnswer>,
}

/// What a cancel found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Never seen: a tombstone now stands for it.
    Tombstoned,
    /// Cancelled before (a tombstone, or a submit already refused `cancelled`).
    AlreadyCancelled,
    /// Decided and refused.
    AlreadyRefused,
    /// Accepted: its order is on the wire (or done).
    OnWire(u64),
    /// Being decided right now.
    Deciding,
}

/// Looks `id` up in the agent's log and records a tombstone for an unseen one.
pub fn cancel<W>(log: &mut IntentLog<W>, id: &ClientIntentId) -> CancelOutcome {
    let outcome = match log.lookup(id) {
        Lookup::Unknown => CancelOutcome::Tombstoned,
        Lookup::Tombstone => CancelOutcome::AlreadyCancelled,
        Lookup::Pending => CancelOutcome::Deciding,
        Lookup::Done(answer) => match (answer.status, answer.reason, answer.order_intent_id) {
            (Status::Refused, Some(Reason::Frame(FrameRefusal::Cancelled)), _) => CancelOutcome::AlreadyCancelled,
            (Status::Refused, _, _) => CancelOutcome::AlreadyRefused,
            (Status::Accepted, _, order) => CancelOutcome::OnWire(order.unwrap_or(0)),
        },
    };
    if outcome == CancelOutcome::Tombstoned {
        log.tombstone(id);
    }
    outcome
}

/// The answer frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CancelAnswer {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub intent_id: String,
    /// `"cancelled"` or `"refused"`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_intent_id: Option<u64>,
}

impl CancelAnswer {
    pub fn of(id: &ClientIntentId, outcome: CancelOutcome) -> CancelAnswer {
        let (status, reason, order_intent_id) = match outcome {
            CancelOutcome::Tombstoned | CancelOutcome::AlreadyCancelled => ("cancelled", None, None),
            CancelOutcome::AlreadyRefused => ("refused", Some("already_refused"), None),
            CancelOutcome::OnWire(order) => ("refused", Some("on_wire"), Some(order)),
            CancelOutcome::Deciding => ("refused", Some("deciding"), None),
        };
        CancelAnswer { kind: "cancel_answer", intent_id: id.as_str().to_string(), status, reason, order_intent_id }
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"type":"cancel_answer","status":"refused"}"#.to_vec())
    }
}

/// The answer a submit of a cancelled id gets (kept like any final answer).
pub fn cancelled_answer(id: &ClientIntentId) -> IntentAnswer {
    IntentAnswer::refused(
        Some(id),
        Reason::Frame(FrameRefusal::Cancelled),
        "this intent_id was cancelled before it was submitted",
    )
}

/// A cancel: a sign of life, then the agent's log decides (a new tombstone is made
/// durable before the answer, like a decided answer).
impl Handler<CancelFromEndpoint> for AgentRouter {
    type Result = ();
    fn handle(&mut self, msg: CancelFromEndpoint, _: &mut Context<Self>) {
        let CancelFromEndpoint { agent, intent_id, reply } = msg;
        self.seen(agent, wall_ns());
        let Some(outcome) = self.cancel(agent, &intent_id) else { return };
        let answer = CancelAnswer::of(&intent_id, outcome);
        info!(target: "agents", agent = %agent, intent_id = intent_id.as_str(), status = answer.status, reason = answer.reason, order_intent_id = answer.order_intent_id, "AGENT_CANCEL");
        let _ = reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::idempotency::Begin;
    use serde_json::json;

    fn id(s: &str) -> ClientIntentId {
        ClientIntentId::new(s).unwrap()
    }
    fn body() -> Map<String, Value> {
        json!({"symbol": "ETHUSD.s"}).as_object().unwrap().clone()
    }
    fn encoded(a: &CancelAnswer) -> Value {
        serde_json::from_slice(&a.encode()).unwrap()
    }

    #[test]
    fn an_unseen_id_is_tombstoned_and_its_submit_refused_cancelled() {
        let mut log: IntentLog<()> = IntentLog::new(16);
        assert_eq!(cancel(&mut log, &id("n")), CancelOutcome::Tombstoned);
        assert_eq!(
            encoded(&CancelAnswer::of(&id("n"), CancelOutcome::Tombstoned)),
            json!({"type": "cancel_answer", "intent_id": "n", "status": "cancelled"})
        );
        // A second cancel: still cancelled.
        assert_eq!(cancel(&mut log, &id("n")), CancelOutcome::AlreadyCancelled);
        assert_eq!(log.begin(&id("n"), &body(), ()), Begin::Cancelled);
        log.finish(&id("n"), &cancelled_answer(&id("n")));
        // After the refused submit, a cancel still says cancelled (not already_refused).
        assert_eq!(cancel(&mut log, &id("n")), CancelOutcome::AlreadyCancelled);
    }

    #[test]
    fn a_decided_id_cannot_be_cancelled() {
        let mut log: IntentLog<()> = IntentLog::new(16);
        log.begin(&id("r"), &body(), ());
        assert_eq!(cancel(&mut log, &id("r")), CancelOutcome::Deciding);
        let refused = IntentAnswer::refused(Some(&id("r")), Reason::Frame(FrameRefusal::SymbolUnknown), "");
        log.finish(&id("r"), &refused);
        assert_eq!(cancel(&mut log, &id("r")), CancelOutcome::AlreadyRefused);
        log.begin(&id("a"), &body(), ());
        log.finish(&id("a"), &IntentAnswer::accepted(&id("a"), protocol::IntentId(77)));
        assert_eq!(cancel(&mut log, &id("a")), CancelOutcome::OnWire(77));
        let answers = [
            (
                CancelOutcome::AlreadyRefused,
                json!({"type": "cancel_answer", "intent_id": "x", "status": "refused", "reason": "already_refused"}),
            ),
            (
                CancelOutcome::OnWire(77),
                json!({"type": "cancel_answer", "intent_id": "x", "status": "refused", "reason": "on_wire", "order_intent_id": 77}),
            ),
            (
                CancelOutcome::Deciding,
                json!({"type": "cancel_answer", "intent_id": "x", "status": "refused", "reason": "deciding"}),
            ),
        ];
        for (outcome, expected) in answers {
            assert_eq!(encoded(&CancelAnswer::of(&id("x"), outcome)), expected);
        }
    }

    #[test]
    fn a_cancel_takes_only_its_fields() {
        let ok = json!({"type": "cancel_intent", "agent_id": "a", "intent_id": "x"});
        assert_eq!(unknown_field(ok.as_object().unwrap()), None);
        let extra = json!({"type": "cancel_intent", "agent_id": "a", "intent_id": "x", "symbol": "E"});
        assert_eq!(unknown_field(extra.as_object().unwrap()).as_deref(), Some("symbol"));
    }
}

//! `AgentRouter`: the actor behind the intent endpoint. For an authenticated request it
//! checks idempotency, the agent's rate limit, the fields, the symbol and the authority, then
//! hands the decision to the symbol's actor (whose core applies every guard) and answers.
//! It decides nothing: it only refuses what cannot be taken and forwards the rest.

use std::collections::HashMap;

use actix::prelude::*;
use crossbeam_channel::Sender;
use engine::agent::{AgentDecision, AgentId, AgentRefusal};
use engine::intent::IntentLimits;
use engine::risk::limits::RateLimit;
use engine::risk::Refusal;
use protocol::Symbol;
use tracing::info;

use super::idempotency::{Begin, IntentLog, REMEMBERED_PER_AGENT};
use super::stream::{EventKind, StreamEvent, StreamSender, Topic};
use super::wire::{parse_body, wire_field, ClientIntentId, Envelope, FrameRefusal, IntentAnswer, Reason};
use super::AgentSpec;
use crate::messages::AgentIntent;
use crate::time::wall_ns;

/// An authenticated request from the endpoint thread; the answer goes back on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct IntentFromEndpoint {
    pub agent: AgentId,
    pub envelope: Envelope,
    pub reply: Sender<IntentAnswer>,
}

struct AgentState {
    rate: RateLimit,
    log: IntentLog<Sender<IntentAnswer>>,
}

pub struct AgentRouter {
    agents: HashMap<AgentId, AgentState>,
    /// Traded symbols by the names an agent may use (canonical names and aliases).
    names: HashMap<String, Symbol>,
    routes: HashMap<Symbol, Recipient<AgentIntent>>,
    /// The agent each agent-driven symbol belongs to.
    owner: HashMap<Symbol, AgentId>,
    limits: IntentLimits,
    /// The execution stream (`None`: off): refusals decided here are published.
    stream: Option<StreamSender>,
}

impl AgentRouter {
    /// `names`: every name of a traded symbol; `routes`: each traded symbol's actor.
    pub fn new(
        agents: &[AgentSpec],
        names: HashMap<String, Symbol>,
        routes: HashMap<Symbol, Recipient<AgentIntent>>,
        limits: IntentLimits,
    ) -> AgentRouter {
        let owner = agents.iter().flat_map(|a| a.symbols.iter().map(move |s| (*s, a.id))).collect();
        let agents = agents
            .iter()
            .map(|a| {
                let state = AgentState {
                    rate: RateLimit::per_second(a.max_intents_per_sec),
                    log: IntentLog::new(REMEMBERED_PER_AGENT),
                };
                (a.id, state)
            })
            .collect();
        AgentRouter { agents, names, routes, owner, limits, stream: None }
    }

    /// Publishes the refusals this router decides on the execution stream.
    pub fn with_stream(mut self, stream: Option<StreamSender>) -> AgentRouter {
        self.stream = stream;
        self
    }

    /// The kept answer of one of `agent`'s intents (`None`: unknown, forgotten or still
    /// being decided).
    pub fn answered(&self, agent: AgentId, id: &ClientIntentId) -> Option<IntentAnswer> {
        self.agents.get(&agent).and_then(|s| s.log.answered(id)).cloned()
    }

    /// A refusal decided here, on the stream: on the symbol's topic when the request names
    /// a symbol this agent drives, else on `agent.<id>`.
    fn stream_refusal(
        &self,
        agent: AgentId,
        id: &ClientIntentId,
        body: &serde_json::Map<String, serde_json::Value>,
        answer: &IntentAnswer,
    ) {
        let (Some(stream), Some(reason)) = (&self.stream, answer.reason) else { return };
        let symbol = body
            .get("symbol")
            .and_then(serde_json::Value::as_str)
            .and_then(|name| self.names.get(name))
            .filter(|s| self.owner.get(s) == Some(&agent))
            .copied();
        stream.send(StreamEvent {
            topic: symbol.map_or(Topic::Agent(agent), Topic::Symbol),
            ts_ns: wall_ns(),
            symbol,
            agent: Some(agent),
            intent_id: Some(id.clone()),
            order_intent_id: None,
            kind: EventKind::IntentRefused { reason: reason.code(), field: answer.field.clone() },
        });
    }

    /// Records `answer` for a pending id and gives it to everyone waiting.
    fn finish(&mut self, agent: AgentId, id: &ClientIntentId, answer: IntentAnswer, reply: Sender<IntentAnswer>) {
        let code = answer.reason.map_or("accepted", |r| r.code());
        info!(target: "agents", agent = %agent, intent_id = id.as_str(), answer = code, field = answer.field.as_deref(), order_intent_id = answer.order_intent_id, "AGENT_INTENT_ANSWER");
        let waiters = self.agents.get_mut(&agent).map(|s| s.log.finish(id, &answer)).unwrap_or_default();
        for waiter in waiters.into_iter().chain(std::iter::once(reply)) {
            let _ = waiter.send(answer.clone());
        }
    }

    /// Answers without keeping the answer (nothing was decided): a retry is taken afresh.
    fn drop_pending(&mut self, agent: AgentId, id: &ClientIntentId, answer: IntentAnswer, reply: Sender<IntentAnswer>) {
        let waiters = self.agents.get_mut(&agent).map(|s| s.log.forget(id)).unwrap_or_default();
        for waiter in waiters.into_iter().chain(std::iter::once(reply)) {
            let _ = waiter.send(answer.clone());
        }
    }
}

impl Actor for AgentRouter {
    type Context = Context<Self>;
}

impl Handler<IntentFromEndpoint> for AgentRouter {
    type Result = ();
    fn handle(&mut self, msg: IntentFromEndpoint, ctx: &mut Context<Self>) {
        let IntentFromEndpoint { agent, envelope, reply } = msg;
        let id = envelope.intent_id.clone();
        let Some(state) = self.agents.get_mut(&agent) else {
            let _ = reply.send(IntentAnswer::refused(
                Some(&id),
                Reason::Frame(FrameRefusal::UnknownAgent),
                "no such agent",
            ));
            return;
        };
        match state.log.begin(&id, &envelope.body, reply.clone()) {
            Begin::New => {}
            Begin::Waiting => return,
            Begin::Answered(answer) => {
                let _ = reply.send(answer);
                return;
            }
            Begin::Mismatch => {
                let detail = "this intent_id was used before with a different body";
                let _ = reply.send(IntentAnswer::refused(
                    Some(&id),
                    Reason::Frame(FrameRefusal::DuplicateMismatch),
                    detail,
                ));
                return;
            }
        }
        let now = wall_ns();
        if !state.rate.allows(now) {
            let answer = IntentAnswer::refused(
                Some(&id),
                Reason::Frame(FrameRefusal::RateLimited),
                "over this agent's max_intents_per_sec; retry the same intent_id later",
            );
            self.drop_pending(agent, &id, answer, reply);
            return;
        }
        state.rate.record(now);
        let parsed = match parse_body(&envelope.body, &self.limits) {
            Ok(parsed) => parsed,
            Err(error) => {
                let answer = IntentAnswer::invalid(&id, error);
                self.stream_refusal(agent, &id, &envelope.body, &answer);
                return self.finish(agent, &id, answer, reply);
            }
        };
        let Some(symbol) = self.names.get(&parsed.symbol).copied() else {
            let answer =
                IntentAnswer::refused(Some(&id), Reason::Frame(FrameRefusal::SymbolUnknown), "not traded here");
            self.stream_refusal(agent, &id, &envelope.body, &answer);
            return self.finish(agent, &id, answer, reply);
        };
        let route = match (self.owner.get(&symbol), self.routes.get(&symbol)) {
            (Some(owner), Some(route)) if *owner == agent => route.clone(),
            (Some(_), _) | (None, Some(_)) => {
                let detail = format!("{symbol} is not driven by agent {agent}");
                let answer = IntentAnswer::refused(Some(&id), Reason::Core(AgentRefusal::NotAuthority), detail);
                self.stream_refusal(agent, &id, &envelope.body, &answer);
                return self.finish(agent, &id, answer, reply);
            }
            (None, None) => {
                let answer =
                    IntentAnswer::refused(Some(&id), Reason::Frame(FrameRefusal::SymbolUnknown), "not traded here");
                self.stream_refusal(agent, &id, &envelope.body, &answer);
                return self.finish(agent, &id, answer, reply);
            }
        };
        info!(target: "agents", agent = %agent, intent_id = id.as_str(), symbol = %symbol, command = ?parsed.command, valid_until_ns = parsed.valid_until_ns, thesis = parsed.thesis.as_deref(), "AGENT_INTENT");
        let decision = AgentDecision { agent, command: parsed.command, valid_until: parsed.valid_until_ns };
        let asked = route.send(AgentIntent { decision, client_id: Some(id.clone()) });
        ctx.spawn(asked.into_actor(self).map(move |result, act, _| match result {
            Ok(Ok(order)) => act.finish(agent, &id, IntentAnswer::accepted(&id, order), reply),
            Ok(Err(refusal)) => {
                let mut answer = IntentAnswer::refused(Some(&id), Reason::Core(refusal), refusal.code());
                if let AgentRefusal::Guard(Refusal::InvalidIntent(field)) = refusal {
                    answer.field = Some(wire_field(field).to_string());
                }
                act.finish(agent, &id, answer, reply);
            }
            Err(e) => {
                let answer = IntentAnswer::refused(Some(&id), Reason::Frame(FrameRefusal::Busy), e.to_string());
                act.drop_pending(agent, &id, answer, reply);
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::wire::envelope;
    use crate::control::ControlToken;
    use std::time::Duration;

    fn submit(router: &Addr<AgentRouter>, agent: AgentId, id: &str) -> IntentAnswer {
        let frame = serde_json::json!({
            "type": "submit_intent", "intent_id": id, "agent_id": "a1", "token": "unused-here",
            "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.5"
        });
        let envelope = envelope(frame.to_string().as_bytes()).unwrap();
        let (reply, answer) = crossbeam_channel::bounded(1);
        router.do_send(IntentFromEndpoint { agent, envelope, reply });
        answer.recv_timeout(Duration::from_secs(2)).unwrap()
    }

    fn code(answer: &IntentAnswer) -> &'static str {
        answer.reason.map_or("accepted", |r| r.code())
    }

    /// Over an agent's `max_intents_per_sec` an intent is refused `rate_limited`, and that
    /// answer is not kept: the same id is decided afresh once the second is over. (No symbol
    /// is traded in this router, so a decided intent is answered `symbol_unknown`.)
    #[test]
    fn over_the_rate_an_intent_is_refused_and_a_retry_is_decided_afresh() {
        let agent = AgentId::new("a1").unwrap();
        let spec = AgentSpec {
            id: agent,
            token: ControlToken::new("agent-token-0123456789").unwrap(),
            symbols: Vec::new(),
            max_intents_per_sec: 2,
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let router = system.block_on(async {
                AgentRouter::new(&[spec], HashMap::new(), HashMap::new(), IntentLimits::default()).start()
            });
            let _ = tx.send((router, System::current()));
            let _ = system.run();
        });
        let (router, system) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(code(&submit(&router, agent, "i-1")), "symbol_unknown");
        assert_eq!(code(&submit(&router, agent, "i-2")), "symbol_unknown");
        assert_eq!(code(&submit(&router, agent, "i-3")), "rate_limited", "the third in one second");
        assert_eq!(code(&submit(&router, agent, "i-1")), "symbol_unknown", "a decided id keeps its answer");
        assert_eq!(code(&submit(&router, agent, "i-3")), "rate_limited", "still over the rate");
        std::thread::sleep(Duration::from_millis(1_100));
        assert_eq!(code(&submit(&router, agent, "i-3")), "symbol_unknown", "decided afresh, not the kept refusal");
        system.stop();
        thread.join().unwrap();
    }
}

//! The intent endpoint: a ZeroMQ ROUTER on its own thread (default
//! `tcp://127.0.0.1:5560`), one JSON object per frame (docs/AGENTS.md). The thread reads
//! the frame, dispatches on its `type` (`submit_intent`, `heartbeat`, `cancel_intent`),
//! checks the agent's token in constant time, and hands the request to the
//! [`AgentRouter`](super::router::AgentRouter), waiting (bounded) for its answer; it answers
//! `malformed`, `unknown_agent` and `bad_token` itself (in the `intent_answer` refusal
//! shape, whatever the request type). Frames above [`MAX_FRAME_BYTES`] are dropped by
//! libzmq (ZMQ_MAXMSGSIZE), never buffered.
//!
//! The codec is chosen per frame: a binary frame ([`super::binary`]) is read into the same
//! JSON object and answered in binary.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use engine::agent::AgentId;
use tracing::{info, warn};

use super::cancel::{self, CancelAnswer, CancelFromEndpoint};
use super::heartbeat::{self, HeartbeatAnswer, HeartbeatFromEndpoint};
use super::requests::{StreamRequest, StreamRequests};
use super::router::IntentFromEndpoint;
use super::wire::{
    credentials, envelope_of, intent_id_of, parse_object, ClientIntentId, FrameRefusal, IntentAnswer, Reason,
    SUBMIT_INTENT,
};
use super::AgentSettings;
use crate::control::{ControlToken, Incoming, LogBudget};

/// Largest intent frame: a thesis of 2,000 characters is at most 8,000 bytes in UTF-8.
pub const MAX_FRAME_BYTES: i64 = 16 * 1024;
/// Requests queued per peer before libzmq stops reading that peer (ZMQ_RCVHWM).
const RECEIVE_HWM: i32 = 1_000;
/// How long the thread waits for the router's answer before answering `busy`.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);

/// Why the intent endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum AgentEndpointError {
    #[error(
        "cannot bind the intent endpoint {endpoint:?}: {source} (set agents.endpoint to a free endpoint, or \"off\")"
    )]
    Bind { endpoint: String, source: zmq::Error },
    #[error("intent socket: {0}")]
    Socket(#[from] zmq::Error),
    #[error("cannot start the intent endpoint thread: {0}")]
    Thread(std::io::Error),
}

/// A bound intent ROUTER that does not answer yet (bound before any actor starts).
pub struct BoundAgents {
    router: zmq::Socket,
    tokens: HashMap<AgentId, ControlToken>,
    endpoint: String,
}

/// The running intent endpoint.
pub struct AgentEndpoint {
    served: crate::router_endpoint::ServedRouter,
    pub endpoint: String,
}

impl AgentEndpoint {
    pub fn stop(&mut self) {
        self.served.stop();
    }
}

/// Binds the intent ROUTER at `bind`.
pub fn bind(ctx: &zmq::Context, bind: &str, settings: &AgentSettings) -> Result<BoundAgents, AgentEndpointError> {
    let router = ctx.socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    router.set_maxmsgsize(MAX_FRAME_BYTES)?;
    router.set_rcvhwm(RECEIVE_HWM)?;
    if bind.starts_with("tcp://[") {
        router.set_ipv6(true)?;
    }
    router.bind(bind).map_err(|source| AgentEndpointError::Bind { endpoint: bind.to_string(), source })?;
    let endpoint = router.get_last_endpoint()?.unwrap_or_else(|_| bind.to_string());
    let tokens = settings.agents.iter().map(|a| (a.id, a.token.clone())).collect();
    info!(target: "agents", %endpoint, agents = settings.agents.len(), "intent endpoint bound; every request needs its agent's token");
    Ok(BoundAgents { router, tokens, endpoint })
}

impl BoundAgents {
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Serves requests on the endpoint's own thread.
    pub fn serve(self, routes: EndpointRoutes) -> Result<AgentEndpoint, AgentEndpointError> {
        let BoundAgents { router, tokens, endpoint } = self;
        let mut gate = Gate { tokens, refusals: LogBudget::default() };
        let served = crate::router_endpoint::serve(router, "intent-endpoint", 100, "intents", move |incoming| {
            super::binary::per_codec(incoming, |incoming| dispatch(&mut gate, incoming, &routes))
        })
        .map_err(AgentEndpointError::Thread)?;
        Ok(AgentEndpoint { served, endpoint })
    }
}

/// Where each request type goes (the agent router's handlers).
#[derive(Clone)]
pub struct EndpointRoutes {
    pub intents: Recipient<IntentFromEndpoint>,
    pub heartbeats: Recipient<HeartbeatFromEndpoint>,
    pub cancels: Recipient<CancelFromEndpoint>,
    /// `replay`, `snapshot` and `query_intent`.
    pub stream: StreamRequests,
}

impl EndpointRoutes {
    /// Every request type to one router; the stream requests read `stream`.
    pub fn to(router: &Addr<super::router::AgentRouter>, stream: StreamRequests) -> EndpointRoutes {
        EndpointRoutes {
            intents: router.clone().recipient(),
            heartbeats: router.clone().recipient(),
            cancels: router.clone().recipient(),
            stream,
        }
    }
}

/// The agents' tokens and the budget of refusal log lines.
struct Gate {
    tokens: HashMap<AgentId, ControlToken>,
    refusals: LogBudget,
}

impl Gate {
    /// The agent, if the token is its own; else the refusal (logged, rate-limited).
    fn check(
        &mut self,
        agent: &Result<AgentId, String>,
        token: &str,
        id: Option<&ClientIntentId>,
        peer: Option<&str>,
        kind: &str,
    ) -> Result<AgentId, Box<IntentAnswer>> {
        let known = agent.as_ref().ok().and_then(|a| self.tokens.get(a).map(|t| (*a, t)));
        let code = match known {
            None => FrameRefusal::UnknownAgent,
            Some((_, expected)) if !expected.matches(token.as_bytes()) => FrameRefusal::BadToken,
            Some((agent, _)) => return Ok(agent),
        };
        if let Some(suppressed) = self.refusals.take(Instant::now()) {
            warn!(target: "agents", peer, reason = code.code(), request = kind, intent_id = id.map(ClientIntentId::as_str), suppressed, "AGENT_UNAUTHORIZED: request refused");
        }
        Err(Box::new(IntentAnswer::refused(id, Reason::Frame(code), code.code())))
    }
}

/// Answers one frame: read as a JSON object, dispatched on `type`.
fn dispatch(gate: &mut Gate, incoming: &Incoming, routes: &EndpointRoutes) -> Vec<u8> {
    let received_ns = crate::time::wall_ns();
    let Some(body) = &incoming.body else {
        return IntentAnswer::refused(None, Reason::Frame(FrameRefusal::Malformed), "expected one JSON frame").encode();
    };
    let object = match parse_object(body) {
        Ok(object) => object,
        Err(answer) => return answer.encode(),
    };
    let peer = incoming.peer.as_deref();
    match object.get("type").and_then(serde_json::Value::as_str) {
        Some(SUBMIT_INTENT) => submit(gate, object, peer, &routes.intents, received_ns).encode(),
        Some(heartbeat::HEARTBEAT) => heartbeat(gate, object, peer, &routes.heartbeats),
        Some(cancel::CANCEL_INTENT) => cancel(gate, object, peer, &routes.cancels),
        Some(kind) if StreamRequest::named(kind).is_some() => {
            let kind = kind.to_string();
            stream_request(gate, object, peer, &kind, routes)
        }
        other => {
            let id = intent_id_of(&object);
            let named: Option<String> = other.map(|t| t.chars().take(64).collect());
            let why = match named {
                Some(t) => format!("type: unknown request type {t:?} (submit_intent, heartbeat, cancel_intent, query_intent, replay, snapshot)"),
                None => "type: a string is required".to_string(),
            };
            IntentAnswer::refused(id.as_ref(), Reason::Frame(FrameRefusal::Malformed), why).encode()
        }
    }
}

/// Hands a request to the router and waits (bounded) for its answer; `busy` otherwise.
fn ask<M, A>(route: &Recipient<M>, message: impl FnOnce(crossbeam_channel::Sender<A>) -> M) -> Option<A>
where
    M: Message<Result = ()> + Send + 'static,
    A: Send,
{
    let (reply, answer) = crossbeam_channel::bounded(1);
    route.try_send(message(reply)).ok()?;
    answer.recv_timeout(ANSWER_WITHIN).ok()
}

pub(super) fn busy(id: Option<&ClientIntentId>) -> IntentAnswer {
    IntentAnswer::refused(id, Reason::Frame(FrameRefusal::Busy), "the engine is busy; retry the same request")
}

/// `heartbeat`: authenticated, then a sign of life at the router.
fn heartbeat(
    gate: &mut Gate,
    mut object: serde_json::Map<String, serde_json::Value>,
    peer: Option<&str>,
    route: &Recipient<HeartbeatFromEndpoint>,
) -> Vec<u8> {
    let (agent, token) = match credentials(&mut object, None) {
        Ok(c) => c,
        Err(answer) => return answer.encode(),
    };
    let agent = match gate.check(&agent, &token, None, peer, heartbeat::HEARTBEAT) {
        Ok(agent) => agent,
        Err(answer) => return answer.encode(),
    };
    if let Some(field) = heartbeat::unknown_field(&object) {
        let mut answer = IntentAnswer::refused(None, Reason::Frame(FrameRefusal::InvalidField), "unknown field");
        answer.field = Some(field);
        return answer.encode();
    }
    ask(route, |reply| HeartbeatFromEndpoint { agent, reply })
        .map_or_else(|| busy(None).encode(), |a: HeartbeatAnswer| a.encode())
}

/// `replay`, `snapshot`, `query_intent`: authenticated (a sign of life at the router, as
/// every authenticated request), then answered from the stream's buffer and the status board.
fn stream_request(
    gate: &mut Gate,
    mut object: serde_json::Map<String, serde_json::Value>,
    peer: Option<&str>,
    kind: &str,
    routes: &EndpointRoutes,
) -> Vec<u8> {
    let Some(request) = StreamRequest::named(kind) else {
        return IntentAnswer::refused(None, Reason::Frame(FrameRefusal::Malformed), "type: not a stream request")
            .encode();
    };
    let id = intent_id_of(&object);
    let (agent, token) = match credentials(&mut object, id.as_ref()) {
        Ok(c) => c,
        Err(answer) => return answer.encode(),
    };
    let agent = match gate.check(&agent, &token, id.as_ref(), peer, kind) {
        Ok(agent) => agent,
        Err(answer) => return answer.encode(),
    };
    // A sign of life; its answer is not waited for.
    let (reply, _) = crossbeam_channel::bounded(1);
    let _ = routes.heartbeats.try_send(HeartbeatFromEndpoint { agent, reply });
    routes.stream.answer(request, agent, &object)
}

/// `cancel_intent`: an `intent_id` is required; authenticated, then the router decides.
fn cancel(
    gate: &mut Gate,
    mut object: serde_json::Map<String, serde_json::Value>,
    peer: Option<&str>,
    route: &Recipient<CancelFromEndpoint>,
) -> Vec<u8> {
    let Some(intent_id) = intent_id_of(&object) else {
        let why = "intent_id: a string of 1..=64 printable ASCII characters is required";
        return IntentAnswer::refused(None, Reason::Frame(FrameRefusal::Malformed), why).encode();
    };
    let (agent, token) = match credentials(&mut object, Some(&intent_id)) {
        Ok(c) => c,
        Err(answer) => return answer.encode(),
    };
    let agent = match gate.check(&agent, &token, Some(&intent_id), peer, cancel::CANCEL_INTENT) {
        Ok(agent) => agent,
        Err(answer) => return answer.encode(),
    };
    if let Some(field) = cancel::unknown_field(&object) {
        let mut answer =
            IntentAnswer::refused(Some(&intent_id), Reason::Frame(FrameRefusal::InvalidField), "unknown field");
        answer.field = Some(field);
        return answer.encode();
    }
    let id = intent_id.clone();
    ask(route, |reply| CancelFromEndpoint { agent, intent_id, reply })
        .map_or_else(|| busy(Some(&id)).encode(), |a: CancelAnswer| a.encode())
}

/// `submit_intent`: its envelope read, the agent's token checked, the intent handed to the
/// router actor (bounded wait).
fn submit(
    gate: &mut Gate,
    object: serde_json::Map<String, serde_json::Value>,
    peer: Option<&str>,
    route: &Recipient<IntentFromEndpoint>,
    received_ns: u64,
) -> IntentAnswer {
    let envelope = match envelope_of(object) {
        Ok(e) => e,
        Err(answer) => return *answer,
    };
    let id = envelope.intent_id.clone();
    let agent = match gate.check(&envelope.agent, &envelope.token, Some(&id), peer, SUBMIT_INTENT) {
        Ok(agent) => agent,
        Err(answer) => return *answer,
    };
    let (reply, answer) = crossbeam_channel::bounded(1);
    if route.try_send(IntentFromEndpoint { agent, envelope, reply, received_ns }).is_err() {
        return IntentAnswer::refused(
            Some(&id),
            Reason::Frame(FrameRefusal::Busy),
            "the engine is busy; retry the same intent_id",
        );
    }
    answer.recv_timeout(ANSWER_WITHIN).unwrap_or_else(|_| {
        IntentAnswer::refused(
            Some(&id),
            Reason::Frame(FrameRefusal::Busy),
            "no answer in time; retry the same intent_id",
        )
    })
}

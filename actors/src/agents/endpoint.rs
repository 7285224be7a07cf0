//! The intent endpoint: a ZeroMQ ROUTER on its own thread (default
//! `tcp://127.0.0.1:5560`), one JSON object per frame (docs/AGENTS.md). The thread reads
//! the envelope, checks the agent's token in constant time, and hands the request to the
//! [`AgentRouter`](super::router::AgentRouter), waiting (bounded) for its answer; it answers
//! `malformed`, `unknown_agent` and `bad_token` itself. Frames above [`MAX_FRAME_BYTES`]
//! are dropped by libzmq (ZMQ_MAXMSGSIZE), never buffered.
//!
//! The codec is chosen per frame: a binary frame ([`super::binary`]) is read into the same
//! JSON object and answered in binary.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use engine::agent::AgentId;
use serde_json::Value;
use tracing::{info, warn};

use super::requests::{StreamRequest, StreamRequests};
use super::router::IntentFromEndpoint;
use super::wire::{envelope, FrameRefusal, IntentAnswer, Reason};
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

    /// Serves requests on the endpoint's own thread: intents go to `handler`, the stream
    /// requests (`replay`, `snapshot`, `query_intent`) to `requests`.
    pub fn serve(
        self,
        handler: Recipient<IntentFromEndpoint>,
        requests: StreamRequests,
    ) -> Result<AgentEndpoint, AgentEndpointError> {
        let BoundAgents { router, tokens, endpoint } = self;
        let mut refusals = LogBudget::default();
        let served = crate::router_endpoint::serve(router, "intent-endpoint", 100, "intents", move |incoming| {
            super::binary::per_codec(incoming, |incoming| match incoming.body.as_deref().and_then(StreamRequest::of) {
                Some(request) => stream_request(&tokens, incoming, request, &requests, &mut refusals),
                None => answer(&tokens, incoming, &handler, &mut refusals).encode(),
            })
        })
        .map_err(AgentEndpointError::Thread)?;
        Ok(AgentEndpoint { served, endpoint })
    }
}

/// Answers a stream request (docs/AGENTS.md): `agent_id` and `token` checked as for an
/// intent, then [`StreamRequests::answer`].
fn stream_request(
    tokens: &HashMap<AgentId, ControlToken>,
    incoming: &Incoming,
    request: StreamRequest,
    requests: &StreamRequests,
    refusals: &mut LogBudget,
) -> Vec<u8> {
    let malformed = |why: &str| IntentAnswer::refused(None, Reason::Frame(FrameRefusal::Malformed), why).encode();
    let Some(Ok(Value::Object(body))) = incoming.body.as_deref().map(serde_json::from_slice::<Value>) else {
        return malformed("expected one JSON object");
    };
    let (Some(Value::String(agent)), Some(Value::String(token))) = (body.get("agent_id"), body.get("token")) else {
        return malformed("agent_id and token: strings are required");
    };
    let known = AgentId::new(agent).ok().and_then(|a| tokens.get(&a).map(|t| (a, t)));
    let code = match known {
        Some((agent, t)) if t.matches(token.as_bytes()) => return requests.answer(request, agent, &body),
        Some(_) => FrameRefusal::BadToken,
        None => FrameRefusal::UnknownAgent,
    };
    if let Some(suppressed) = refusals.take(Instant::now()) {
        warn!(target: "agents", peer = incoming.peer.as_deref(), reason = code.code(), request = ?request, suppressed, "AGENT_UNAUTHORIZED: request refused");
    }
    IntentAnswer::refused(None, Reason::Frame(code), code.code()).encode()
}

/// Answers one request: its envelope read, the agent's token checked in constant time, the
/// intent handed to the router actor (bounded wait).
fn answer(
    tokens: &HashMap<AgentId, ControlToken>,
    incoming: &Incoming,
    handler: &Recipient<IntentFromEndpoint>,
    refusals: &mut LogBudget,
) -> IntentAnswer {
    let Some(body) = &incoming.body else {
        return IntentAnswer::refused(None, Reason::Frame(FrameRefusal::Malformed), "expected one JSON frame");
    };
    let envelope = match envelope(body) {
        Ok(e) => e,
        Err(answer) => return *answer,
    };
    let id = envelope.intent_id.clone();
    let refused = |code: FrameRefusal, refusals: &mut LogBudget| {
        if let Some(suppressed) = refusals.take(Instant::now()) {
            warn!(target: "agents", peer = incoming.peer.as_deref(), reason = code.code(), intent_id = id.as_str(), suppressed, "AGENT_UNAUTHORIZED: intent refused");
        }
        IntentAnswer::refused(Some(&id), Reason::Frame(code), code.code())
    };
    let Some((agent, token)) = envelope.agent.as_ref().ok().and_then(|a| tokens.get(a).map(|t| (*a, t))) else {
        return refused(FrameRefusal::UnknownAgent, refusals);
    };
    if !token.matches(envelope.token.as_bytes()) {
        return refused(FrameRefusal::BadToken, refusals);
    }
    let (reply, answer) = crossbeam_channel::bounded(1);
    if handler.try_send(IntentFromEndpoint { agent, envelope, reply }).is_err() {
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

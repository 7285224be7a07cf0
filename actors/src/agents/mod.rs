//! Decision agents: external processes that send intents for the symbols they are the
//! authority for (docs/AGENTS.md).
//!
//! - [`wire`]: the JSON frames: `submit_intent` parsed and validated field by field, and the
//!   answer with its reason code.
//! - [`idempotency`]: each agent's recent `intent_id`s and their answers (bounded).
//! - [`router`]: `AgentRouter`, the actor that checks and forwards an intent to its
//!   symbol's actor and answers.
//! - [`endpoint`]: the ZeroMQ ROUTER thread that authenticates each request and dispatches
//!   it on its `type`.
//! - [`liveness`]: alive / silent per agent, and the board `engine ctl status` shows.
//! - [`heartbeat`]: the `heartbeat` request.
//! - [`cancel`]: the `cancel_intent` request (tombstones).
//! - [`answer_log`]: the durable log of final answers, reloaded at start.
//! - [`binary`]: the binary codec of the link, chosen per frame: a binary request is read into
//!   the JSON object [`wire`] validates, and answered in binary.
//! - [`stream`]: the execution stream's PUB thread, fed by a bounded channel.
//! - [`stream_ring`]: the stream's numbering (`seq`, `topic_seq`) and replay buffer.
//! - [`stream_symbol`]: an agent-driven symbol's actions turned into stream events.
//! - [`requests`]: the `replay`, `snapshot` and `query_intent` requests.

pub mod answer_log;
pub mod binary;
pub mod cancel;
pub mod endpoint;
pub mod heartbeat;
pub mod idempotency;
pub mod liveness;
pub mod requests;
pub mod router;
pub mod stream;
pub mod stream_ring;
pub mod stream_symbol;
pub mod wire;

use std::time::Duration;

use engine::agent::{AgentId, OnSilence};
use protocol::Symbol;

use crate::control::ControlToken;

/// The default intent endpoint.
pub const DEFAULT_ENDPOINT: &str = "tcp://127.0.0.1:5560";

/// One configured agent.
#[derive(Clone, Debug)]
pub struct AgentSpec {
    pub id: AgentId,
    /// Same rules as the control token: 16..=1024 printable ASCII bytes, never printed.
    pub token: ControlToken,
    /// The symbols this agent is the decision authority for.
    pub symbols: Vec<Symbol>,
    pub max_intents_per_sec: u32,
    /// No authenticated request for this long: the agent is silent.
    pub heartbeat_timeout: Duration,
    /// What its symbols do while it is silent.
    pub on_silence: OnSilence,
}

/// The agents of a run and where their endpoint listens (`None`: "off"; their symbols
/// still belong to them, so only protective exits trade there).
#[derive(Clone, Debug)]
pub struct AgentSettings {
    pub bind: Option<String>,
    pub agents: Vec<AgentSpec>,
    /// The execution stream's PUB endpoint (`None`: "off").
    pub stream: Option<String>,
    /// Events kept for `replay` (`agents.stream_buffer`).
    pub stream_buffer: usize,
    /// The durable answer log (`None`: no state dir, answers kept in memory only) and what
    /// it held at start.
    pub answers: Option<answer_log::AnswerLog>,
    pub restored: answer_log::RestoredAnswers,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            bind: None,
            agents: Vec::new(),
            stream: None,
            stream_buffer: stream_ring::DEFAULT_BUFFER,
            answers: None,
            restored: answer_log::RestoredAnswers::default(),
        }
    }
}

impl AgentSettings {
    /// The agent that drives `symbol`, if any.
    pub fn owner(&self, symbol: &Symbol) -> Option<AgentId> {
        self.agents.iter().find(|a| a.symbols.contains(symbol)).map(|a| a.id)
    }
}

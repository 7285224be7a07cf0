//! `[agents]` of `engine.toml`: the intent endpoint, the execution stream and the decision
//! agents, each with its id, token file, the symbols it is the decision authority for, its
//! intent rate, its heartbeat timeout and what its symbols do when it falls silent. Every
//! key is validated and an error names it (`agents.agent[1].symbols: ...`); a symbol listed
//! by two agents is an error. Token files are read, and symbols checked against the traded
//! ones, once every layer is applied ([`AgentsConfig::settings`]).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Duration;

use actors::agents::liveness::{DEFAULT_HEARTBEAT_TIMEOUT, MAX_HEARTBEAT_TIMEOUT_MS, MIN_HEARTBEAT_TIMEOUT_MS};
use actors::agents::stream::DEFAULT_STREAM;
use actors::agents::stream_ring::{DEFAULT_BUFFER, MAX_BUFFER, MIN_BUFFER};
use actors::agents::{AgentSettings, AgentSpec, DEFAULT_ENDPOINT};
use actors::control::ControlToken;
use engine::agent::{AgentId, OnSilence};
use protocol::Symbol;
use serde::{Deserialize, Serialize};

use crate::config::{bad, endpoint, read_token_file, ConfigError};

/// Highest `max_intents_per_sec`.
pub const MAX_INTENTS_PER_SEC: u32 = 10_000;

/// `[agents]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentsSection {
    /// The intent endpoint (ZMQ ROUTER), or "off". Default `tcp://127.0.0.1:5560`.
    pub endpoint: Option<String>,
    /// The execution stream (ZMQ PUB), or "off". Default `tcp://127.0.0.1:5561`.
    pub stream: Option<String>,
    /// Events kept for `replay`. Default 65,536.
    pub stream_buffer: Option<usize>,
    /// `[[agents.agent]]`, one table per agent.
    #[serde(default)]
    pub agent: Vec<AgentEntry>,
}

/// One `[[agents.agent]]` as written.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEntry {
    pub id: Option<String>,
    pub token_file: Option<String>,
    pub symbols: Option<Vec<String>>,
    pub max_intents_per_sec: Option<u32>,
    /// No authenticated request for this long: the agent is silent. Default 5000.
    pub heartbeat_timeout_ms: Option<u64>,
    /// "stop_entries" (default) or "flatten".
    pub on_silence: Option<String>,
}

/// One validated agent. The token is read from `token_file` by [`AgentsConfig::settings`]
/// unless set already (tests set it directly).
#[derive(Clone, Debug)]
pub struct AgentConfig {
    pub id: AgentId,
    pub token_file: Option<PathBuf>,
    pub token: Option<ControlToken>,
    pub symbols: Vec<Symbol>,
    pub max_intents_per_sec: u32,
    pub heartbeat_timeout: Duration,
    pub on_silence: OnSilence,
}

impl AgentConfig {
    /// An agent with the default rate, heartbeat timeout and silence policy (tests).
    pub fn new(id: AgentId, token_file: Option<PathBuf>, symbols: Vec<Symbol>) -> AgentConfig {
        AgentConfig {
            id,
            token_file,
            token: None,
            symbols,
            max_intents_per_sec: 10,
            heartbeat_timeout: DEFAULT_HEARTBEAT_TIMEOUT,
            on_silence: OnSilence::StopEntries,
        }
    }
}

/// The validated `[agents]`.
#[derive(Clone, Debug)]
pub struct AgentsConfig {
    /// `None`: "off".
    pub endpoint: Option<String>,
    pub agents: Vec<AgentConfig>,
    /// The execution stream; `None`: "off".
    pub stream: Option<String>,
    /// Events kept for `replay` (`MIN_BUFFER..=MAX_BUFFER`).
    pub stream_buffer: usize,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            endpoint: Some(DEFAULT_ENDPOINT.to_string()),
            agents: Vec::new(),
            stream: Some(DEFAULT_STREAM.to_string()),
            stream_buffer: DEFAULT_BUFFER,
        }
    }
}

impl AgentsConfig {
    /// Applies a parsed `[agents]`: a list of agents replaces the one before.
    pub fn apply(&mut self, section: AgentsSection) -> Result<(), ConfigError> {
        if let Some(e) = section.endpoint {
            self.endpoint = if e == "off" { None } else { Some(endpoint("agents.endpoint", &e)?) };
        }
        if let Some(e) = section.stream {
            self.stream = if e == "off" { None } else { Some(endpoint("agents.stream", &e)?) };
        }
        if let Some(n) = section.stream_buffer {
            if !(MIN_BUFFER..=MAX_BUFFER).contains(&n) {
                return Err(bad("agents.stream_buffer", format!("{n} is outside {MIN_BUFFER}..={MAX_BUFFER}")));
            }
            self.stream_buffer = n;
        }
        if section.agent.is_empty() {
            return Ok(());
        }
        let mut agents: Vec<AgentConfig> = Vec::new();
        let mut owner: BTreeMap<Symbol, (AgentId, usize)> = BTreeMap::new();
        for (i, entry) in section.agent.into_iter().enumerate() {
            let key = |field: &str| format!("agents.agent[{i}].{field}");
            let id_text = entry.id.ok_or_else(|| bad(&key("id"), "is required"))?;
            let id = AgentId::new(&id_text).map_err(|e| bad(&key("id"), e))?;
            if agents.iter().any(|a| a.id == id) {
                return Err(bad(&key("id"), format!("agent {id} is listed twice")));
            }
            let token_file = match entry.token_file {
                Some(path) if !path.is_empty() => PathBuf::from(path),
                _ => return Err(bad(&key("token_file"), "is required (a file holding the agent's token)")),
            };
            let names = entry.symbols.unwrap_or_default();
            if names.is_empty() {
                return Err(bad(&key("symbols"), "must list at least one symbol"));
            }
            let mut symbols = Vec::with_capacity(names.len());
            for name in &names {
                let symbol = Symbol::new(name).map_err(|e| bad(&key("symbols"), e))?;
                if let Some((other, j)) = owner.get(&symbol) {
                    let why = format!("{symbol} is already driven by agent {other} (agents.agent[{j}]): one decision authority per symbol");
                    return Err(bad(&key("symbols"), why));
                }
                owner.insert(symbol, (id, i));
                symbols.push(symbol);
            }
            let rate = entry.max_intents_per_sec.unwrap_or(10);
            if rate == 0 || rate > MAX_INTENTS_PER_SEC {
                return Err(bad(&key("max_intents_per_sec"), format!("{rate} is outside 1..={MAX_INTENTS_PER_SEC}")));
            }
            let timeout_ms = entry.heartbeat_timeout_ms.unwrap_or(5_000);
            if !(MIN_HEARTBEAT_TIMEOUT_MS..=MAX_HEARTBEAT_TIMEOUT_MS).contains(&timeout_ms) {
                let why = format!("{timeout_ms} is outside {MIN_HEARTBEAT_TIMEOUT_MS}..={MAX_HEARTBEAT_TIMEOUT_MS}");
                return Err(bad(&key("heartbeat_timeout_ms"), why));
            }
            let on_silence = match entry.on_silence.as_deref() {
                None => OnSilence::StopEntries,
                Some(text) => text.parse().map_err(|e: String| bad(&key("on_silence"), e))?,
            };
            agents.push(AgentConfig {
                id,
                token_file: Some(token_file),
                token: None,
                symbols,
                max_intents_per_sec: rate,
                heartbeat_timeout: Duration::from_millis(timeout_ms),
                on_silence,
            });
        }
        self.agents = agents;
        Ok(())
    }

    /// The wiring's settings: each agent's token (read from its file unless set), and
    /// its symbols resolved among the traded ones (`names`: canonical names and aliases).
    pub fn settings(&self, names: &HashMap<String, Symbol>) -> Result<AgentSettings, ConfigError> {
        let mut agents = Vec::with_capacity(self.agents.len());
        let mut owner: HashMap<Symbol, AgentId> = HashMap::new();
        for (i, a) in self.agents.iter().enumerate() {
            let key = |field: &str| format!("agents.agent[{i}].{field}");
            let token = match (&a.token, &a.token_file) {
                (Some(token), _) => token.clone(),
                (None, Some(path)) => read_token_file(&key("token_file"), path)?,
                (None, None) => return Err(bad(&key("token_file"), "is required")),
            };
            let mut symbols = Vec::with_capacity(a.symbols.len());
            for symbol in &a.symbols {
                let traded = names
                    .get(symbol.as_str())
                    .copied()
                    .ok_or_else(|| bad(&key("symbols"), format!("{symbol} is not a traded symbol (engine.symbols)")))?;
                if let Some(other) = owner.insert(traded, a.id) {
                    let why = format!("{traded} is already driven by agent {other}: one decision authority per symbol");
                    return Err(bad(&key("symbols"), why));
                }
                symbols.push(traded);
            }
            agents.push(AgentSpec {
                id: a.id,
                token,
                symbols,
                max_intents_per_sec: a.max_intents_per_sec,
                heartbeat_timeout: a.heartbeat_timeout,
                on_silence: a.on_silence,
            });
        }
        Ok(AgentSettings {
            bind: self.endpoint.clone(),
            agents,
            stream: self.stream.clone(),
            stream_buffer: self.stream_buffer,
            ..AgentSettings::default()
        })
    }
}

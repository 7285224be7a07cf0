//! Runtime control: `ControlActor` holds `entry_enabled`, `exit_enabled` and `global_lock`,
//! globally and per symbol, applies changes at once (global flags through the shared
//! `PortfolioRisk`, symbol flags by message to the symbol's actor) and logs every change
//! with its old and new value and the caller. Control guards; it never creates an order.
//!
//! The endpoint is a ZMQ ROUTER (default `tcp://127.0.0.1:5557`) speaking one JSON object
//! per frame: `{"cmd":"set","scope":"global"|"<SYMBOL>","flag":"entry_enabled","value":false}`,
//! `{"cmd":"get"}`, `{"cmd":"status"}`, each with optional `"token"` (the control token)
//! and `"who"` (the operator's name, for the log). Replies are JSON with `"ok": true|false`.
//!
//! Who may do what: with a control token configured, every request (changes, `get` and
//! `status`) must carry it, compared in constant time; without one the endpoint is read-only
//! (`get`, `status`) and refuses every change, and it may only be bound on loopback, `ipc://`
//! or `inproc://`. A refusal is answered `unauthorized: ...` and logged at WARN
//! (`CONTROL_UNAUTHORIZED`) with the caller; a change is logged (`CONTROL_CHANGE`) with the
//! caller's ZMQ routing identity, peer address and `who`. A frame above [`MAX_FRAME_BYTES`]
//! is dropped by libzmq (ZMQ_MAXMSGSIZE, which also drops that connection), never buffered.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use engine::risk::{ControlFlags, PortfolioRisk};
use protocol::Symbol;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{debug, info, warn};

use crate::messages::{OperatorAction, SetSymbolFlags};
use crate::operator::{self, OperatorRoutes};
use crate::status::StatusBoard;
use engine::discrepancy::DiscrepancyCounts;
use std::future::Future;
use std::pin::Pin;

/// Largest control frame the endpoint accepts (ZMQ_MAXMSGSIZE). A real request is under
/// 200 bytes.
pub const MAX_FRAME_BYTES: i64 = 64 * 1024;
/// Requests queued per peer before libzmq stops reading that peer (ZMQ_RCVHWM).
const RECEIVE_HWM: i32 = 64;
/// Largest reply `engine ctl` accepts (a status of 10,000 symbols is about 2 MB).
const MAX_REPLY_BYTES: i64 = 64 * 1024 * 1024;
/// Frames in one request: the routing identity, an optional empty delimiter (REQ), the body.
const MAX_PARTS: usize = 3;
/// Bounds of a control token, in bytes.
pub const MIN_TOKEN_BYTES: usize = 16;
pub const MAX_TOKEN_BYTES: usize = 1024;
/// Longest `"who"`, in characters.
pub const MAX_WHO_CHARS: usize = 64;
/// At most this many `CONTROL_UNAUTHORIZED` lines a second; the rest are counted.
const REFUSAL_LOGS_PER_SEC: u32 = 20;
/// The environment variables holding the control token, or the path of a file holding it.
pub const TOKEN_ENV: &str = "ENGINE_CONTROL_TOKEN";
pub const TOKEN_FILE_ENV: &str = "ENGINE_CONTROL_TOKEN_FILE";

/// Why the control endpoint could not be set up, or a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the control token must be {MIN_TOKEN_BYTES}..={MAX_TOKEN_BYTES} bytes, got {0} (e.g. `head -c 32 /dev/urandom | base64`)")]
    TokenLength(usize),
    #[error("the control token must be printable ASCII without spaces")]
    TokenCharacters,
    #[error("control endpoint {endpoint:?} is not loopback and no control token is set: set {TOKEN_ENV} or {TOKEN_FILE_ENV} (or engine.control_token_file), or bind `control` to 127.0.0.1, ::1, localhost or ipc://")]
    NotLoopback { endpoint: String },
    #[error("cannot bind the control endpoint {endpoint:?}: {source} (set `control` to a free endpoint, or to \"off\" to run without runtime control)")]
    Bind { endpoint: String, source: zmq::Error },
    #[error("control socket: {0}")]
    Socket(#[from] zmq::Error),
    #[error("cannot start the control endpoint thread: {0}")]
    Thread(std::io::Error),
}

/// The control token. Never printed (its `Debug` is redacted) and compared only in
/// constant time.
#[derive(Clone)]
pub struct ControlToken(String);

impl ControlToken {
    /// A token: printable ASCII without spaces, [`MIN_TOKEN_BYTES`]..=[`MAX_TOKEN_BYTES`].
    pub fn new(text: &str) -> Result<ControlToken, ControlError> {
        if !(MIN_TOKEN_BYTES..=MAX_TOKEN_BYTES).contains(&text.len()) {
            return Err(ControlError::TokenLength(text.len()));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ControlError::TokenCharacters);
        }
        Ok(ControlToken(text.to_string()))
    }

    /// Whether `candidate` is this token, in time independent of where they differ.
    pub fn matches(&self, candidate: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), candidate)
    }

    /// The token's text, for a client to send.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlToken(<redacted>)")
    }
}

/// Compares a secret with a candidate without an early exit: the time depends only on the
/// secret's length, never on how much of the candidate matches.
pub fn constant_time_eq(secret: &[u8], candidate: &[u8]) -> bool {
    let mut diff = secret.len() ^ candidate.len();
    for (i, s) in secret.iter().enumerate() {
        let c = candidate.get(i).copied().unwrap_or(0);
        // black_box: the optimiser must not turn the fold into a compare that stops early.
        diff = std::hint::black_box(diff | usize::from(s ^ c));
    }
    diff == 0
}

/// Whether an endpoint can only be reached from this machine: `ipc://`, `inproc://`, or TCP
/// on a loopback address (127.0.0.0/8, ::1) or `localhost`. Anything else (`*`, 0.0.0.0,
/// an interface name, a host name) counts as reachable from the network.
pub fn is_local_endpoint(endpoint: &str) -> bool {
    if endpoint.starts_with("ipc://") || endpoint.starts_with("inproc://") {
        return true;
    }
    let Some(rest) = endpoint.strip_prefix("tcp://") else { return false };
    let host = match rest.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, port)) if port.starts_with(':') => host,
            _ => return false,
        },
        None => match rest.rsplit_once(':') {
            Some((host, _port)) => host,
            None => return false,
        },
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Where the control endpoint listens and the token it requires (`None`: read-only).
#[derive(Clone, Debug)]
pub struct ControlSettings {
    pub bind: String,
    pub token: Option<ControlToken>,
}

impl ControlSettings {
    /// An endpoint without a token: read-only, and only on loopback.
    pub fn without_token(bind: impl Into<String>) -> ControlSettings {
        ControlSettings { bind: bind.into(), token: None }
    }
}

/// Who sent a request: the peer's ZMQ routing identity (hex), its address where the
/// transport has one, and the optional `"who"` it gave.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    pub identity: String,
    pub peer: Option<String>,
    pub who: Option<String>,
}

impl Caller {
    /// A request from inside the process (the [`Control`] message).
    pub fn in_process() -> Caller {
        Caller { identity: "in-process".into(), peer: None, who: None }
    }

    fn from_peer(identity: &[u8], peer: Option<String>, who: Option<String>) -> Caller {
        let identity = identity.iter().map(|b| format!("{b:02x}")).collect();
        Caller { identity, peer, who }
    }
}

/// A control flag's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    EntryEnabled,
    ExitEnabled,
    GlobalLock,
}

impl Flag {
    pub const fn as_str(self) -> &'static str {
        match self {
            Flag::EntryEnabled => "entry_enabled",
            Flag::ExitEnabled => "exit_enabled",
            Flag::GlobalLock => "global_lock",
        }
    }
    fn get(self, flags: &ControlFlags) -> bool {
        match self {
            Flag::EntryEnabled => flags.entry_enabled,
            Flag::ExitEnabled => flags.exit_enabled,
            Flag::GlobalLock => flags.global_lock,
        }
    }
    fn set(self, flags: &mut ControlFlags, value: bool) {
        match self {
            Flag::EntryEnabled => flags.entry_enabled = value,
            Flag::ExitEnabled => flags.exit_enabled = value,
            Flag::GlobalLock => flags.global_lock = value,
        }
    }
}

/// What a `set` applies to: every symbol (the global flags) or one symbol. On the wire and
/// on the command line it is the text `"global"` or a symbol name; anything else is refused
/// when the frame is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Symbol(Symbol),
}

impl Scope {
    /// The wire name of the global scope.
    pub const GLOBAL: &'static str = "global";
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(text: &str) -> Result<Scope, String> {
        if text == Scope::GLOBAL {
            return Ok(Scope::Global);
        }
        Symbol::new(text)
            .map(Scope::Symbol)
            .map_err(|e| format!("unknown scope: {e}; use \"global\" or a traded symbol"))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str(Scope::GLOBAL),
            Scope::Symbol(symbol) => f.write_str(symbol.as_str()),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Scope, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A control request, as sent to the endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlRequest {
    Set {
        scope: Scope,
        flag: Flag,
        value: bool,
    },
    Get,
    Status,
    /// A halted symbol's book takes the venue's position, PnL and fees (stays halted).
    Adopt {
        symbol: Symbol,
    },
    /// A halted symbol trades again, if its book follows the venue.
    Resume {
        symbol: Symbol,
    },
    /// Close the circuit breaker now (a drawdown is measured from here on).
    ResetBreaker,
}

impl ControlRequest {
    /// Whether the request changes anything. A new command must answer here (the match has
    /// no wildcard), and every change needs the control token.
    pub fn is_change(&self) -> bool {
        match self {
            ControlRequest::Set { .. }
            | ControlRequest::Adopt { .. }
            | ControlRequest::Resume { .. }
            | ControlRequest::ResetBreaker => true,
            ControlRequest::Get | ControlRequest::Status => false,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            ControlRequest::Set { .. } => "set",
            ControlRequest::Get => "get",
            ControlRequest::Status => "status",
            ControlRequest::Adopt { .. } => "adopt",
            ControlRequest::Resume { .. } => "resume",
            ControlRequest::ResetBreaker => "reset_breaker",
        }
    }
}

/// One request frame: the request, its credential and the operator's name. `Debug` never
/// shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct ControlMessage {
    pub request: ControlRequest,
    pub token: Option<String>,
    pub who: Option<String>,
}

impl fmt::Debug for ControlMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlMessage")
            .field("request", &self.request)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("who", &self.who)
            .finish()
    }
}

impl ControlMessage {
    /// The frame: the request's JSON object with `"token"` and `"who"` added.
    pub fn encode(&self) -> Result<Vec<u8>, String> {
        let mut value = serde_json::to_value(&self.request).map_err(|e| e.to_string())?;
        let Value::Object(map) = &mut value else { return Err("a request encodes as a JSON object".into()) };
        if let Some(token) = &self.token {
            map.insert("token".into(), Value::String(token.clone()));
        }
        if let Some(who) = &self.who {
            map.insert("who".into(), Value::String(who.clone()));
        }
        serde_json::to_vec(&value).map_err(|e| e.to_string())
    }

    /// Parses a frame; an error never quotes the token.
    pub fn decode(body: &[u8]) -> Result<ControlMessage, String> {
        let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let Value::Object(mut map) = value else { return Err("expected a JSON object".into()) };
        let token = take_text(&mut map, "token")?;
        let who = take_text(&mut map, "who")?;
        if let Some(who) = &who {
            check_who(who)?;
        }
        let request = serde_json::from_value(Value::Object(map)).map_err(|e| e.to_string())?;
        Ok(ControlMessage { request, token, who })
    }
}

fn take_text(map: &mut serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match map.remove(key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    }
}

/// `who` goes into the log: 1..=64 characters, no control characters.
pub fn check_who(who: &str) -> Result<(), String> {
    let chars = who.chars().count();
    if chars == 0 || chars > MAX_WHO_CHARS || who.chars().any(char::is_control) {
        return Err(format!("\"who\" must be 1..={MAX_WHO_CHARS} characters without control characters"));
    }
    Ok(())
}

/// Whether a request may run: `Err` holds the reason given after "unauthorized: ".
pub fn authorize(
    expected: Option<&ControlToken>,
    request: &ControlRequest,
    given: Option<&str>,
) -> Result<(), &'static str> {
    match (expected, given) {
        (Some(token), Some(given)) if token.matches(given.as_bytes()) => Ok(()),
        (Some(_), Some(_)) => Err("wrong control token"),
        (Some(_), None) => Err("this engine requires the control token (\"token\"); engine ctl reads it from ENGINE_CONTROL_TOKEN or ENGINE_CONTROL_TOKEN_FILE"),
        (None, _) if request.is_change() => Err("this engine has no control token, so it accepts no changes; start it with ENGINE_CONTROL_TOKEN, ENGINE_CONTROL_TOKEN_FILE or engine.control_token_file"),
        (None, _) => Ok(()),
    }
}

/// The endpoint's reply.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ControlResponse {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<BTreeMap<String, ControlFlags>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<serde_json::Value>>,
    /// Portfolio-wide state in `status`: breaker, drawdown, gateway, discrepancies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub portfolio: Option<serde_json::Value>,
    /// What an operator command did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// In `status`, with agents configured: each agent's liveness and last-seen age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agents: Option<Vec<serde_json::Value>>,
}

impl ControlResponse {
    fn error(text: impl Into<String>) -> ControlResponse {
        ControlResponse { ok: false, error: Some(text.into()), ..Default::default() }
    }

    /// A refusal with its reason (for another front end, such as the HTTP server).
    pub fn refused(text: impl Into<String>) -> ControlResponse {
        ControlResponse::error(text)
    }
}

/// Apply a control request from inside the process (trusted: no token).
#[derive(Message)]
#[rtype(result = "ControlResponse")]
pub struct Control(pub ControlRequest);

/// Apply a control request for a caller inside the process that authorized it already
/// (the HTTP status page, which checks the same token): answered like an endpoint request
/// and logged with that caller.
#[derive(Message)]
#[rtype(result = "ControlResponse")]
pub struct ControlAs {
    pub request: ControlRequest,
    pub caller: Caller,
}

/// The latest changes asked of the control actor, newest last (at most
/// [`RECENT_CHANGES`]).
#[derive(Message)]
#[rtype(result = "Vec<ControlChange>")]
pub struct GetRecentChanges;

/// How many changes [`GetRecentChanges`] keeps.
pub const RECENT_CHANGES: usize = 50;

/// One change asked of the control actor and its answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ControlChange {
    /// Wall clock, ns since the Unix epoch.
    pub at_ns: u64,
    pub request: ControlRequest,
    /// Who asked: `who`, else the caller's identity.
    pub who: String,
    pub ok: bool,
    /// The error, or what the command did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

pub struct ControlActor {
    risk: Arc<PortfolioRisk>,
    symbols: HashMap<Symbol, Recipient<SetSymbolFlags>>,
    per_symbol: HashMap<Symbol, ControlFlags>,
    board: StatusBoard,
    /// Where `adopt` and `resume` go (`None`: not wired, refused).
    operator: Option<OperatorRoutes>,
    /// The shard that runs each symbol (shown in `status`).
    shard_of: HashMap<Symbol, usize>,
    recent: std::collections::VecDeque<ControlChange>,
    /// Each decision agent's liveness (shown in `status`).
    agents: Option<crate::agents::liveness::LivenessBoard>,
}

impl ControlActor {
    pub fn new(
        risk: Arc<PortfolioRisk>,
        symbols: HashMap<Symbol, Recipient<SetSymbolFlags>>,
        board: StatusBoard,
    ) -> ControlActor {
        let per_symbol = symbols.keys().map(|s| (*s, ControlFlags::default())).collect();
        ControlActor {
            risk,
            symbols,
            per_symbol,
            board,
            operator: None,
            shard_of: HashMap::new(),
            recent: std::collections::VecDeque::new(),
            agents: None,
        }
    }

    /// Each decision agent's liveness and last-seen age, for `status`.
    pub fn with_agents(mut self, board: crate::agents::liveness::LivenessBoard) -> ControlActor {
        self.agents = Some(board);
        self
    }

    /// The shard of each symbol, for `status`.
    pub fn with_shards(mut self, shard_of: HashMap<Symbol, usize>) -> ControlActor {
        self.shard_of = shard_of;
        self
    }

    /// Wires `adopt` and `resume`.
    pub fn with_operator(mut self, routes: OperatorRoutes) -> ControlActor {
        self.operator = Some(routes);
        self
    }

    /// Answers a request: at once, or (adopt, resume) after the gateway's snapshot and the
    /// symbol's decision.
    fn dispatch(&mut self, request: ControlRequest, caller: Caller) -> Pin<Box<dyn Future<Output = ControlResponse>>> {
        let (action, symbol) = match request {
            ControlRequest::Adopt { symbol } => (OperatorAction::Adopt, symbol),
            ControlRequest::Resume { symbol } => (OperatorAction::Resume, symbol),
            other => {
                let response = self.apply(other.clone(), &caller);
                if other.is_change() {
                    self.remember(other, &caller, &response);
                }
                return Box::pin(std::future::ready(response));
            }
        };
        // An operator command's outcome arrives later; the change log keeps that it was asked.
        let asked = match action {
            OperatorAction::Adopt => ControlRequest::Adopt { symbol },
            OperatorAction::Resume => ControlRequest::Resume { symbol },
        };
        let pending = ControlResponse { ok: true, message: Some("asked".into()), ..Default::default() };
        self.remember(asked, &caller, &pending);
        let Some(routes) = self.operator.clone() else {
            return Box::pin(std::future::ready(ControlResponse::error("operator commands are not wired here")));
        };
        let who = format!(
            "{} (identity {}, peer {})",
            caller.who.as_deref().unwrap_or("-"),
            caller.identity,
            caller.peer.as_deref().unwrap_or("-")
        );
        Box::pin(async move {
            match operator::execute(routes, action, symbol, who).await {
                Ok(message) => ControlResponse { ok: true, message: Some(message), ..Default::default() },
                Err(e) => ControlResponse::error(e),
            }
        })
    }

    fn reset_breaker(&mut self, caller: &Caller) -> ControlResponse {
        let before = self.risk.breaker_state();
        self.risk.reset_breaker(crate::time::wall_ns());
        warn!(
            target: "control",
            before = before.name(),
            drawdown_before_reset = %self.risk.drawdown(),
            identity = %caller.identity,
            peer = caller.peer.as_deref(),
            who = caller.who.as_deref(),
            "BREAKER_RESET by an operator"
        );
        ControlResponse {
            ok: true,
            message: Some(format!("breaker {} -> closed", before.name())),
            ..Default::default()
        }
    }

    fn portfolio(&self) -> serde_json::Value {
        let statuses = self.board.snapshot();
        let mut discrepancies = DiscrepancyCounts::default();
        for s in &statuses {
            discrepancies.add(&s.discrepancies);
        }
        let by_code: BTreeMap<&str, u64> = discrepancies.nonzero().map(|(c, n)| (c.as_str(), n)).collect();
        serde_json::json!({
            "breaker": self.risk.breaker_state().name(),
            "breaker_trips": self.risk.breaker_trips(),
            "breaker_transitions": self.risk.breaker_transitions(),
            "drawdown": self.risk.drawdown().to_string(),
            "gateway_up": self.risk.gateway_up(),
            "venue_reconciling": self.risk.venue_reconciling(),
            "discrepancies": by_code,
            "halted": statuses.iter().filter(|s| s.halt_reason.is_some()).count(),
        })
    }

    fn set(&mut self, scope: Scope, flag: Flag, value: bool, caller: &Caller) -> ControlResponse {
        let symbol = match scope {
            Scope::Global => {
                let old_flags = self.risk.flags();
                let mut flags = old_flags;
                flag.set(&mut flags, value);
                self.risk.set_flags(flags);
                let old = flag.get(&old_flags);
                log_change(scope, flag, old, value, caller);
                return ControlResponse { ok: true, old: Some(old), new: Some(value), ..Default::default() };
            }
            Scope::Symbol(symbol) => symbol,
        };
        let (Some(flags), Some(recipient)) = (self.per_symbol.get_mut(&symbol), self.symbols.get(&symbol)) else {
            return ControlResponse::error(format!("unknown symbol {:?}", symbol.as_str()));
        };
        let old = flag.get(flags);
        flag.set(flags, value);
        recipient.do_send(SetSymbolFlags { flags: *flags });
        log_change(scope, flag, old, value, caller);
        ControlResponse { ok: true, old: Some(old), new: Some(value), ..Default::default() }
    }

    fn flags(&self) -> BTreeMap<String, ControlFlags> {
        let mut all: BTreeMap<String, ControlFlags> =
            self.per_symbol.iter().map(|(s, f)| (s.to_string(), *f)).collect();
        all.insert(Scope::GLOBAL.into(), self.risk.flags());
        all
    }
}

fn log_change(scope: Scope, flag: Flag, old: bool, new: bool, caller: &Caller) {
    warn!(
        target: "control",
        scope = %scope,
        flag = flag.as_str(),
        old,
        new,
        identity = %caller.identity,
        peer = caller.peer.as_deref(),
        who = caller.who.as_deref(),
        "CONTROL_CHANGE"
    );
}

impl Actor for ControlActor {
    type Context = Context<Self>;
}

/// A request from the endpoint thread (not an actix thread), already authorized: the
/// answer goes back through a channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ControlFromEndpoint {
    pub request: ControlRequest,
    pub caller: Caller,
    pub reply: crossbeam_channel::Sender<ControlResponse>,
}

impl Handler<ControlFromEndpoint> for ControlActor {
    type Result = ();
    fn handle(&mut self, msg: ControlFromEndpoint, _: &mut Context<Self>) {
        let answer = self.dispatch(msg.request, msg.caller);
        let reply = msg.reply;
        actix::spawn(async move {
            let _ = reply.send(answer.await);
        });
    }
}

impl Handler<ControlAs> for ControlActor {
    type Result = ResponseFuture<ControlResponse>;
    fn handle(&mut self, msg: ControlAs, _: &mut Context<Self>) -> Self::Result {
        self.dispatch(msg.request, msg.caller)
    }
}

impl Handler<GetRecentChanges> for ControlActor {
    type Result = MessageResult<GetRecentChanges>;
    fn handle(&mut self, _: GetRecentChanges, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.recent.iter().cloned().collect())
    }
}

impl Handler<Control> for ControlActor {
    type Result = ResponseFuture<ControlResponse>;
    fn handle(&mut self, msg: Control, _: &mut Context<Self>) -> Self::Result {
        self.dispatch(msg.0, Caller::in_process())
    }
}

impl ControlActor {
    /// Keeps a change and its answer in the bounded recent-changes ring.
    fn remember(&mut self, request: ControlRequest, caller: &Caller, response: &ControlResponse) {
        if self.recent.len() == RECENT_CHANGES {
            self.recent.pop_front();
        }
        self.recent.push_back(ControlChange {
            at_ns: crate::time::wall_ns(),
            request,
            who: caller.who.clone().unwrap_or_else(|| caller.identity.clone()),
            ok: response.ok,
            detail: response.error.clone().or_else(|| response.message.clone()),
        });
    }

    fn apply(&mut self, request: ControlRequest, caller: &Caller) -> ControlResponse {
        match request {
            ControlRequest::Set { scope, flag, value } => self.set(scope, flag, value, caller),
            ControlRequest::Get => ControlResponse { ok: true, flags: Some(self.flags()), ..Default::default() },
            ControlRequest::ResetBreaker => self.reset_breaker(caller),
            ControlRequest::Adopt { .. } | ControlRequest::Resume { .. } => {
                ControlResponse::error("adopt and resume are answered asynchronously")
            }
            ControlRequest::Status => {
                let status = self
                    .board
                    .snapshot()
                    .iter()
                    .map(|s| {
                        let discrepancies: BTreeMap<&str, u64> =
                            s.discrepancies.nonzero().map(|(c, n)| (c.as_str(), n)).collect();
                        serde_json::json!({
                            "symbol": s.symbol.as_str(),
                            "shard": self.shard_of.get(&s.symbol),
                            "state": s.state,
                            "halt_reason": s.halt_reason.map(|h| h.as_str()),
                            "position": s.position.map(|p| format!("{} {}", p.direction.as_str(), p.qty)),
                            "cost": s.position.map(|p| p.cost.to_string()),
                            "realized": s.realized.to_string(),
                            "fees": s.fees.to_string(),
                            "orders": s.counters.orders,
                            "lock_held": s.order_in_flight.is_some(),
                            "discrepancies": discrepancies,
                            "last_discrepancy": s.last_discrepancy.map(|c| c.as_str()),
                            "venue_agrees": s.venue_agrees,
                        })
                    })
                    .collect();
                let portfolio = Some(self.portfolio());
                let agents = self.agents.as_ref().map(|b| b.to_json(crate::time::wall_ns())).filter(|a| !a.is_empty());
                ControlResponse { ok: true, status: Some(status), portfolio, agents, ..Default::default() }
            }
        }
    }
}

/// The running control endpoint.
pub struct ControlEndpoint {
    served: crate::router_endpoint::ServedRouter,
    pub endpoint: String,
}

impl ControlEndpoint {
    pub fn stop(&mut self) {
        self.served.stop();
    }
}

/// A bound control ROUTER that does not answer yet: the engine binds it before any actor
/// starts (no trading without a kill switch) and serves it once the control actor exists.
pub struct BoundControl {
    router: zmq::Socket,
    token: Option<ControlToken>,
    endpoint: String,
}

/// Binds the control ROUTER: refuses a non-loopback endpoint without a token, and limits
/// frames to [`MAX_FRAME_BYTES`].
pub fn bind(ctx: &zmq::Context, settings: &ControlSettings) -> Result<BoundControl, ControlError> {
    let bind = settings.bind.as_str();
    if settings.token.is_none() && !is_local_endpoint(bind) {
        return Err(ControlError::NotLoopback { endpoint: bind.to_string() });
    }
    let router = ctx.socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    router.set_maxmsgsize(MAX_FRAME_BYTES)?;
    router.set_rcvhwm(RECEIVE_HWM)?;
    if bind.starts_with("tcp://[") {
        router.set_ipv6(true)?;
    }
    router.bind(bind).map_err(|source| ControlError::Bind { endpoint: bind.to_string(), source })?;
    let endpoint = router.get_last_endpoint()?.unwrap_or_else(|_| bind.to_string());
    match &settings.token {
        Some(_) => info!(target: "control", %endpoint, "control endpoint bound; every request needs the control token"),
        None => {
            warn!(target: "control", %endpoint, "CONTROL_READ_ONLY: no control token configured, so the control endpoint answers get and status and refuses every change; set ENGINE_CONTROL_TOKEN, ENGINE_CONTROL_TOKEN_FILE or engine.control_token_file")
        }
    }
    Ok(BoundControl { router, token: settings.token.clone(), endpoint })
}

impl BoundControl {
    /// The endpoint actually bound (a `*` port resolved).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Serves requests on the endpoint's own thread, handing authorized ones to `handler`.
    pub fn serve(self, handler: Recipient<ControlFromEndpoint>) -> Result<ControlEndpoint, ControlError> {
        let BoundControl { router, token, endpoint } = self;
        let mut refusals = LogBudget::default();
        // Control is rare: a short poll timeout only bounds how fast stop is seen.
        let served = crate::router_endpoint::serve(router, "control-endpoint", 200, "control", move |incoming| {
            let reply = answer(token.as_ref(), incoming, &handler, &mut refusals);
            serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"ok\":false}".to_vec())
        })
        .map_err(ControlError::Thread)?;
        Ok(ControlEndpoint { served, endpoint })
    }
}

/// Answers one request: decoded, authorized against `token`, handed to the control actor.
fn answer(
    token: Option<&ControlToken>,
    incoming: &Incoming,
    handler: &Recipient<ControlFromEndpoint>,
    refusals: &mut LogBudget,
) -> ControlResponse {
    let Some(body) = &incoming.body else {
        return ControlResponse::error("bad control request: expected one JSON frame");
    };
    let message = match ControlMessage::decode(body) {
        Ok(m) => m,
        Err(e) => return ControlResponse::error(format!("bad control request: {e}")),
    };
    let caller = Caller::from_peer(&incoming.identity, incoming.peer.clone(), message.who);
    if let Err(reason) = authorize(token, &message.request, message.token.as_deref()) {
        if let Some(suppressed) = refusals.take(Instant::now()) {
            warn!(
                target: "control",
                identity = %caller.identity,
                peer = caller.peer.as_deref(),
                who = caller.who.as_deref(),
                cmd = message.request.name(),
                reason,
                suppressed,
                "CONTROL_UNAUTHORIZED: control request refused"
            );
        }
        return ControlResponse::error(format!("unauthorized: {reason}"));
    }
    debug!(target: "control", identity = %caller.identity, who = caller.who.as_deref(), cmd = message.request.name(), "control request");
    ask(handler, message.request, caller)
}

/// Binds and serves in one step (see [`bind`] and [`BoundControl::serve`]).
pub fn serve(
    ctx: &zmq::Context,
    settings: &ControlSettings,
    handler: Recipient<ControlFromEndpoint>,
) -> Result<ControlEndpoint, ControlError> {
    bind(ctx, settings)?.serve(handler)
}

/// One request as it came off the ROUTER.
pub(crate) struct Incoming {
    pub(crate) identity: Vec<u8>,
    pub(crate) peer: Option<String>,
    /// `None` when the request had too many frames.
    pub(crate) body: Option<Vec<u8>>,
    /// The request had an empty delimiter frame (a REQ client): the reply gets one too.
    pub(crate) delimited: bool,
}

/// Reads one multi-part request (libzmq delivers it whole, so this does not block).
pub(crate) fn receive(router: &zmq::Socket) -> Option<Incoming> {
    let mut incoming = Incoming { identity: Vec::new(), peer: None, body: None, delimited: false };
    let mut parts = 0usize;
    loop {
        let mut msg = router.recv_msg(0).ok()?;
        parts += 1;
        let more = msg.get_more();
        if parts == 1 {
            incoming.identity = msg.to_vec();
        } else if parts <= MAX_PARTS {
            if incoming.peer.is_none() {
                incoming.peer = msg.gets("Peer-Address").map(str::to_owned);
            }
            incoming.delimited = parts == 3 && incoming.body.as_ref().is_some_and(Vec::is_empty);
            incoming.body = Some(msg.to_vec());
        }
        if !more {
            break;
        }
    }
    if parts > MAX_PARTS || (parts == 3 && !incoming.delimited) {
        incoming.body = None;
    }
    Some(incoming)
}

/// Rate limit of the refusal log: at most [`REFUSAL_LOGS_PER_SEC`] lines a second; the
/// lines left out are counted and reported with the next one.
#[derive(Debug, Default)]
pub(crate) struct LogBudget {
    window: Option<Instant>,
    used: u32,
    suppressed: u64,
}

impl LogBudget {
    /// `Some(lines left out since the last one)` if this line may be written.
    pub(crate) fn take(&mut self, now: Instant) -> Option<u64> {
        match self.window {
            Some(start) if now.duration_since(start) < Duration::from_secs(1) => {}
            _ => {
                self.window = Some(now);
                self.used = 0;
            }
        }
        if self.used >= REFUSAL_LOGS_PER_SEC {
            self.suppressed = self.suppressed.saturating_add(1);
            return None;
        }
        self.used += 1;
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// Forwards a request to the control actor and waits (bounded) for its answer.
fn ask(handler: &Recipient<ControlFromEndpoint>, request: ControlRequest, caller: Caller) -> ControlResponse {
    let (reply, answer) = crossbeam_channel::bounded(1);
    if handler.try_send(ControlFromEndpoint { request, caller, reply }).is_err() {
        return ControlResponse::error("control actor is busy or stopped");
    }
    answer
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_else(|_| ControlResponse::error("control actor did not answer in time"))
}

/// What `engine ctl` sends with each request.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    pub token: Option<ControlToken>,
    pub who: Option<String>,
}

/// Client side of `engine ctl`: sends one request and waits for the reply.
pub fn client_request(
    endpoint: &str,
    request: &ControlRequest,
    credentials: &Credentials,
    timeout: Duration,
) -> Result<ControlResponse, String> {
    let ctx = zmq::Context::new();
    let dealer = ctx.socket(zmq::DEALER).map_err(|e| e.to_string())?;
    dealer.set_linger(0).map_err(|e| e.to_string())?;
    dealer.set_maxmsgsize(MAX_REPLY_BYTES).map_err(|e| e.to_string())?;
    dealer.connect(endpoint).map_err(|e| format!("cannot connect to {endpoint}: {e}"))?;
    let message = ControlMessage {
        request: request.clone(),
        token: credentials.token.as_ref().map(|t| t.expose().to_string()),
        who: credentials.who.clone(),
    };
    dealer.send(message.encode()?, 0).map_err(|e| e.to_string())?;
    let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    match dealer.poll(zmq::POLLIN, ms) {
        Ok(n) if n > 0 => {}
        _ => return Err(format!("no answer from the control endpoint {endpoint} within {ms} ms")),
    }
    let reply = dealer.recv_bytes(0).map_err(|e| e.to_string())?;
    serde_json::from_slice(&reply).map_err(|e| format!("bad reply from the control endpoint: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use engine::risk::RiskConfig;

    const TOKEN: &str = "s3cret-token-0123456789";

    fn token() -> ControlToken {
        ControlToken::new(TOKEN).expect("a valid token")
    }

    #[test]
    fn constant_time_eq_is_plain_equality() {
        let cases: [(&[u8], &[u8], bool); 7] = [
            (b"abcdefgh", b"abcdefgh", true),
            (b"abcdefgh", b"abcdefgX", false),
            (b"abcdefgh", b"Xbcdefgh", false),
            (b"abcdefgh", b"abcdefg", false),
            (b"abcdefgh", b"abcdefgh\0", false),
            (b"abcdefgh", b"", false),
            (b"", b"", true),
        ];
        for (secret, candidate, equal) in cases {
            assert_eq!(constant_time_eq(secret, candidate), equal, "{secret:?} vs {candidate:?}");
        }
    }

    #[test]
    fn tokens_are_validated_and_never_printed() {
        assert!(matches!(ControlToken::new("short"), Err(ControlError::TokenLength(5))));
        assert!(matches!(ControlToken::new(&"x".repeat(MAX_TOKEN_BYTES + 1)), Err(ControlError::TokenLength(_))));
        assert!(matches!(ControlToken::new("has a space in it ok"), Err(ControlError::TokenCharacters)));
        assert!(matches!(ControlToken::new("ünïcödé-töken-long"), Err(ControlError::TokenCharacters)));
        let t = token();
        assert!(t.matches(TOKEN.as_bytes()));
        assert!(!t.matches(b"s3cret-token-012345678"));
        assert!(!format!("{t:?}").contains(TOKEN));
        let message = ControlMessage { request: ControlRequest::Get, token: Some(TOKEN.into()), who: None };
        assert!(!format!("{message:?}").contains(TOKEN));
    }

    #[test]
    fn only_loopback_ipc_and_inproc_count_as_local() {
        let cases = [
            ("tcp://127.0.0.1:5557", true),
            ("tcp://127.0.0.2:5557", true),
            ("tcp://localhost:5557", true),
            ("tcp://LOCALHOST:5557", true),
            ("tcp://[::1]:5557", true),
            ("tcp://127.0.0.1:*", true),
            ("ipc:///tmp/engine-control", true),
            ("inproc://control", true),
            ("tcp://0.0.0.0:5557", false),
            ("tcp://*:5557", false),
            ("tcp://[::]:5557", false),
            ("tcp://10.0.0.5:5557", false),
            ("tcp://eth0:5557", false),
            ("tcp://127.0.0.1.example.com:5557", false),
            ("tcp://localhost.:5557", false),
            ("tcp://[::1]5557", false),
            ("tcp://127.0.0.1", false),
            ("udp://127.0.0.1:5557", false),
            ("", false),
        ];
        for (endpoint, local) in cases {
            assert_eq!(is_local_endpoint(endpoint), local, "{endpoint}");
        }
    }

    #[test]
    fn a_frame_carries_token_and_who_beside_the_request() {
        let message = ControlMessage {
            request: ControlRequest::Set { scope: Scope::Global, flag: Flag::GlobalLock, value: true },
            token: Some(TOKEN.into()),
            who: Some("alice".into()),
        };
        let frame = message.encode().unwrap();
        assert_eq!(ControlMessage::decode(&frame).unwrap(), message);
        let bare = ControlMessage::decode(br#"{"cmd":"get"}"#).unwrap();
        assert_eq!((bare.request, bare.token, bare.who), (ControlRequest::Get, None, None));
        for (bad, why) in [
            (&br#"{"cmd":"get","token":5}"#[..], "\"token\" must be a string"),
            (br#"{"cmd":"get","who":""}"#, "\"who\" must be"),
            (br#"{"cmd":"get","who":"eve\nCONTROL_CHANGE"}"#, "\"who\" must be"),
            (br#"{"cmd":"set","scope":"global","flag":"global_lock","value":true,"tokn":"x"}"#, "unknown field"),
            (br#"{"cmd":"set","scope":"all symbols","flag":"global_lock","value":true}"#, "unknown scope"),
            (br#"{"cmd":"set","scope":"","flag":"global_lock","value":true}"#, "unknown scope"),
            (br#"{"cmd":"adopt","symbol":"BTC/USD"}"#, "BTC/USD"),
            (br#"[1,2]"#, "expected a JSON object"),
            (b"\xff\xfe", "expected value"),
        ] {
            let err = ControlMessage::decode(bad).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
        let long_who = format!(r#"{{"cmd":"get","who":"{}"}}"#, "w".repeat(MAX_WHO_CHARS + 1));
        assert!(ControlMessage::decode(long_who.as_bytes()).is_err());
        let wrong = format!(r#"{{"cmd":"set","scope":"global","flag":"nope","value":true,"token":"{TOKEN}"}}"#);
        assert!(!ControlMessage::decode(wrong.as_bytes()).unwrap_err().contains(TOKEN));
    }

    #[test]
    fn scope_is_global_or_a_symbol() {
        assert_eq!("global".parse::<Scope>(), Ok(Scope::Global));
        let btc = Symbol::new("BTCUSD.s").unwrap();
        assert_eq!("BTCUSD.s".parse::<Scope>(), Ok(Scope::Symbol(btc)));
        assert!("GLOBAL!".parse::<Scope>().unwrap_err().contains("unknown scope"));
        for scope in [Scope::Global, Scope::Symbol(btc)] {
            let text = serde_json::to_string(&scope).unwrap();
            assert_eq!(serde_json::from_str::<Scope>(&text).unwrap(), scope, "{text}");
        }
    }

    #[test]
    fn authorization_table() {
        let t = token();
        let set = ControlRequest::Set { scope: Scope::Global, flag: Flag::GlobalLock, value: true };
        let get = ControlRequest::Get;
        // With a token configured every request needs it.
        assert!(authorize(Some(&t), &set, Some(TOKEN)).is_ok());
        assert!(authorize(Some(&t), &get, Some(TOKEN)).is_ok());
        assert_eq!(authorize(Some(&t), &set, Some("s3cret-token-0123456788")), Err("wrong control token"));
        assert_eq!(authorize(Some(&t), &set, Some("")), Err("wrong control token"));
        assert!(authorize(Some(&t), &set, None).unwrap_err().contains("requires the control token"));
        assert!(authorize(Some(&t), &get, None).is_err());
        assert!(authorize(Some(&t), &ControlRequest::Status, None).is_err());
        // Without one the endpoint is read-only, whatever the request carries.
        assert!(authorize(None, &get, None).is_ok());
        assert!(authorize(None, &ControlRequest::Status, Some(TOKEN)).is_ok());
        assert!(authorize(None, &set, None).unwrap_err().contains("accepts no changes"));
        assert!(authorize(None, &set, Some(TOKEN)).is_err());
    }

    #[test]
    fn refusal_logging_is_rate_limited_and_counts_what_it_leaves_out() {
        let mut budget = LogBudget::default();
        let start = Instant::now();
        for _ in 0..REFUSAL_LOGS_PER_SEC {
            assert_eq!(budget.take(start), Some(0));
        }
        assert_eq!(budget.take(start), None);
        assert_eq!(budget.take(start + Duration::from_millis(500)), None);
        assert_eq!(budget.take(start + Duration::from_secs(1)), Some(2));
        assert_eq!(budget.take(start + Duration::from_secs(1)), Some(0));
    }

    #[test]
    fn a_non_loopback_bind_without_a_token_is_refused() {
        let ctx = zmq::Context::new();
        for endpoint in ["tcp://0.0.0.0:5557", "tcp://*:5557", "tcp://10.1.2.3:5557"] {
            let err = bind(&ctx, &ControlSettings::without_token(endpoint)).err().expect("refused");
            assert!(matches!(err, ControlError::NotLoopback { .. }), "{endpoint}: {err}");
            assert!(err.to_string().contains("`control`"), "{err}");
        }
        let with_token = ControlSettings { bind: "tcp://0.0.0.0:*".into(), token: Some(token()) };
        assert!(bind(&ctx, &with_token).is_ok());
    }

    #[test]
    fn a_busy_endpoint_is_an_error_naming_control() {
        let ctx = zmq::Context::new();
        let first = bind(&ctx, &ControlSettings::without_token("tcp://127.0.0.1:*")).expect("bound");
        let err = bind(&ctx, &ControlSettings::without_token(first.endpoint())).err().expect("second bind fails");
        assert!(matches!(err, ControlError::Bind { .. }), "{err}");
        assert!(err.to_string().contains("`control`"), "{err}");
    }

    /// A control actor on its own actix system, and its endpoint on loopback.
    struct Running {
        endpoint: ControlEndpoint,
        risk: Arc<PortfolioRisk>,
        system: actix::System,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    impl Running {
        fn start(token: Option<ControlToken>) -> Running {
            let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
            let (tx, rx) = crossbeam_channel::bounded(1);
            let actor_risk = Arc::clone(&risk);
            let thread = std::thread::spawn(move || {
                let system = actix_rt::System::new();
                let addr = system
                    .block_on(async { ControlActor::new(actor_risk, HashMap::new(), StatusBoard::default()).start() });
                let _ = tx.send((addr, actix::System::current()));
                let _ = system.run();
            });
            let (addr, system) = rx.recv_timeout(Duration::from_secs(5)).expect("actix system started");
            let ctx = zmq::Context::new();
            let settings = ControlSettings { bind: "tcp://127.0.0.1:*".into(), token };
            let endpoint = serve(&ctx, &settings, addr.recipient()).expect("endpoint serves");
            Running { endpoint, risk, system, thread: Some(thread) }
        }

        fn ask(&self, request: ControlRequest, token: Option<&str>) -> ControlResponse {
            self.ask_as(request, token, "tester")
        }

        fn ask_as(&self, request: ControlRequest, token: Option<&str>, who: &str) -> ControlResponse {
            let credentials =
                Credentials { token: token.map(|t| ControlToken::new(t).expect("valid token")), who: Some(who.into()) };
            client_request(&self.endpoint.endpoint, &request, &credentials, Duration::from_secs(2)).expect("a reply")
        }

        fn lock(&self, token: Option<&str>) -> ControlResponse {
            self.ask(ControlRequest::Set { scope: Scope::Global, flag: Flag::GlobalLock, value: true }, token)
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            self.endpoint.stop();
            self.system.stop();
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn refused(reply: &ControlResponse) -> bool {
        !reply.ok && reply.error.as_deref().is_some_and(|e| e.starts_with("unauthorized: "))
    }

    #[test]
    fn with_a_token_a_request_without_it_or_with_a_wrong_one_changes_nothing() {
        let engine = Running::start(Some(token()));
        assert!(refused(&engine.lock(None)));
        assert!(refused(&engine.lock(Some("wrong-token-0123456789"))));
        assert!(refused(&engine.ask(ControlRequest::Get, None)));
        assert!(!engine.risk.flags().global_lock, "a refused request changed nothing");

        let reply = engine.lock(Some(TOKEN));
        assert!(reply.ok, "{:?}", reply.error);
        assert_eq!((reply.old, reply.new), (Some(false), Some(true)));
        assert!(engine.risk.flags().global_lock);
        let flags = engine.ask(ControlRequest::Get, Some(TOKEN));
        assert!(flags.ok && flags.flags.is_some_and(|f| f["global"].global_lock));
    }

    #[test]
    fn without_a_token_the_endpoint_is_read_only() {
        let engine = Running::start(None);
        let reply = engine.lock(None);
        assert!(refused(&reply), "{reply:?}");
        assert!(reply.error.unwrap_or_default().contains("no control token"));
        assert!(refused(&engine.lock(Some(TOKEN))));
        assert!(!engine.risk.flags().global_lock);
        assert!(engine.ask(ControlRequest::Get, None).ok);
        assert!(engine.ask(ControlRequest::Status, None).ok);
    }

    /// Everything logged in this test binary, as JSON lines (one global subscriber: the
    /// actor and the endpoint log from their own threads).
    fn captured_logs() -> String {
        use std::sync::{Mutex, OnceLock};
        static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
        struct Capture(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                if let Ok(mut logs) = self.0.lock() {
                    logs.extend_from_slice(buf);
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let logs = LOGS.get_or_init(|| {
            let logs = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&logs);
            let subscriber = tracing_subscriber::fmt()
                .json()
                .with_max_level(tracing::Level::INFO)
                .with_writer(move || Capture(Arc::clone(&sink)))
                .finish();
            let _ = tracing::subscriber::set_global_default(subscriber);
            logs
        });
        logs.lock().map(|l| String::from_utf8_lossy(&l).into_owned()).unwrap_or_default()
    }

    #[test]
    fn changes_and_refusals_are_logged_with_the_caller_and_never_the_token() {
        captured_logs();
        let engine = Running::start(Some(token()));
        assert!(refused(&engine.ask_as(ControlRequest::Status, Some("wrong-token-0123456789"), "mallory-7f3a")));
        let lock = ControlRequest::Set { scope: Scope::Global, flag: Flag::GlobalLock, value: true };
        assert!(engine.ask_as(lock, Some(TOKEN), "alice-7f3a").ok);
        let logs = captured_logs();
        let line = |marker: &str, who: &str| {
            logs.lines().find(|l| l.contains(marker) && l.contains(&format!("\"who\":\"{who}\""))).map(str::to_owned)
        };
        let change = line("CONTROL_CHANGE", "alice-7f3a").expect("the change is logged with who");
        assert!(change.contains("\"level\":\"WARN\""), "{change}");
        assert!(change.contains("\"identity\":\"") && change.contains("\"peer\":\"127.0.0.1"), "{change}");
        assert!(change.contains("\"flag\":\"global_lock\"") && change.contains("\"new\":true"), "{change}");
        let refusal = line("CONTROL_UNAUTHORIZED", "mallory-7f3a").expect("the refusal is logged with who");
        assert!(refusal.contains("\"level\":\"WARN\"") && refusal.contains("\"identity\":\""), "{refusal}");
        assert!(refusal.contains("wrong control token"), "{refusal}");
        assert!(!logs.contains(TOKEN), "the token was logged");
    }

    /// Sends one raw frame from its own DEALER; the reply, if one comes within `wait`.
    fn raw(endpoint: &str, frame: &[u8], wait: Duration) -> Option<ControlResponse> {
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER).ok()?;
        dealer.set_linger(0).ok()?;
        dealer.connect(endpoint).ok()?;
        dealer.send(frame, 0).ok()?;
        let ms = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
        match dealer.poll(zmq::POLLIN, ms) {
            Ok(n) if n > 0 => serde_json::from_slice(&dealer.recv_bytes(0).ok()?).ok(),
            _ => None,
        }
    }

    /// A valid, authorized `set global_lock true`, padded with JSON whitespace to `len` bytes.
    fn padded_lock(len: usize) -> Vec<u8> {
        let message = ControlMessage {
            request: ControlRequest::Set { scope: Scope::Global, flag: Flag::GlobalLock, value: true },
            token: Some(TOKEN.into()),
            who: None,
        };
        let mut frame = message.encode().unwrap();
        frame.resize(len, b' ');
        frame
    }

    #[test]
    fn an_oversized_frame_never_reaches_the_actor_and_the_endpoint_keeps_answering() {
        let engine = Running::start(Some(token()));
        let limit = usize::try_from(MAX_FRAME_BYTES).unwrap();
        // One byte over the limit: libzmq drops it (and that connection); no reply, no change.
        let over = raw(&engine.endpoint.endpoint, &padded_lock(limit + 1), Duration::from_millis(700));
        assert!(over.is_none(), "an oversized frame was answered: {over:?}");
        // A 4 MiB frame, the same.
        assert!(raw(&engine.endpoint.endpoint, &padded_lock(4 << 20), Duration::from_millis(700)).is_none());
        assert!(!engine.risk.flags().global_lock, "an oversized frame reached the control actor");
        // Still answering; and a frame exactly at the limit is a request like any other.
        assert!(engine.ask(ControlRequest::Get, Some(TOKEN)).ok);
        let at_limit = raw(&engine.endpoint.endpoint, &padded_lock(limit), Duration::from_secs(2)).expect("answered");
        assert!(at_limit.ok, "{:?}", at_limit.error);
        assert!(engine.risk.flags().global_lock);
    }

    #[test]
    fn a_request_with_extra_frames_is_refused_without_reaching_the_actor() {
        let engine = Running::start(Some(token()));
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER).unwrap();
        dealer.set_linger(0).unwrap();
        dealer.connect(&engine.endpoint.endpoint).unwrap();
        let frame = padded_lock(100);
        dealer.send_multipart([&b"x"[..], &frame[..], &frame[..]], 0).unwrap();
        assert_eq!(dealer.poll(zmq::POLLIN, 2_000).unwrap(), 1);
        let reply: ControlResponse = serde_json::from_slice(&dealer.recv_bytes(0).unwrap()).unwrap();
        assert!(!reply.ok && reply.error.unwrap_or_default().contains("one JSON frame"));
        assert!(!engine.risk.flags().global_lock);
    }
}

//! Runtime control: `ControlActor` holds `entry_enabled`, `exit_enabled` and `global_lock`,
//! globally and per symbol, applies changes at once (global flags through the shared
//! `PortfolioRisk`, symbol flags by message to the symbol's actor) and logs every change
//! with its old and new value. Control guards; it never creates an order.
//!
//! The endpoint is a ZMQ ROUTER (default `tcp://127.0.0.1:5557`) speaking one JSON object
//! per frame: `{"cmd":"set","scope":"global"|"<SYMBOL>","flag":"entry_enabled","value":false}`,
//! `{"cmd":"get"}`, `{"cmd":"status"}`. Replies are JSON with `"ok": true|false`.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix::prelude::*;
use engine::risk::{ControlFlags, PortfolioRisk};
use protocol::Symbol;
use serde::{Deserialize, Serialize};
use tracing::{error, warn};

use crate::messages::SetSymbolFlags;
use crate::status::StatusBoard;

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

/// A control request, as sent to the endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlRequest {
    Set { scope: String, flag: Flag, value: bool },
    Get,
    Status,
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
}

impl ControlResponse {
    fn error(text: impl Into<String>) -> ControlResponse {
        ControlResponse { ok: false, error: Some(text.into()), ..Default::default() }
    }
}

/// Apply a control request.
#[derive(Message)]
#[rtype(result = "ControlResponse")]
pub struct Control(pub ControlRequest);

pub struct ControlActor {
    risk: Arc<PortfolioRisk>,
    symbols: HashMap<Symbol, Recipient<SetSymbolFlags>>,
    per_symbol: HashMap<Symbol, ControlFlags>,
    board: StatusBoard,
}

impl ControlActor {
    pub fn new(
        risk: Arc<PortfolioRisk>,
        symbols: HashMap<Symbol, Recipient<SetSymbolFlags>>,
        board: StatusBoard,
    ) -> ControlActor {
        let per_symbol = symbols.keys().map(|s| (*s, ControlFlags::default())).collect();
        ControlActor { risk, symbols, per_symbol, board }
    }

    fn set(&mut self, scope: &str, flag: Flag, value: bool) -> ControlResponse {
        if scope == "global" {
            let old_flags = self.risk.flags();
            let mut flags = old_flags;
            flag.set(&mut flags, value);
            self.risk.set_flags(flags);
            let old = flag.get(&old_flags);
            warn!(target: "control", scope, flag = flag.as_str(), old, new = value, "CONTROL_CHANGE");
            return ControlResponse { ok: true, old: Some(old), new: Some(value), ..Default::default() };
        }
        let Ok(symbol) = Symbol::new(scope) else {
            return ControlResponse::error(format!("unknown scope {scope:?}: use \"global\" or a traded symbol"));
        };
        let (Some(flags), Some(recipient)) = (self.per_symbol.get_mut(&symbol), self.symbols.get(&symbol)) else {
            return ControlResponse::error(format!("unknown symbol {scope:?}"));
        };
        let old = flag.get(flags);
        flag.set(flags, value);
        recipient.do_send(SetSymbolFlags { flags: *flags });
        warn!(target: "control", scope, flag = flag.as_str(), old, new = value, "CONTROL_CHANGE");
        ControlResponse { ok: true, old: Some(old), new: Some(value), ..Default::default() }
    }

    fn flags(&self) -> BTreeMap<String, ControlFlags> {
        let mut all: BTreeMap<String, ControlFlags> =
            self.per_symbol.iter().map(|(s, f)| (s.to_string(), *f)).collect();
        all.insert("global".into(), self.risk.flags());
        all
    }
}

impl Actor for ControlActor {
    type Context = Context<Self>;
}

/// A request from the endpoint thread (not an actix thread): the answer goes back through
/// a channel.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ControlFromEndpoint {
    pub request: ControlRequest,
    pub reply: crossbeam_channel::Sender<ControlResponse>,
}

impl Handler<ControlFromEndpoint> for ControlActor {
    type Result = ();
    fn handle(&mut self, msg: ControlFromEndpoint, _: &mut Context<Self>) {
        let _ = msg.reply.send(self.apply(msg.request));
    }
}

impl Handler<Control> for ControlActor {
    type Result = MessageResult<Control>;
    fn handle(&mut self, msg: Control, _: &mut Context<Self>) -> Self::Result {
        MessageResult(self.apply(msg.0))
    }
}

impl ControlActor {
    fn apply(&mut self, request: ControlRequest) -> ControlResponse {
        match request {
            ControlRequest::Set { scope, flag, value } => self.set(&scope, flag, value),
            ControlRequest::Get => ControlResponse { ok: true, flags: Some(self.flags()), ..Default::default() },
            ControlRequest::Status => {
                let status = self
                    .board
                    .snapshot()
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "symbol": s.symbol.as_str(),
                            "state": s.state,
                            "position": s.position.map(|p| format!("{} {}", p.direction.as_str(), p.qty)),
                            "realized": s.realized.to_string(),
                            "fees": s.fees.to_string(),
                            "orders": s.counters.orders,
                            "lock_held": s.order_in_flight.is_some(),
                        })
                    })
                    .collect();
                ControlResponse { ok: true, status: Some(status), ..Default::default() }
            }
        }
    }
}

/// The running control endpoint.
pub struct ControlEndpoint {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub endpoint: String,
}

impl ControlEndpoint {
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ControlEndpoint {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Binds the control ROUTER and serves requests on its own thread.
pub fn serve(ctx: &zmq::Context, bind: &str, control: Addr<ControlActor>) -> Result<ControlEndpoint, zmq::Error> {
    let router = ctx.socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    router.bind(bind)?;
    let endpoint = router.get_last_endpoint()?.unwrap_or_else(|_| bind.to_string());
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("control-endpoint".into())
        .spawn(move || {
            while !stop_flag.load(Ordering::Acquire) {
                // Control is rare: a short poll timeout only bounds how fast stop is seen.
                match router.poll(zmq::POLLIN, 200) {
                    Ok(0) => continue,
                    Ok(_) => {}
                    Err(_) => return,
                }
                let Ok(parts) = router.recv_multipart(0) else { continue };
                let (Some(identity), Some(body)) = (parts.first(), parts.last()) else { continue };
                let reply = match serde_json::from_slice::<ControlRequest>(body) {
                    Ok(request) => ask(&control, request),
                    Err(e) => ControlResponse::error(format!("bad control request: {e}")),
                };
                let text = serde_json::to_vec(&reply).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
                if let Err(e) = router.send_multipart([identity.as_slice(), text.as_slice()], 0) {
                    error!(target: "control", error = %e, "could not answer a control request");
                }
            }
        })
        .map_err(|_| zmq::Error::EFAULT)?;
    Ok(ControlEndpoint { stop, thread: Some(thread), endpoint })
}

/// Forwards a request to the control actor and waits (bounded) for its answer.
fn ask(control: &Addr<ControlActor>, request: ControlRequest) -> ControlResponse {
    let (reply, answer) = crossbeam_channel::bounded(1);
    if control.try_send(ControlFromEndpoint { request, reply }).is_err() {
        return ControlResponse::error("control actor is busy or stopped");
    }
    answer
        .recv_timeout(Duration::from_secs(2))
        .unwrap_or_else(|_| ControlResponse::error("control actor did not answer in time"))
}

/// Client side of `engine ctl`: sends one request and waits for the reply.
pub fn client_request(endpoint: &str, request: &ControlRequest, timeout: Duration) -> Result<ControlResponse, String> {
    let ctx = zmq::Context::new();
    let dealer = ctx.socket(zmq::DEALER).map_err(|e| e.to_string())?;
    dealer.set_linger(0).map_err(|e| e.to_string())?;
    dealer.connect(endpoint).map_err(|e| format!("cannot connect to {endpoint}: {e}"))?;
    let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
    dealer.send(body, 0).map_err(|e| e.to_string())?;
    let ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    match dealer.poll(zmq::POLLIN, ms) {
        Ok(n) if n > 0 => {}
        _ => return Err(format!("no answer from the control endpoint {endpoint} within {ms} ms")),
    }
    let reply = dealer.recv_bytes(0).map_err(|e| e.to_string())?;
    serde_json::from_slice(&reply).map_err(|e| format!("bad reply from the control endpoint: {e}"))
}

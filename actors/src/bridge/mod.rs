//! `BridgeActor`: the only owner of its shard's gateway socket ([`socket`]), used on the
//! shard's own thread: input is announced through the socket's descriptor
//! ([`crate::zmq_ready`]), so a report reaches the symbol actors of the shard with no thread
//! hand-off inside the engine. It serializes requests to the gateway, holds the per-symbol
//! lock of every request on the wire ([`locks`]), enforces deadlines, and writes the
//! shard's journal batch before every order. What the gateway sends is taken in
//! [`inbound`], snapshots and reconciliation in [`reconcile`], heartbeats in [`liveness`],
//! and the figures in [`stats`].

mod inbound;
mod liveness;
pub mod locks;
mod reconcile;
pub mod socket;
pub mod stats;

use self::stats::histogram;
pub use self::stats::{small_histogram, summarize, symbol_histogram, BridgeStats, Mergeable, Percentiles};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use engine::risk::PortfolioRisk;
use hdrhistogram::Histogram;
use protocol::{
    Envelope, ExecId, ExecReport, ExecType, IntentId, Message, NewOrder, OrdStatus, OrderId, OrderStatusQuery,
    PositionSnapshot, Qty, RejectCode, SessionId, Side, Symbol,
};
use tokio::sync::oneshot;
use tracing::{error, warn};

use self::locks::{LockTable, Outcome, RequestKind};
use self::socket::{GatewaySocket, Inbound, Lane, Sent, SocketConfig};
use crate::messages::*;
use crate::time::wall_ns;
use crate::zmq_ready::Readable;

/// How often a reconciling snapshot that has not arrived is asked for again.
const RECONCILE_RETRY: Duration = Duration::from_millis(50);
/// A snapshot a symbol asked for that has not arrived is asked for again after this; asks
/// while one is outstanding share its reply (it left after they had their reasons).
const ASKED_RETRY: Duration = Duration::from_secs(1);
/// How often the bridge checks whether to ask again.
const RECONCILE_TICK: Duration = Duration::from_millis(10);

/// Bridge settings.
#[derive(Clone, Debug)]
pub struct BridgeConfig {
    pub socket: SocketConfig,
    /// Deadline of every order and status query.
    pub request_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// Missed heartbeat intervals before the gateway is declared down.
    pub heartbeats_missed_for_down: u32,
}

/// Where reports and timeouts for one symbol go.
#[derive(Clone)]
pub struct SymbolRoute {
    pub reports: Recipient<GatewayReport>,
    pub timeouts: Recipient<RequestTimedOut>,
    pub reconcile: Recipient<Reconcile>,
    pub journal_failed: Recipient<JournalWriteFailed>,
}

/// Ask for the bridge's figures.
#[derive(Message)]
#[rtype(result = "BridgeStats")]
pub struct GetBridgeStats;

/// Ask the gateway for a position snapshot and wait for it (None on timeout or no gateway).
#[derive(Message)]
#[rtype(result = "Option<PositionSnapshot>")]
pub struct FetchSnapshot {
    pub timeout: Duration,
}

/// Where every symbol's reports, timeouts and reconciliations go. The bridge opens its
/// gateway socket only once it has these: a snapshot that arrived before the routes would
/// reach no symbol, and every symbol would stay Reconciling for good.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RegisterRoutes {
    pub routes: HashMap<Symbol, SymbolRoute>,
    /// Every shard's bridge, by shard number (this one included): a report that arrives
    /// here for another shard's symbol is handed to that shard's bridge.
    pub shards: Vec<Recipient<ForwardedReport>>,
}

/// A report that reached another shard's connection, for a symbol of this shard.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ForwardedReport {
    pub report: ExecReport,
}

/// Release every held lock (outcome `gateway_down`) and close the socket.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ShutdownBridge;

pub struct BridgeActor {
    config: BridgeConfig,
    zmq: zmq::Context,
    socket: Option<GatewaySocket>,
    /// The readiness streams of the DEALER and its monitor (cancelled before the socket
    /// closes, so no descriptor is watched after libzmq lets it go).
    readiness: Vec<SpawnHandle>,
    /// Inside [`Self::pump`]: a send made while pumping does not pump again.
    pumping: bool,
    /// Status queries that could not go out, asked again at their time.
    query_retries: Vec<(Instant, SubmitStatusQuery)>,
    /// Every shard's bridge, by shard number (see [`RegisterRoutes`]).
    shards: Vec<Recipient<ForwardedReport>>,
    /// The shard's journal batch, written before every order leaves (`None`: off).
    journal: Option<Arc<crate::journal::ShardJournal>>,
    routes: HashMap<Symbol, SymbolRoute>,
    risk: Arc<PortfolioRisk>,
    locks: LockTable,
    session_id: SessionId,
    seq_out: u64,
    last_seq_in: u64,
    gateway_session: Option<SessionId>,
    last_inbound: Instant,
    gateway_up: bool,
    next_request_id: u64,
    snapshot_waiters: HashMap<u64, oneshot::Sender<PositionSnapshot>>,
    /// A reconciling snapshot is awaited (start-up or gateway restart): asked again every
    /// `RECONCILE_RETRY` until it arrives, so that a request lost while the DEALER was still
    /// connecting costs milliseconds, not a heartbeat interval.
    reconcile_pending: bool,
    last_reconcile_request: Option<Instant>,
    /// The highest of our `seq`s the gateway has acknowledged (`ack_seq`), and our `seq` at
    /// each heartbeat tick: a gateway that answers but acknowledges nothing is not trading.
    gateway_acked: u64,
    /// When the snapshot a symbol asked for (discrepancy, owed reconciliation) was requested,
    /// until a snapshot arrives.
    asked_at: Option<Instant>,
    /// When the bridge started, until the first reconciling snapshot arrives (first contact).
    started_at: Option<Instant>,
    sent_history: std::collections::VecDeque<(Instant, u64)>,
    unacknowledged: bool,
    /// Sequence anomalies not yet reported in a (rate-limited) WARN line.
    seq_unreported: u64,
    last_seq_warn: Option<Instant>,
    /// Orders in flight: when each was submitted (for the round trip) and its side.
    submitted: HashMap<IntentId, (Instant, Side)>,
    frame: Vec<u8>,
    round_trip: Histogram<u64>,
    lock_hold: Histogram<u64>,
    /// Per-symbol round trips, allocated on a symbol's first order (idle symbols cost none).
    round_trip_by_symbol: HashMap<Symbol, Histogram<u64>>,
    stats: BridgeStats,
}

impl BridgeActor {
    pub fn new(
        config: BridgeConfig,
        zmq: zmq::Context,
        routes: HashMap<Symbol, SymbolRoute>,
        risk: Arc<PortfolioRisk>,
        session_id: SessionId,
    ) -> BridgeActor {
        let timeout = config.request_timeout;
        BridgeActor {
            config,
            zmq,
            socket: None,
            readiness: Vec::new(),
            pumping: false,
            query_retries: Vec::new(),
            shards: Vec::new(),
            journal: None,
            routes,
            risk,
            locks: LockTable::new(timeout),
            session_id,
            seq_out: 0,
            last_seq_in: 0,
            gateway_session: None,
            last_inbound: Instant::now(),
            gateway_up: true,
            next_request_id: 1,
            snapshot_waiters: HashMap::new(),
            reconcile_pending: true,
            last_reconcile_request: None,
            gateway_acked: 0,
            asked_at: None,
            started_at: Some(Instant::now()),
            sent_history: std::collections::VecDeque::new(),
            unacknowledged: false,
            seq_unreported: 0,
            last_seq_warn: None,
            submitted: HashMap::new(),
            frame: Vec::with_capacity(256),
            round_trip: histogram(),
            lock_hold: histogram(),
            round_trip_by_symbol: HashMap::new(),
            stats: BridgeStats::default(),
        }
    }

    /// This bridge serves shard `shard` of `shards`: its lock ids are unique in the run and
    /// its lock events carry the shard (docs/LOG_FORMAT.md).
    pub fn for_shard(mut self, shard: usize, shards: usize) -> BridgeActor {
        self.locks = LockTable::for_shard(self.config.request_timeout, shard, shards);
        self
    }

    /// Orders wait for this shard's journal batch to be written (see
    /// [`crate::journal::ShardJournal`]).
    pub fn with_journal(mut self, journal: Option<Arc<crate::journal::ShardJournal>>) -> BridgeActor {
        self.journal = journal;
        self
    }

    /// Encodes and sends one message without blocking. Anything but [`Sent::Queued`] means
    /// it never left (the caller releases its lock). Input the send made visible is taken
    /// at once (see [`crate::zmq_ready`]).
    fn send(&mut self, body: Message) -> Sent {
        self.send_at(body, wall_ns())
    }

    /// [`Self::send`] with the header's `ts_ns` given (an order's data time on the data
    /// clock, see [`crate::data_clock`]).
    fn send_at(&mut self, body: Message, header_ts_ns: u64) -> Sent {
        let lane = if matches!(body, Message::NewOrder(_)) { Lane::Order } else { Lane::Control };
        self.seq_out += 1;
        let envelope = Envelope::new(self.session_id, self.seq_out, self.last_seq_in, header_ts_ns, body);
        if let Err(e) = self.config.socket.codec.encode_into(&envelope, &mut self.frame) {
            error!(target: "bridge", error = %e, "could not encode a frame for the gateway");
            return Sent::Failed;
        }
        let Some(socket) = self.socket.as_mut() else { return Sent::Failed };
        let sent = socket.send(lane, &self.frame);
        match sent {
            Sent::Queued => {}
            Sent::Held => self.stats.orders_held += 1,
            Sent::Failed => self.stats.send_failures += 1,
        }
        self.pump();
        sent
    }

    /// Takes everything the socket has for us: monitor events first (a disconnect), then
    /// every frame from the gateway.
    fn pump(&mut self) {
        if self.pumping {
            return;
        }
        self.pumping = true;
        if self.socket.as_mut().is_some_and(GatewaySocket::drain_monitor) {
            warn!(target: "bridge", "GATEWAY_DISCONNECTED: orders held until the venue's snapshot after the reconnect has reached every symbol");
            self.begin_venue_reconcile();
            self.stats.disconnects += 1;
        }
        while let Some(inbound) = self.socket.as_mut().and_then(GatewaySocket::try_recv) {
            match inbound {
                Inbound::Frame(envelope) => self.on_frame(*envelope),
                Inbound::Undecodable(error) => {
                    self.stats.undecodable_frames += 1;
                    warn!(target: "bridge", kind = error.kind(), error = %error, "undecodable frame from the gateway; dropped");
                }
            }
        }
        self.pumping = false;
    }

    fn route(&self, symbol: &Symbol) -> Option<&SymbolRoute> {
        self.routes.get(symbol)
    }

    /// A request that never left: its lock released (outcome `gateway_down`); the lock and
    /// the order's side, if it was held.
    fn release_unsent(&mut self, intent: IntentId) -> Option<(locks::HeldLock, Side)> {
        let lock = self.locks.by_intent(intent).copied()?;
        let side = self.submitted.get(&intent).map_or(Side::Buy, |(_, side)| *side);
        self.release(intent, Outcome::GatewayDown);
        self.submitted.remove(&intent);
        Some((lock, side))
    }

    /// Releases a lock and records its hold time.
    fn release(&mut self, intent_id: IntentId, outcome: Outcome) -> Option<locks::HeldLock> {
        let now = Instant::now();
        let lock = self.locks.release(intent_id, outcome, now)?;
        let held = u64::try_from(now.saturating_duration_since(lock.acquired_at).as_micros()).unwrap_or(u64::MAX);
        let _ = self.lock_hold.record(held.max(1));
        self.stats.max_held_us = self.stats.max_held_us.max(held);
        if lock.kind == RequestKind::Order {
            if let Some((at, _)) = self.submitted.get(&intent_id).copied() {
                self.submitted.remove(&intent_id);
                if !matches!(outcome, Outcome::Timeout | Outcome::GatewayDown) {
                    let rtt = u64::try_from(now.saturating_duration_since(at).as_micros()).unwrap_or(u64::MAX).max(1);
                    let _ = self.round_trip.record(rtt);
                    let _ = self.round_trip_by_symbol.entry(lock.symbol).or_insert_with(symbol_histogram).record(rtt);
                }
            }
        }
        Some(lock)
    }

    /// Tells a symbol that its order never reached the gateway, as a local reject.
    fn local_reject(&self, symbol: Symbol, intent_id: IntentId, side: Side, text: &str) {
        if let Some(route) = self.route(&symbol) {
            route.reports.do_send(GatewayReport { report: local_reject_report(symbol, intent_id, side, text) });
        }
    }

    fn sweep_deadlines(&mut self) {
        let now = Instant::now();
        self.sweep_query_retries(now);
        for intent in self.locks.expired(now) {
            let Some(lock) = self.release(intent, Outcome::Timeout) else { continue };
            match lock.kind {
                RequestKind::Order => self.stats.timeouts += 1,
                RequestKind::StatusQuery => self.stats.query_timeouts += 1,
            }
            self.submitted.remove(&lock.intent_id);
            if let Some(route) = self.route(&lock.symbol) {
                route.timeouts.do_send(RequestTimedOut { intent_id: lock.intent_id });
            }
        }
    }
}

/// An ExecReport the engine writes itself for an order that never left.
pub fn local_reject_report(symbol: Symbol, intent_id: IntentId, side: Side, text: &str) -> ExecReport {
    ExecReport {
        intent_id,
        order_id: OrderId(0),
        exec_id: ExecId(0),
        symbol,
        side,
        exec_type: ExecType::Rejected,
        ord_status: OrdStatus::Rejected,
        last_qty: Qty::ZERO,
        last_px: protocol::Price::ZERO,
        cum_qty: Qty::ZERO,
        leaves_qty: Qty::ZERO,
        fee: protocol::Money::ZERO,
        reject_code: RejectCode::Other,
        reject_text: text.to_string(),
        poss_dup: false,
        transact_ns: wall_ns(),
    }
}

impl Actor for BridgeActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if !self.routes.is_empty() {
            self.open_socket(ctx);
        }
        let sweep = (self.config.request_timeout / 20).clamp(Duration::from_millis(1), Duration::from_millis(20));
        ctx.run_interval(sweep, |act, _| act.sweep_deadlines());
        ctx.run_interval(RECONCILE_TICK, |act, _| act.retry_reconcile());
        ctx.run_interval(self.config.heartbeat_interval, |act, _| act.heartbeat());
    }

    fn stopped(&mut self, ctx: &mut Context<Self>) {
        for intent in self.locks.all_held() {
            if let Some(lock) = self.release(intent, Outcome::GatewayDown) {
                warn!(target: "bridge", symbol = %lock.symbol, intent_id = lock.intent_id.0, "lock released at shutdown");
            }
        }
        self.close_socket(ctx);
    }
}

/// The DEALER or its monitor has something: take it.
impl StreamHandler<Readable> for BridgeActor {
    fn handle(&mut self, _: Readable, _: &mut Context<Self>) {
        self.pump();
    }

    /// A readiness stream that ends (its descriptor is gone) must not stop the bridge.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

/// A symbol's order: take its lock, put it on the wire.
impl Handler<SubmitOrder> for BridgeActor {
    type Result = ();
    fn handle(&mut self, msg: SubmitOrder, _: &mut Context<Self>) {
        let order = msg.order;
        let now = Instant::now();
        let seq = self.seq_out + 1;
        if let Some(held) = self.locks.holder(&order.symbol).copied() {
            if held.kind == RequestKind::StatusQuery && held.intent_id != order.intent_id {
                // The symbol resolved that order (a late report) and moved on.
                self.release(held.intent_id, Outcome::Superseded);
            }
        }
        // Every record made before this order (its own included) is written before it goes.
        if let Some(Err(error)) = self.journal.as_ref().map(|j| j.flush()) {
            error!(target: "bridge", symbol = %order.symbol, intent_id = order.intent_id.0, error = %error, "order not sent: the journal could not be written");
            self.local_reject(order.symbol, order.intent_id, order.side, "durable journal write failed");
            if let Some(route) = self.route(&order.symbol) {
                route.journal_failed.do_send(JournalWriteFailed { error });
            }
            return;
        }
        if let Err(busy) = self.locks.acquire(order.symbol, order.intent_id, RequestKind::Order, seq, now) {
            error!(target: "bridge", symbol = %order.symbol, intent_id = order.intent_id.0, held_by = busy.held_by.0, "LOCK_BUSY: a second request for a symbol; refused locally");
            self.local_reject(order.symbol, order.intent_id, order.side, "symbol lock busy");
            return;
        }
        let expire_at_ns =
            wall_ns().saturating_add(u64::try_from(self.config.request_timeout.as_nanos()).unwrap_or(u64::MAX));
        let body = Message::NewOrder(NewOrder {
            intent_id: order.intent_id,
            symbol: order.symbol,
            side: order.side,
            qty: order.qty,
            ord_type: order.ord_type,
            limit_price: order.limit_price,
            expire_at_ns,
        });
        // Submitted before the send: the send may take the fill that answers it.
        self.submitted.insert(order.intent_id, (now, order.side));
        self.stats.orders_sent += 1;
        let text = match self.send_at(body, msg.header_ts_ns.unwrap_or_else(wall_ns)) {
            Sent::Queued => return,
            Sent::Held => "held: reconnected, reconciling with the gateway",
            Sent::Failed => {
                // ZMQ_IMMEDIATE: nothing was queued, so the order never left.
                warn!(target: "bridge", symbol = %order.symbol, intent_id = order.intent_id.0, "order not sent: no gateway connection");
                "no gateway connection"
            }
        };
        self.release_unsent(order.intent_id);
        self.local_reject(order.symbol, order.intent_id, order.side, text);
    }
}

/// A symbol's status query for an order in `Unknown`: take its lock, ask the gateway.
impl Handler<SubmitStatusQuery> for BridgeActor {
    type Result = ();
    fn handle(&mut self, msg: SubmitStatusQuery, _: &mut Context<Self>) {
        let now = Instant::now();
        let seq = self.seq_out + 1;
        if self.locks.acquire(msg.symbol, msg.intent_id, RequestKind::StatusQuery, seq, now).is_err() {
            error!(target: "bridge", symbol = %msg.symbol, intent_id = msg.intent_id.0, "LOCK_BUSY: status query while a request is in flight; retrying after the deadline");
            self.retry_later(msg);
            return;
        }
        self.stats.queries_sent += 1;
        let body =
            Message::OrderStatusQuery(OrderStatusQuery { intent_id: Some(msg.intent_id), symbol: Some(msg.symbol) });
        if self.send(body) != Sent::Queued {
            self.release(msg.intent_id, Outcome::GatewayDown);
            self.retry_later(msg);
        }
    }
}

impl BridgeActor {
    /// The query could not go out: tell the symbol it timed out after one deadline, so it
    /// asks again then (no lock is held meanwhile, and no busy loop).
    fn retry_later(&mut self, msg: SubmitStatusQuery) {
        self.query_retries.push((Instant::now() + self.config.request_timeout, msg));
    }

    /// Status queries whose retry time has come: their symbols are told they timed out.
    fn sweep_query_retries(&mut self, now: Instant) {
        if self.query_retries.is_empty() {
            return;
        }
        let (due, later): (Vec<_>, Vec<_>) = self.query_retries.drain(..).partition(|(at, _)| *at <= now);
        self.query_retries = later;
        for (_, msg) in due {
            if let Some(route) = self.route(&msg.symbol) {
                route.timeouts.do_send(RequestTimedOut { intent_id: msg.intent_id });
            }
        }
    }
}

impl Handler<GetBridgeStats> for BridgeActor {
    type Result = MessageResult<GetBridgeStats>;
    fn handle(&mut self, _: GetBridgeStats, _: &mut Context<Self>) -> Self::Result {
        let mut stats = self.stats.clone();
        stats.locks_acquired = self.locks.acquired();
        stats.locks_released = self.locks.released();
        stats.locks_held = self.locks.held();
        stats.gateway_up = self.gateway_up;
        stats.gateway_silent_ms = u64::try_from(self.last_inbound.elapsed().as_millis()).unwrap_or(u64::MAX);
        stats.round_trip_us = summarize(&self.round_trip);
        stats.lock_hold_us = summarize(&self.lock_hold);
        stats.round_trip_histogram = Some(Mergeable(self.round_trip.clone()));
        stats.lock_hold_histogram = Some(Mergeable(self.lock_hold.clone()));
        stats.shards = 1;
        let mut by_symbol: Vec<(Symbol, Percentiles)> =
            self.round_trip_by_symbol.iter().map(|(s, h)| (*s, summarize(h))).collect();
        by_symbol.sort_by_key(|a| a.0);
        stats.round_trip_by_symbol = by_symbol;
        MessageResult(stats)
    }
}

impl Handler<RegisterRoutes> for BridgeActor {
    type Result = ();
    fn handle(&mut self, msg: RegisterRoutes, ctx: &mut Context<Self>) {
        self.routes.extend(msg.routes);
        self.shards = msg.shards;
        if self.socket.is_none() {
            self.open_socket(ctx);
        }
    }
}

/// A report for one of this shard's symbols that another shard's connection received:
/// handled as if it had arrived here (its lock is released here, where it was taken).
impl Handler<ForwardedReport> for BridgeActor {
    type Result = ();
    fn handle(&mut self, msg: ForwardedReport, _: &mut Context<Self>) {
        if self.routes.contains_key(&msg.report.symbol) {
            self.handle_report(msg.report);
        } else {
            self.stats.unroutable_reports += 1;
            warn!(target: "bridge", symbol = %msg.report.symbol, intent_id = msg.report.intent_id.0, "forwarded report for a symbol this shard does not trade; dropped");
        }
    }
}

impl BridgeActor {
    /// Connects the gateway socket (once the routes are known; see [`RegisterRoutes`]).
    fn open_socket(&mut self, ctx: &mut Context<Self>) {
        match GatewaySocket::connect(&self.zmq, &self.config.socket) {
            Ok((socket, dealer_ready, monitor_ready)) => {
                self.socket = Some(socket);
                self.readiness = vec![ctx.add_stream(dealer_ready), ctx.add_stream(monitor_ready)];
            }
            Err(e) => {
                error!(target: "bridge", error = %e, "GATEWAY_DOWN: cannot set up the gateway socket; entries blocked");
                self.mark_gateway(false, "socket setup failed");
            }
        }
        self.last_inbound = Instant::now();
    }

    /// Stops watching the socket, then closes it.
    fn close_socket(&mut self, ctx: &mut Context<Self>) {
        for handle in self.readiness.drain(..) {
            ctx.cancel_future(handle);
        }
        self.socket = None;
    }
}

impl Handler<ShutdownBridge> for BridgeActor {
    type Result = ();
    fn handle(&mut self, _: ShutdownBridge, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

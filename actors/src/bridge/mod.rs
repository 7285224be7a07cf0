//! `BridgeActor`: the only owner of its shard's gateway socket ([`socket`]), used on the
//! shard's own thread: input is announced through the socket's descriptor
//! ([`crate::zmq_ready`]), so a report reaches the symbol actors of the shard with no thread
//! hand-off inside the engine. It serializes requests to the gateway, holds the per-symbol lock of every
//! request on the wire ([`locks`]), enforces deadlines, sends and watches heartbeats,
//! correlates replies by `intent_id`, and routes reports to the symbol actors.

pub mod locks;
pub mod socket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use engine::risk::PortfolioRisk;
use hdrhistogram::Histogram;
use protocol::{
    Envelope, ExecId, ExecReport, ExecType, Heartbeat, IntentId, Message, NewOrder, OrdStatus, OrderId,
    OrderStatusQuery, PositionSnapshot, PositionSnapshotRequest, Qty, RejectCode, Side, Symbol,
};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

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

/// Figures for the status line and the stress report.
#[derive(Clone, Debug, Default)]
pub struct BridgeStats {
    pub orders_sent: u64,
    pub queries_sent: u64,
    pub reports_received: u64,
    pub fills_received: u64,
    pub timeouts: u64,
    /// Status queries that timed out (an order's own timeout is counted once, in `timeouts`).
    pub query_timeouts: u64,
    pub send_failures: u64,
    pub undecodable_frames: u64,
    pub session_rejects: u64,
    pub unroutable_reports: u64,
    pub mismatched_reports: u64,
    /// Order-channel frames whose `seq` skipped ahead / did not advance (same gateway session).
    pub seq_gaps: u64,
    pub seq_repeats: u64,
    /// Connection drops seen by the DEALER's monitor (each starts a reconciliation).
    pub disconnects: u64,
    /// Orders held back (rejected locally) between a reconnect and its snapshot.
    pub orders_held: u64,
    /// Bridge start → first reconciling snapshot, milliseconds.
    pub first_contact_ms: Option<f64>,
    /// Spells in which the gateway answered but acknowledged none of our frames.
    pub unacknowledged_spells: u64,
    /// Snapshot requests sent to reconcile (start-up, gateway restart, discrepancy).
    pub reconcile_requests: u64,
    pub locks_acquired: u64,
    pub locks_released: u64,
    pub locks_held: usize,
    pub max_held_us: u64,
    pub gateway_up: bool,
    pub gateway_sessions: u64,
    /// Order round trip (submit → terminal report), microseconds: p50, p90, p99, p999, max, count.
    pub round_trip_us: [u64; 6],
    pub lock_hold_us: [u64; 6],
    /// Round trip per symbol that sent orders: p50, p90, p99, p999, max, count.
    pub round_trip_by_symbol: Vec<(Symbol, [u64; 6])>,
    /// The histograms behind `round_trip_us` and `lock_hold_us`, for merging shards.
    pub round_trip_histogram: Option<Mergeable>,
    pub lock_hold_histogram: Option<Mergeable>,
    /// Reports that arrived on this shard's connection for another shard's symbol, and
    /// were handed to that shard's bridge.
    pub reports_forwarded: u64,
    /// Shards merged into these figures.
    pub shards: usize,
    /// Snapshots fetched for a report or an operator, and those whose request could not
    /// be sent.
    pub snapshot_fetches: u64,
    pub snapshot_fetches_unsent: u64,
    /// Snapshots received (fetched or reconciling).
    pub snapshots_received: u64,
}

/// A histogram carried for merging, shown in `Debug` by its count only.
#[derive(Clone)]
pub struct Mergeable(pub Histogram<u64>);

impl std::fmt::Debug for Mergeable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "histogram(n = {})", self.0.len())
    }
}

impl BridgeStats {
    /// Adds another shard's figures: counters summed, histograms merged, first contact the
    /// latest (the engine trades once every shard has reconciled), the gateway up only if
    /// every shard sees it up.
    pub fn merge(&mut self, other: BridgeStats) {
        macro_rules! sum {
            ($($f:ident),*) => { $( self.$f += other.$f; )* };
        }
        sum!(
            orders_sent,
            queries_sent,
            reports_received,
            fills_received,
            timeouts,
            query_timeouts,
            send_failures,
            undecodable_frames,
            session_rejects,
            unroutable_reports,
            mismatched_reports,
            seq_gaps,
            seq_repeats,
            disconnects,
            orders_held,
            unacknowledged_spells,
            reconcile_requests,
            locks_acquired,
            locks_released,
            locks_held,
            reports_forwarded,
            snapshot_fetches,
            snapshot_fetches_unsent,
            snapshots_received,
            shards
        );
        // Every shard sees the same gateway sessions.
        self.gateway_sessions = self.gateway_sessions.max(other.gateway_sessions);
        self.max_held_us = self.max_held_us.max(other.max_held_us);
        self.gateway_up &= other.gateway_up;
        self.first_contact_ms = match (self.first_contact_ms, other.first_contact_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
        for (mine, theirs) in [
            (&mut self.round_trip_histogram, other.round_trip_histogram),
            (&mut self.lock_hold_histogram, other.lock_hold_histogram),
        ] {
            match (mine.as_mut(), theirs) {
                (Some(m), Some(t)) => {
                    let _ = m.0.add(&t.0);
                }
                (None, Some(t)) => *mine = Some(t),
                _ => {}
            }
        }
        self.round_trip_us = self.round_trip_histogram.as_ref().map_or([0; 6], |h| summarize(&h.0));
        self.lock_hold_us = self.lock_hold_histogram.as_ref().map_or([0; 6], |h| summarize(&h.0));
        self.round_trip_by_symbol.extend(other.round_trip_by_symbol);
        self.round_trip_by_symbol.sort_by_key(|a| a.0);
    }
}

/// p50, p90, p99, p999, max and count of a histogram.
pub fn summarize(h: &Histogram<u64>) -> [u64; 6] {
    [
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max(),
        h.len(),
    ]
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
    session_id: u64,
    seq_out: u64,
    last_seq_in: u64,
    gateway_session: Option<u64>,
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

/// 1 µs .. 60 s with 2 significant digits: small enough to keep one per active symbol.
pub fn small_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 2).unwrap_or_else(|_| Histogram::new(2).expect("valid sigfig"))
}

fn histogram() -> Histogram<u64> {
    // 1 µs .. 1 h with 3 significant digits; the bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap_or_else(|_| Histogram::new(3).expect("valid sigfig"))
}

impl BridgeActor {
    pub fn new(
        config: BridgeConfig,
        zmq: zmq::Context,
        routes: HashMap<Symbol, SymbolRoute>,
        risk: Arc<PortfolioRisk>,
        session_id: u64,
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
        let lane = if matches!(body, Message::NewOrder(_)) { Lane::Order } else { Lane::Control };
        self.seq_out += 1;
        let envelope = Envelope::new(self.session_id, self.seq_out, self.last_seq_in, wall_ns(), body);
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
                    let _ = self.round_trip_by_symbol.entry(lock.symbol).or_insert_with(small_histogram).record(rtt);
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

    fn on_report(&mut self, report: ExecReport) {
        self.stats.reports_received += 1;
        self.handle_report(report);
    }

    /// A report received here, or forwarded by the shard whose connection received it.
    fn handle_report(&mut self, report: ExecReport) {
        if !self.routes.contains_key(&report.symbol) && self.forward(&report) {
            return;
        }
        if let Some(lock) = self.locks.by_intent(report.intent_id) {
            if lock.symbol != report.symbol {
                // The gateway names another symbol for an order we know: trust neither. Keep
                // the lock; its deadline makes the symbol ask for the order's status.
                self.stats.mismatched_reports += 1;
                error!(target: "bridge", intent_id = report.intent_id.0, expected = %lock.symbol, got = %report.symbol, "REPORT_SYMBOL_MISMATCH: report dropped");
                return;
            }
        }
        if report.is_fill() {
            self.stats.fills_received += 1;
        }
        if report.ord_status.is_terminal() {
            let outcome = match report.ord_status {
                OrdStatus::Filled => Outcome::Filled,
                OrdStatus::Canceled if !report.cum_qty.is_zero() => Outcome::PartiallyFilled,
                OrdStatus::Canceled => Outcome::Canceled,
                OrdStatus::Expired => Outcome::Expired,
                _ => Outcome::Rejected,
            };
            // A duplicate-intent reject says nothing about the order in flight.
            if report.reject_code != RejectCode::DuplicateIntentMismatch {
                self.release(report.intent_id, outcome);
            }
        }
        match self.route(&report.symbol) {
            Some(route) => route.reports.do_send(GatewayReport { report }),
            None => {
                self.stats.unroutable_reports += 1;
                warn!(target: "bridge", symbol = %report.symbol, intent_id = report.intent_id.0, "report for a symbol this engine does not trade; dropped");
            }
        }
    }

    /// Hands a report for another shard's symbol to that shard's bridge (a gateway may
    /// answer on any of the engine's connections). False if no other shard has the symbol.
    fn forward(&mut self, report: &ExecReport) -> bool {
        let owner = crate::shard::shard_of(&report.symbol, self.shards.len());
        if self.shards.len() < 2 || owner == self.locks.shard() {
            return false;
        }
        let Some(bridge) = self.shards.get(owner) else { return false };
        self.stats.reports_forwarded += 1;
        bridge.do_send(ForwardedReport { report: report.clone() });
        true
    }

    fn on_snapshot(&mut self, snapshot: PositionSnapshot) {
        self.stats.snapshots_received += 1;
        if let Some(waiter) = self.snapshot_waiters.remove(&snapshot.request_id) {
            // Fetched for a report (e.g. the final ledger) or an operator, not for
            // reconciliation.
            let _ = waiter.send(snapshot);
            return;
        }
        let after_reconnect = std::mem::replace(&mut self.reconcile_pending, false);
        self.asked_at = None;
        if let Some(started) = self.started_at.take() {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            self.stats.first_contact_ms = Some(ms);
            info!(target: "bridge", first_contact_ms = ms, requests = self.stats.reconcile_requests, "FIRST_CONTACT: the gateway's snapshot reached every symbol");
        }
        let views = engine::reconcile::venue_views(&snapshot);
        for (symbol, route) in &self.routes {
            let venue = views.get(symbol).copied().unwrap_or_default();
            route.reconcile.do_send(Reconcile { venue, after_reconnect });
        }
        if let Some(socket) = self.socket.as_mut() {
            socket.release_orders();
        }
        if self.risk.set_venue_reconciling(false) {
            info!(target: "bridge", "VENUE_RECONCILED: the gateway's snapshot reached every symbol; orders resume");
        }
    }

    /// A disconnect or a new gateway session: no order (entry or exit) until the snapshot
    /// that follows has been handed to every symbol; asked for until it arrives.
    fn begin_venue_reconcile(&mut self) {
        self.risk.set_venue_reconciling(true);
        self.reconcile_pending = true;
    }

    /// Asks again for the reconciling snapshot while it has not arrived (and for a snapshot a
    /// symbol asked for, if its request or reply was lost).
    fn retry_reconcile(&mut self) {
        if self.asked_at.is_some_and(|at| at.elapsed() >= ASKED_RETRY) {
            self.asked_at = Some(Instant::now());
            self.request_snapshot();
        }
        if !self.reconcile_pending || self.socket.is_none() {
            return;
        }
        if self.last_reconcile_request.is_some_and(|at| at.elapsed() < RECONCILE_RETRY) {
            return;
        }
        self.last_reconcile_request = Some(Instant::now());
        self.stats.reconcile_requests += 1;
        self.request_snapshot();
    }

    /// Counts a sequence anomaly and logs at WARN at most once a second.
    fn note_seq_anomaly(&mut self, expected: u64, got: u64) {
        if got > expected {
            self.stats.seq_gaps += 1;
        } else {
            self.stats.seq_repeats += 1;
        }
        self.seq_unreported += 1;
        if self.last_seq_warn.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            warn!(target: "bridge", expected, got, since_last_warning = self.seq_unreported, gaps = self.stats.seq_gaps, repeats = self.stats.seq_repeats, "GATEWAY_SEQ_ANOMALY: order-channel sequence gap or repeat (reports are de-duplicated by exec_id; lost ones are recovered by deadlines and status queries)");
            self.last_seq_warn = Some(Instant::now());
            self.seq_unreported = 0;
        }
    }

    fn request_snapshot(&mut self) -> Sent {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.send(Message::PositionSnapshotRequest(PositionSnapshotRequest { request_id }))
    }

    fn mark_gateway(&mut self, up: bool, reason: &str) {
        if self.gateway_up == up {
            return;
        }
        self.gateway_up = up;
        self.risk.set_gateway_up(up);
        if up {
            info!(target: "bridge", reason, "GATEWAY_UP: entries resume");
        } else {
            warn!(target: "bridge", reason, "GATEWAY_DOWN: entries blocked");
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

    /// A gateway that keeps sending (heartbeats) while acknowledging none of our frames sent
    /// more than `limit` ago is not processing them: treat it as down until it catches up.
    fn check_acknowledged(&mut self, limit: Duration) {
        let now = Instant::now();
        self.sent_history.push_back((now, self.seq_out));
        while self.sent_history.len() > 2 && self.sent_history[1].0 + limit <= now {
            self.sent_history.pop_front();
        }
        let old_enough = self.sent_history.front().filter(|(at, _)| *at + limit <= now).map(|(_, seq)| *seq);
        let behind = old_enough.is_some_and(|seq| seq > 0 && self.gateway_acked < seq);
        if behind && !self.unacknowledged {
            self.unacknowledged = true;
            self.stats.unacknowledged_spells += 1;
            let reason = format!(
                "the gateway acknowledges none of our frames since seq {} for {} ms",
                self.gateway_acked,
                limit.as_millis()
            );
            self.mark_gateway(false, &reason);
        } else if !behind && self.unacknowledged {
            self.unacknowledged = false;
        }
    }

    fn heartbeat(&mut self) {
        let silent_for = self.last_inbound.elapsed();
        let limit = self.config.heartbeat_interval * self.config.heartbeats_missed_for_down;
        if silent_for >= limit {
            let reason = format!("no frame from the gateway for {} ms", silent_for.as_millis());
            self.mark_gateway(false, &reason);
        }
        self.check_acknowledged(limit);
        let body = Message::Heartbeat(Heartbeat {
            session_id: self.session_id,
            last_seq_sent: self.seq_out,
            last_seq_received: self.last_seq_in,
        });
        self.send(body);
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
        let text = match self.send(body) {
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

    /// One decoded frame from the gateway.
    fn on_frame(&mut self, envelope: Envelope) {
        self.last_inbound = Instant::now();
        let header = envelope.header;
        // An ack above what we sent belongs to an earlier process under our identity.
        if header.ack_seq <= self.seq_out {
            self.gateway_acked = self.gateway_acked.max(header.ack_seq);
        }
        if self.unacknowledged && self.sent_history.front().is_some_and(|(_, seq)| self.gateway_acked >= *seq) {
            self.unacknowledged = false;
        }
        if !self.unacknowledged {
            self.mark_gateway(true, "frame received");
        }
        if self.gateway_session != Some(header.session_id) {
            match self.gateway_session {
                Some(previous) => {
                    warn!(target: "bridge", previous, current = header.session_id, "GATEWAY_SESSION_CHANGED: gateway restarted; reconciling");
                }
                None => {
                    info!(target: "bridge", session = header.session_id, "first contact with the gateway; reconciling")
                }
            }
            if self.gateway_session.is_some() {
                self.begin_venue_reconcile();
            }
            // Our start-up request may have gone nowhere (no connection yet): ask again.
            self.last_reconcile_request = None;
            self.retry_reconcile();
            self.gateway_session = Some(header.session_id);
            self.stats.gateway_sessions += 1;
            self.last_seq_in = 0;
        }
        if header.seq != self.last_seq_in + 1 && self.last_seq_in != 0 {
            self.note_seq_anomaly(self.last_seq_in + 1, header.seq);
        }
        self.last_seq_in = header.seq;
        match envelope.body {
            Message::ExecReport(report) => self.on_report(report),
            Message::PositionSnapshot(snapshot) => self.on_snapshot(snapshot),
            Message::Heartbeat(_) => {}
            Message::SessionReject(reject) => {
                self.stats.session_rejects += 1;
                warn!(target: "bridge", ref_seq = reject.ref_seq, code = %reject.code, text = %reject.text, "SESSION_REJECT from the gateway");
                self.on_session_reject(reject.ref_seq);
            }
            other => {
                warn!(target: "bridge", msg_type = other.msg_type().as_str(), "unexpected message type from the gateway; ignored");
            }
        }
    }

    /// The gateway could not read one of our frames: the request it carried never reached
    /// it, so its lock is released now (an order is rejected locally, a query retried).
    fn on_session_reject(&mut self, ref_seq: u64) {
        if ref_seq == 0 {
            return;
        }
        let Some(lock) = self.locks.by_seq(ref_seq).copied() else { return };
        let side = self.submitted.get(&lock.intent_id).map_or(Side::Buy, |(_, side)| *side);
        self.release(lock.intent_id, Outcome::Rejected);
        self.submitted.remove(&lock.intent_id);
        match lock.kind {
            RequestKind::Order => {
                self.local_reject(lock.symbol, lock.intent_id, side, "session reject from the gateway")
            }
            RequestKind::StatusQuery => {
                self.retry_later(SubmitStatusQuery { symbol: lock.symbol, intent_id: lock.intent_id })
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
        stats.round_trip_us = summarize(&self.round_trip);
        stats.lock_hold_us = summarize(&self.lock_hold);
        stats.round_trip_histogram = Some(Mergeable(self.round_trip.clone()));
        stats.lock_hold_histogram = Some(Mergeable(self.lock_hold.clone()));
        stats.shards = 1;
        let mut by_symbol: Vec<(Symbol, [u64; 6])> =
            self.round_trip_by_symbol.iter().map(|(s, h)| (*s, summarize(h))).collect();
        by_symbol.sort_by_key(|a| a.0);
        stats.round_trip_by_symbol = by_symbol;
        MessageResult(stats)
    }
}

impl Handler<FetchSnapshot> for BridgeActor {
    type Result = ResponseFuture<Option<PositionSnapshot>>;
    fn handle(&mut self, msg: FetchSnapshot, _: &mut Context<Self>) -> Self::Result {
        // The waiter is in place before the request goes (its reply can come in the same
        // turn as the send).
        let request_id = self.next_request_id;
        let (tx, rx) = oneshot::channel();
        self.snapshot_waiters.insert(request_id, tx);
        self.stats.snapshot_fetches += 1;
        if self.request_snapshot() != Sent::Queued {
            self.stats.snapshot_fetches_unsent += 1;
            self.snapshot_waiters.remove(&request_id);
        }
        Box::pin(async move { tokio::time::timeout(msg.timeout, rx).await.ok().and_then(Result::ok) })
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

/// Ask the gateway for positions; the reply reconciles every symbol.
impl Handler<RequestSnapshot> for BridgeActor {
    type Result = ();
    fn handle(&mut self, _: RequestSnapshot, _: &mut Context<Self>) {
        // The reply reaches every symbol. One outstanding request serves every ask made
        // before its reply: on the ordered order channel that reply left the gateway after
        // the reports that made each symbol ask. (One request per symbol, with 10,000
        // symbols, is 10,000 snapshots of 10,000 lines each.)
        if self.asked_at.is_some() {
            return;
        }
        self.asked_at = Some(Instant::now());
        self.request_snapshot();
    }
}

impl Handler<ShutdownBridge> for BridgeActor {
    type Result = ();
    fn handle(&mut self, _: ShutdownBridge, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

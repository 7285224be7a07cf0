//! The paper gateway's order loop, on its own thread: a ROUTER for orders and reports
//! (ROUTER_MANDATORY, ROUTER_HANDOVER). `start` also binds the tick XPUB (topic = symbol)
//! and hands it to the publisher thread, which runs the seeded synthetic market and shares
//! its quotes with this loop, so the engine and the venue see the same prices.
//! Each peer is answered in the codec it speaks; a malformed frame gets a SessionReject and
//! the loop keeps running.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::feed::{InstrumentModel, IntervalMs};
use protocol::{
    Codec, DecodeError, Envelope, Heartbeat, IntentId, Message, RejectCode, SessionId, SessionReject, Symbol,
};
use tracing::{info, warn};

use crate::faults::{FaultConfig, FaultPlan};
use crate::journal::Journal;
use crate::publisher::{self, PublisherConfig, Quotes};
use crate::replay::feed::ReplaySpan;
use crate::replay::trades::{round_trips, RoundTrip};
use crate::replay::ReplayFeed;
use crate::venue::{LedgerLine, PaperVenue, VenueConfig};

/// Gateway settings.
#[derive(Clone, Debug)]
pub struct GatewayConfig {
    /// Where to bind the order ROUTER (`tcp://127.0.0.1:*` picks a free port).
    pub orders_bind: String,
    /// Where to bind the tick PUB.
    pub market_data_bind: String,
    pub models: Vec<InstrumentModel>,
    pub seed: u64,
    pub interval: IntervalMs,
    /// Codec of the tick PUB (order replies use each peer's own codec).
    pub market_data_codec: Codec,
    pub venue: VenueConfig,
    pub faults: FaultConfig,
    pub heartbeat_interval: Duration,
    /// Append-only order journal; replayed at start.
    pub journal: Option<PathBuf>,
    /// Stop publishing after this many ticks per symbol.
    pub ticks_per_symbol: Option<u64>,
    /// Publish as fast as the subscriber takes ticks (no pacing; the PUB never drops: it
    /// waits when the subscriber's buffers are full).
    pub max_rate: bool,
    /// Publish nothing until every symbol has a subscriber (no ticks lost to a slow joiner).
    pub wait_for_subscribers: bool,
    /// Stop publishing this long after the first tick.
    pub publish_for: Option<Duration>,
    /// Publish this recorded market instead of the random walk, and fill each market order
    /// at the recorded quote in force at its header's `ts_ns` (docs/PROTOCOL.md §11.5).
    /// Every replayed symbol must be among `models`.
    pub replay: Option<Arc<ReplayFeed>>,
    /// Told of every new order as it is read off the socket: its intent id and the
    /// gateway's wall clock then (ns). For benchmarks that time an order onto the wire
    /// (`intent-bench`); a full or closed channel is ignored, never waited on.
    pub order_observer: Option<crossbeam_channel::Sender<(IntentId, u64)>>,
}

/// Counters of one gateway run.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct GatewayCounters {
    pub orders: u64,
    pub fills: u64,
    pub rejects: u64,
    pub duplicate_intents: u64,
    pub status_queries: u64,
    pub snapshots: u64,
    pub dropped_replies: u64,
    pub undeliverable: u64,
    pub session_rejects: u64,
    /// New orders a peer sent in this gateway session before its first snapshot request
    /// (an engine that reconciles first sends none).
    pub orders_before_snapshot: u64,
    pub ticks_published: u64,
    pub journal_skipped: usize,
    /// Largest real gap between two published ticks of one symbol, µs (paced mode).
    pub max_publish_gap_us: u64,
    /// Published gaps of one symbol over 50 ms.
    pub publish_gaps_over_50ms: u64,
}

/// What a gateway run leaves behind.
#[derive(Clone, Debug, Default)]
pub struct GatewayOutcome {
    pub ledger: std::collections::BTreeMap<Symbol, LedgerLine>,
    pub counters: GatewayCounters,
    /// A replay's span and round trips (`None`: the random walk).
    pub replay: Option<ReplayOutcome>,
}

/// What a replay published and traded.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplayOutcome {
    pub span: ReplaySpan,
    pub trades: Vec<RoundTrip>,
}

impl GatewayOutcome {
    pub fn total_net(&self) -> protocol::Money {
        protocol::Money::checked_sum(self.ledger.values().map(LedgerLine::net)).unwrap_or(protocol::Money::ZERO)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("zmq {op} {endpoint}: {source}")]
    Zmq { op: &'static str, endpoint: String, source: zmq::Error },
    #[error("journal {path}: {source}")]
    Journal { path: String, source: std::io::Error },
    #[error("bad gateway config: {0}")]
    Config(String),
}

/// A running gateway.
pub struct GatewayHandle {
    pub orders_endpoint: String,
    pub market_data_endpoint: String,
    pub session_id: SessionId,
    /// The replay being published (`None`: the random walk).
    pub replay: Option<Arc<ReplayFeed>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<GatewayOutcome>>,
}

impl GatewayHandle {
    /// Stops the loop and returns its ledger and counters.
    pub fn stop(mut self) -> GatewayOutcome {
        self.stop.store(true, Ordering::Release);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }

    /// True once a replay has published its last tick (never for the random walk).
    pub fn replay_finished(&self) -> bool {
        self.replay.as_ref().is_some_and(|r| r.is_finished())
    }

    /// True while the loop is running (false after `stop_after` fired).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Peer {
    codec: Codec,
    seq_out: u64,
    last_seq_in: u64,
    last_seen: Instant,
    /// It has asked for a position snapshot in this gateway session.
    reconciled: bool,
}

/// ZMQ_XPUB_NODROP (valid on PUB sockets too; the `zmq` crate has no setter for it): at the
/// high-water mark a send fails with EAGAIN instead of dropping the message silently.
fn set_pub_nodrop(socket: &mut zmq::Socket) -> Result<(), zmq::Error> {
    let value: std::os::raw::c_int = 1;
    #[allow(unsafe_code)]
    // SAFETY: `as_mut_ptr` is the live socket handle owned by `socket` for this call; the
    // option value is a valid c_int whose size is passed alongside it.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as std::os::raw::c_int,
            (&value as *const std::os::raw::c_int).cast(),
            std::mem::size_of::<std::os::raw::c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(zmq::Error::EINVAL)
    }
}

/// Binds both sockets and starts the loop.
pub fn start(config: GatewayConfig) -> Result<GatewayHandle, GatewayError> {
    config.faults.validate().map_err(GatewayError::Config)?;
    if config.models.is_empty() {
        return Err(GatewayError::Config("no symbols".into()));
    }
    if let Some(missing) =
        config.replay.iter().flat_map(|r| r.symbols()).find(|s| !config.models.iter().any(|m| m.symbol == **s))
    {
        return Err(GatewayError::Config(format!("replayed symbol {missing} is not traded here")));
    }
    // A replay at max speed is lossless like the random walk at max rate.
    let max_rate = config.max_rate || config.replay.as_ref().is_some_and(|r| r.speed().is_max());
    let ctx = zmq::Context::new();
    let zerr = |op: &'static str, endpoint: &str| {
        let endpoint = endpoint.to_string();
        move |source| GatewayError::Zmq { op, endpoint, source }
    };
    let router = ctx.socket(zmq::ROUTER).map_err(zerr("socket", "ROUTER"))?;
    router.set_router_mandatory(true).map_err(zerr("router_mandatory", &config.orders_bind))?;
    router.set_router_handover(true).map_err(zerr("router_handover", &config.orders_bind))?;
    router.set_linger(0).map_err(zerr("linger", &config.orders_bind))?;
    router.set_sndhwm(100_000).map_err(zerr("sndhwm", &config.orders_bind))?;
    router.bind(&config.orders_bind).map_err(zerr("bind", &config.orders_bind))?;
    // XPUB: a PUB that also tells us who subscribed to what.
    let mut publisher = ctx.socket(zmq::XPUB).map_err(zerr("socket", "XPUB"))?;
    publisher.set_linger(0).map_err(zerr("linger", &config.market_data_bind))?;
    publisher.set_sndhwm(1_000_000).map_err(zerr("sndhwm", &config.market_data_bind))?;
    // Subscriptions arrive as messages: room for every symbol of every subscriber.
    publisher.set_rcvhwm(1_000_000).map_err(zerr("rcvhwm", &config.market_data_bind))?;
    if max_rate {
        set_pub_nodrop(&mut publisher).map_err(zerr("xpub_nodrop", &config.market_data_bind))?;
    }
    publisher.bind(&config.market_data_bind).map_err(zerr("bind", &config.market_data_bind))?;
    let last = |s: &zmq::Socket, fallback: &str| {
        s.get_last_endpoint().ok().and_then(Result::ok).unwrap_or_else(|| fallback.to_string())
    };
    let orders_endpoint = last(&router, &config.orders_bind);
    let market_data_endpoint = last(&publisher, &config.market_data_bind);

    let mut venue =
        PaperVenue::new(config.venue, config.models.iter().map(|m| m.symbol), crate::clock::wall_ns() / 1_000);
    let mut counters = GatewayCounters::default();
    let journal = match &config.journal {
        Some(path) => {
            let (journal, replayed) = Journal::open(path)
                .map_err(|source| GatewayError::Journal { path: path.display().to_string(), source })?;
            counters.journal_skipped = replayed.skipped;
            venue.restore(replayed.records, replayed.dead);
            Some(journal)
        }
        None => None,
    };
    let session_id = protocol::SessionId::fresh();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    // Every symbol that can be published: the configured ones and a replay's.
    let replay_symbols = config.replay.iter().flat_map(|r| r.symbols().iter().copied()).collect::<Vec<_>>();
    let quotes: Quotes =
        Arc::new(crate::quotes::QuoteBoard::new(config.models.iter().map(|m| m.symbol).chain(replay_symbols)));
    let publisher_stop = Arc::new(AtomicBool::new(false));
    let publisher_config = PublisherConfig {
        models: config.models.clone(),
        seed: config.seed,
        interval: config.interval,
        codec: config.market_data_codec,
        session_id,
        max_rate,
        ticks_per_symbol: config.ticks_per_symbol,
        wait_for_subscribers: config.wait_for_subscribers,
        publish_for: config.publish_for,
        replay: config.replay.clone(),
    };
    let replay = config.replay.clone();
    let ticks = publisher::spawn(publisher, publisher_config, Arc::clone(&quotes), Arc::clone(&publisher_stop))
        .map_err(|e| GatewayError::Config(format!("cannot start the publisher thread: {e}")))?;
    let thread = std::thread::Builder::new()
        .name("paper-gateway".into())
        .spawn(move || {
            let mut server = Server {
                config,
                router,
                _ctx: ctx,
                venue,
                quotes,
                journal,
                counters,
                session_id,
                peers: HashMap::new(),
                replies: VecDeque::new(),
            };
            server.run(&stop_flag);
            // Whatever ended the loop (stop, injected stop), the ticks stop with it.
            publisher_stop.store(true, Ordering::Release);
            let published = ticks.join().unwrap_or_default();
            server.counters.ticks_published = published.ticks_published;
            server.counters.max_publish_gap_us = published.max_publish_gap_us;
            server.counters.publish_gaps_over_50ms = published.publish_gaps_over_50ms;
            let replay = server
                .config
                .replay
                .as_ref()
                .map(|r| ReplayOutcome { span: r.span(), trades: round_trips(&server.venue.fills()) });
            GatewayOutcome { ledger: server.venue.ledger(), counters: server.counters, replay }
        })
        .map_err(|e| GatewayError::Config(format!("cannot start the gateway thread: {e}")))?;
    info!(target: "gateway", orders = %orders_endpoint, market_data = %market_data_endpoint, session_id = session_id.0, "paper gateway listening");
    Ok(GatewayHandle { orders_endpoint, market_data_endpoint, session_id, replay, stop, thread: Some(thread) })
}

struct Server {
    config: GatewayConfig,
    router: zmq::Socket,
    _ctx: zmq::Context,
    venue: PaperVenue,
    quotes: Quotes,
    journal: Option<Journal>,
    counters: GatewayCounters,
    session_id: SessionId,
    peers: HashMap<Vec<u8>, Peer>,
    /// Replies waiting for their injected latency: (due, identity, body).
    replies: VecDeque<(Instant, Vec<u8>, Message)>,
}

impl Server {
    fn run(&mut self, stop: &AtomicBool) {
        let started = Instant::now();
        let mut next_heartbeat = started + self.config.heartbeat_interval;
        let mut faults = FaultPlan::new(self.config.faults, self.config.seed);
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if self.config.faults.stop_after.is_some_and(|after| now.duration_since(started) >= after) {
                warn!(target: "gateway", "injected stop: the gateway goes away");
                return;
            }
            self.flush_replies(now);
            if now >= next_heartbeat {
                self.heartbeats();
                next_heartbeat = now + self.config.heartbeat_interval;
            }
            // Sleep in poll until a frame arrives or the next timed job is due.
            let mut wake = next_heartbeat.min(now + Duration::from_millis(50));
            if let Some((at, _, _)) = self.replies.front() {
                wake = wake.min(*at);
            }
            let timeout = i64::try_from(wake.saturating_duration_since(now).as_millis()).unwrap_or(50);
            match self.router.poll(zmq::POLLIN, timeout) {
                Ok(n) if n > 0 => self.drain_orders(&mut faults),
                Ok(_) => {}
                Err(zmq::Error::EINTR) => {}
                Err(e) => {
                    warn!(target: "gateway", error = %e, "poll failed; gateway stops");
                    return;
                }
            }
            if let Some(journal) = &mut self.journal {
                if let Err(e) = journal.flush() {
                    warn!(target: "gateway", error = %e, "journal flush failed");
                }
            }
        }
    }

    fn drain_orders(&mut self, faults: &mut FaultPlan) {
        while let Ok(parts) = self.router.recv_multipart(zmq::DONTWAIT) {
            let (Some(identity), Some(payload)) = (parts.first(), parts.last()) else { continue };
            if parts.len() < 2 {
                continue;
            }
            if parts.len() > 2 {
                // The protocol is exactly one payload frame after the routing identity.
                let text = format!("expected 1 payload frame, got {}", parts.len() - 1);
                self.counters.session_rejects += 1;
                let identity = identity.clone();
                let codec = parts.get(1).map_or(self.config.market_data_codec, |frame| Codec::detect(frame));
                self.peers.entry(identity.clone()).or_insert(Peer {
                    codec,
                    seq_out: 0,
                    last_seq_in: 0,
                    last_seen: Instant::now(),
                    reconciled: false,
                });
                self.send_now(
                    &identity,
                    Message::SessionReject(SessionReject { ref_seq: 0, code: RejectCode::MalformedFrame, text }),
                );
                continue;
            }
            let identity = identity.clone();
            let codec = Codec::detect(payload);
            let decoded = codec.decode(payload);
            let peer = self.peers.entry(identity.clone()).or_insert(Peer {
                codec,
                seq_out: 0,
                last_seq_in: 0,
                last_seen: Instant::now(),
                reconciled: false,
            });
            peer.codec = codec;
            peer.last_seen = Instant::now();
            match decoded {
                Ok(envelope) => {
                    peer.last_seq_in = envelope.header.seq;
                    self.handle(identity, envelope.header.ts_ns, envelope.body, faults);
                }
                Err(error) => {
                    // The seq of the refused frame when its header can still be read (so the
                    // sender can tell which request was refused); 0 otherwise.
                    let ref_seq = codec.peek_seq(payload).unwrap_or(0);
                    self.session_reject(identity, &error, ref_seq)
                }
            }
        }
    }

    /// One request; `sent_ns` is its header's `ts_ns` (the sender's clock).
    fn handle(&mut self, identity: Vec<u8>, sent_ns: u64, body: Message, faults: &mut FaultPlan) {
        match body {
            Message::NewOrder(order) => {
                if let Some(observer) = &self.config.order_observer {
                    let _ = observer.try_send((order.intent_id, crate::clock::wall_ns()));
                }
                self.counters.orders += 1;
                if self.peers.get(&identity).is_some_and(|p| !p.reconciled) {
                    self.counters.orders_before_snapshot += 1;
                }
                let f = faults.for_order();
                self.set_touch_for(order.symbol, sent_ns);
                let skew_ns = self.config.faults.clock_skew_ms.saturating_mul(1_000_000);
                let now = crate::clock::wall_ns().saturating_add_signed(skew_ns);
                let handled = self.venue.new_order(&order, now, f.reject);
                if handled.new_record {
                    if let (Some(journal), Some(record)) = (&mut self.journal, self.venue.record(order.intent_id)) {
                        // On disk before the reply leaves: a crash cannot forget a fill the
                        // engine has been told about.
                        if let Err(e) = journal.record_order(record).and_then(|()| journal.flush()) {
                            warn!(target: "gateway", error = %e, "journal write failed");
                        }
                    }
                } else {
                    self.counters.duplicate_intents += 1;
                }
                for report in handled.reports {
                    if report.is_fill() {
                        self.counters.fills += 1;
                    } else if report.ord_status == protocol::OrdStatus::Rejected {
                        self.counters.rejects += 1;
                    }
                    if f.drop_reply && handled.new_record {
                        self.counters.dropped_replies += 1;
                    } else {
                        self.reply(identity.clone(), Message::ExecReport(report));
                    }
                }
            }
            Message::OrderStatusQuery(query) => {
                self.counters.status_queries += 1;
                let replies = self.venue.status_query(&query);
                if let (Some(journal), Some(intent)) = (&mut self.journal, query.intent_id) {
                    if replies.first().is_some_and(|r| r.reject_code == RejectCode::UnknownOrder) {
                        // On disk before the answer: the intent stays refused after a restart.
                        if let Err(e) = journal.record_unknown(intent).and_then(|()| journal.flush()) {
                            warn!(target: "gateway", error = %e, "journal write failed");
                        }
                    }
                }
                for report in replies {
                    self.reply(identity.clone(), Message::ExecReport(report));
                }
            }
            Message::PositionSnapshotRequest(request) => {
                self.counters.snapshots += 1;
                if let Some(peer) = self.peers.get_mut(&identity) {
                    peer.reconciled = true;
                }
                let snapshot = self.venue.snapshot(request.request_id);
                self.reply(identity, Message::PositionSnapshot(snapshot));
            }
            Message::Heartbeat(_) => {}
            other => {
                let text = format!("unexpected message type {} on the order channel", other.msg_type().as_str());
                self.counters.session_rejects += 1;
                self.send_now(
                    &identity,
                    Message::SessionReject(SessionReject { ref_seq: 0, code: RejectCode::Other, text }),
                );
            }
        }
    }

    /// The touch an order fills at: in a replay, the recorded quote in force at the order's
    /// header time (the engine's decision time on the data clock), its reports stamped with
    /// that quote's time; otherwise (or for a time before the first quote) the live quote.
    fn set_touch_for(&mut self, symbol: Symbol, sent_ns: u64) {
        let recorded = self.config.replay.as_ref().and_then(|r| r.quote_at(symbol, sent_ns));
        let quote = match recorded {
            Some(q) => Some((q.bid, q.ask)),
            None => self.quotes.get(symbol),
        };
        if let Some((bid, ask)) = quote {
            self.venue.set_quote(symbol, bid, ask);
        }
        self.venue.set_data_time(recorded.map(|q| q.ts_ns));
    }

    fn session_reject(&mut self, identity: Vec<u8>, error: &DecodeError, ref_seq: u64) {
        self.counters.session_rejects += 1;
        let code = match error {
            DecodeError::UnsupportedVersion { .. } => RejectCode::UnsupportedVersion,
            _ => RejectCode::MalformedFrame,
        };
        let text: String = error.to_string().chars().take(protocol::messages::MAX_TEXT_LEN).collect();
        warn!(target: "gateway", kind = error.kind(), "malformed frame from a peer; session reject sent");
        self.send_now(&identity, Message::SessionReject(SessionReject { ref_seq, code, text }));
    }

    /// Queues a reply behind the injected latency (or sends it now).
    fn reply(&mut self, identity: Vec<u8>, body: Message) {
        if self.config.faults.extra_latency.is_zero() {
            self.send_now(&identity, body);
        } else {
            self.replies.push_back((Instant::now() + self.config.faults.extra_latency, identity, body));
        }
    }

    fn flush_replies(&mut self, now: Instant) {
        while self.replies.front().is_some_and(|(at, _, _)| *at <= now) {
            if let Some((_, identity, body)) = self.replies.pop_front() {
                self.send_now(&identity, body);
            }
        }
    }

    fn send_now(&mut self, identity: &[u8], body: Message) {
        let Some(peer) = self.peers.get_mut(identity) else { return };
        peer.seq_out += 1;
        let envelope = Envelope::new(self.session_id, peer.seq_out, peer.last_seq_in, crate::clock::wall_ns(), body);
        let Ok(frame) = peer.codec.encode(&envelope) else { return };
        // ROUTER_MANDATORY: a peer that is gone is an error, not a silent drop.
        if self.router.send_multipart([identity, frame.as_slice()], zmq::DONTWAIT).is_err() {
            self.counters.undeliverable += 1;
        }
    }

    fn heartbeats(&mut self) {
        let alive: Vec<Vec<u8>> = self
            .peers
            .iter()
            .filter(|(_, p)| p.last_seen.elapsed() < Duration::from_secs(30))
            .map(|(id, _)| id.clone())
            .collect();
        for identity in alive {
            let (last_seq_sent, last_seq_received) =
                self.peers.get(&identity).map_or((0, 0), |p| (p.seq_out, p.last_seq_in));
            let body = Message::Heartbeat(Heartbeat { session_id: self.session_id, last_seq_sent, last_seq_received });
            self.send_now(&identity, body);
        }
    }
}

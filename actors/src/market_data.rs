//! Market data, one feed per shard: a [`FeedActor`] on the shard's thread owns a SUB socket
//! on the gateway's PUB, subscribed to that shard's symbols only (topic = symbol). It
//! decodes ticks and steps each through its symbol's tick port on the same thread (a direct
//! call: `crate::symbol_actor::TickPort`), so a tick reaches its symbol with no thread
//! hand-off and no mailbox. The feed reads nothing until every symbol of its shard has
//! started; a tick for a symbol that has stopped goes to its closed mailbox (dropped, counted).
//!
//! A symbol is stepped at once, so a slow one (under the step budget) slows its shard-mates:
//! their ticks wait in the SUB socket, and past its receive high-water mark libzmq drops
//! ticks (counted as lost by the stress gate). [`Overflow`] still decides two cases:
//! `Backpressure` (the stress harness's `--max-rate`, a replay at max speed) keeps a tick
//! whose data-clock symbol holds as many ticks as it may (its `TickGate` is closed), or
//! whose fallback mailbox is full, and stops reading until there is room, so no tick is
//! lost and the gateway's PUB is slowed down through the socket buffers instead; `Drop`
//! (the production default) drops such a tick for that symbol only (counted; the core sees
//! the sequence gap and resyncs). Either way the feed yields to the shard after a batch, so
//! ticks never starve the orders and reports of the same thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use protocol::{Codec, Message as Wire, Symbol};
use tracing::warn;

use crate::data_clock::TickGate;
use crate::messages::TickArrived;
use crate::symbol_actor::{hosted_port, TickPort};
use crate::time::wall_ns;
use crate::zmq_ready::{Readable, Readiness};

/// What to do with a tick for a symbol whose mailbox is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Drop,
    Backpressure,
}

/// Frames taken per turn before the feed yields to the shard's symbol actors.
const BATCH: usize = 256;
/// How long a feed waits for a full mailbox (`Backpressure`) before trying again.
const FULL_RETRY: Duration = Duration::from_micros(50);

/// Counters of one shard's feed (written by that shard's thread only).
#[derive(Debug, Default)]
pub struct FeedCounters {
    pub received: AtomicU64,
    pub dispatched: AtomicU64,
    pub dropped_full: AtomicU64,
    pub unknown_symbol: AtomicU64,
    pub undecodable: AtomicU64,
    /// Largest gap between two ticks of one symbol, as received (ns).
    pub max_gap_ns: AtomicU64,
    /// Inter-arrival gaps of one symbol over 50 ms.
    pub gaps_over_50ms: AtomicU64,
    /// Wall-clock ns of the first and the latest tick dispatched (the active window).
    pub first_tick_ns: AtomicU64,
    pub last_tick_ns: AtomicU64,
}

/// Every shard's feed counters, summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedTotals {
    pub received: u64,
    pub dispatched: u64,
    pub dropped_full: u64,
    pub unknown_symbol: u64,
    pub undecodable: u64,
    pub max_gap_ns: u64,
    pub gaps_over_50ms: u64,
    /// First to last tick dispatched, over all shards (ns).
    pub active_ns: u64,
}

/// The counters of every shard's feed.
#[derive(Clone, Debug, Default)]
pub struct FeedCounterSet(Vec<Arc<FeedCounters>>);

impl FeedCounterSet {
    pub fn totals(&self) -> FeedTotals {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut t = FeedTotals::default();
        let (mut first, mut last) = (u64::MAX, 0u64);
        for c in &self.0 {
            t.received += get(&c.received);
            t.dispatched += get(&c.dispatched);
            t.dropped_full += get(&c.dropped_full);
            t.unknown_symbol += get(&c.unknown_symbol);
            t.undecodable += get(&c.undecodable);
            t.max_gap_ns = t.max_gap_ns.max(get(&c.max_gap_ns));
            t.gaps_over_50ms += get(&c.gaps_over_50ms);
            if get(&c.dispatched) > 0 {
                first = first.min(get(&c.first_tick_ns));
                last = last.max(get(&c.last_tick_ns));
            }
        }
        t.active_ns = last.saturating_sub(first);
        t
    }
}

/// Every shard's running feed.
pub struct MarketData {
    stop: Arc<AtomicBool>,
    feeds: Vec<Addr<FeedActor>>,
    pub counters: FeedCounterSet,
    /// Symbols on the data clock: a closed gate is a full mailbox (`crate::data_clock`).
    gates: HashMap<Symbol, TickGate>,
}

impl MarketData {
    pub fn new() -> MarketData {
        MarketData {
            stop: Arc::new(AtomicBool::new(false)),
            feeds: Vec::new(),
            counters: FeedCounterSet::default(),
            gates: HashMap::new(),
        }
    }

    /// The gates of symbols on the data clock, for the shards added after this call: with
    /// `Overflow::Backpressure` a closed gate holds the symbol's ticks like a full mailbox.
    pub fn set_gates(&mut self, gates: HashMap<Symbol, TickGate>) {
        self.gates = gates;
    }

    /// Connects a SUB socket for one shard's symbols and starts its feed on `arbiter`.
    pub fn add_shard(
        &mut self,
        ctx: &zmq::Context,
        endpoint: &str,
        codec: Codec,
        routes: HashMap<Symbol, Recipient<TickArrived>>,
        overflow: Overflow,
        arbiter: &ArbiterHandle,
    ) -> Result<(), zmq::Error> {
        let sub = ctx.socket(zmq::SUB)?;
        sub.set_linger(0)?;
        sub.set_rcvhwm(100_000)?;
        // Each subscription is one message on the SUB's outgoing pipe, re-sent at every
        // (re)connect: with libzmq's default send HWM (1,000) the 1,001st symbol's
        // subscription was dropped silently and that symbol (or, behind a publisher that
        // waits for every subscriber, every symbol) never got a tick.
        sub.set_sndhwm(i32::try_from(routes.len().saturating_mul(2)).unwrap_or(i32::MAX).max(1_000))?;
        sub.set_reconnect_ivl(100)?;
        sub.set_reconnect_ivl_max(1_000)?;
        for symbol in routes.keys() {
            sub.set_subscribe(symbol.as_str().as_bytes())?;
        }
        sub.connect(endpoint)?;
        let counters = Arc::new(FeedCounters::default());
        self.counters.0.push(Arc::clone(&counters));
        let stop = Arc::clone(&self.stop);
        let routes: Vec<(Symbol, Recipient<TickArrived>, Option<TickGate>)> = routes
            .into_iter()
            .map(|(symbol, mailbox)| {
                let gate = self.gates.get(&symbol).cloned();
                (symbol, mailbox, gate)
            })
            .collect();
        // Built on the shard's thread: its routes will hold that thread's tick ports.
        self.feeds.push(FeedActor::start_in_arbiter(arbiter, move |_| FeedActor {
            sub,
            codec,
            routes: routes
                .into_iter()
                .map(|(symbol, mailbox, gate)| (symbol, Route { mailbox, port: None, gate, last_seen_ns: None }))
                .collect(),
            overflow,
            stop,
            c: counters,
            waiting: None,
            resume_scheduled: false,
            warned: 0,
            readiness: None,
            ports: PortsState::Waiting { since: None },
            topic: zmq::Message::new(),
            payload: zmq::Message::new(),
        }));
        Ok(())
    }

    /// No tick is routed after this returns; each feed then closes its socket.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        for feed in self.feeds.drain(..) {
            feed.do_send(StopFeed);
        }
    }
}

impl Default for MarketData {
    fn default() -> Self {
        MarketData::new()
    }
}

impl Drop for MarketData {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Close the feed's socket and stop.
#[derive(Message)]
#[rtype(result = "()")]
struct StopFeed;

/// One symbol as its shard's feed sees it.
struct Route {
    /// The fallback road: the actor's mailbox (a symbol not running: stopped, or not
    /// started within [`PORTS_WAIT`]).
    mailbox: Recipient<TickArrived>,
    /// The direct road on this thread (resolved once every symbol of the shard runs).
    port: Option<TickPort>,
    /// A data-clock symbol's gate (see [`MarketData::set_gates`]).
    gate: Option<TickGate>,
    /// When the last tick for this symbol was received (ns).
    last_seen_ns: Option<u64>,
}

/// Whether the feed has its symbols' tick ports yet.
enum PortsState {
    /// Not every symbol has started: nothing is read yet (a tick must not reach a symbol
    /// before it has started to reconcile), since when.
    Waiting { since: Option<std::time::Instant> },
    /// Every port resolved (or, past [`PORTS_WAIT`], the mailbox for those that were not).
    Ready,
}

/// How long a feed waits for its symbols to start before reading anyway (by mailbox for a
/// symbol still not running).
const PORTS_WAIT: Duration = Duration::from_secs(5);

/// One shard's feed: its SUB socket, read on the shard's thread.
pub struct FeedActor {
    sub: zmq::Socket,
    codec: Codec,
    routes: HashMap<Symbol, Route>,
    overflow: Overflow,
    stop: Arc<AtomicBool>,
    c: Arc<FeedCounters>,
    /// A tick kept for a full mailbox or a closed gate (`Backpressure`): routed before
    /// anything else is read.
    waiting: Option<TickArrived>,
    /// A drain is already scheduled (after a batch, or for a full mailbox).
    resume_scheduled: bool,
    warned: u32,
    readiness: Option<SpawnHandle>,
    ports: PortsState,
    /// The two frames of a tick, received into the same buffers every time.
    topic: zmq::Message,
    payload: zmq::Message,
}

impl Actor for FeedActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        match Readiness::of(&self.sub) {
            Ok(readiness) => self.readiness = Some(ctx.add_stream(readiness)),
            Err(e) => {
                warn!(target: "feed", error = %e, "cannot watch the market-data socket; this shard gets no ticks");
                ctx.stop();
            }
        }
    }
}

impl StreamHandler<Readable> for FeedActor {
    fn handle(&mut self, _: Readable, ctx: &mut Context<Self>) {
        self.drain(ctx);
    }

    /// The descriptor is gone: nothing more to read, but the actor's stop is explicit.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Handler<StopFeed> for FeedActor {
    type Result = ();
    fn handle(&mut self, _: StopFeed, ctx: &mut Context<Self>) {
        if let Some(handle) = self.readiness.take() {
            ctx.cancel_future(handle);
        }
        ctx.stop();
    }
}

impl FeedActor {
    /// Routes up to one batch of ticks, then yields to the shard (scheduling the rest).
    fn drain(&mut self, ctx: &mut Context<Self>) {
        if self.stop.load(Ordering::Acquire) {
            return;
        }
        if !self.ports_ready() {
            self.resume_later(ctx, Duration::from_millis(1));
            return;
        }
        if let Some(waiting) = self.waiting.take() {
            if let Err(back) = self.route(waiting) {
                self.waiting = Some(back);
                self.resume_later(ctx, FULL_RETRY);
                return;
            }
        }
        for _ in 0..BATCH {
            // Receiving until EAGAIN is what re-arms the socket's edge (`zmq_ready`): a
            // non-blocking receive that finds nothing processes libzmq's pending commands
            // first. No `ZMQ_EVENTS` read per tick (each one was a poll(2) call).
            match self.receive() {
                Received::Nothing => return,
                Received::Frame => {}
                Received::Malformed => {
                    self.c.received.fetch_add(1, Ordering::Relaxed);
                    self.c.undecodable.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            self.c.received.fetch_add(1, Ordering::Relaxed);
            match self.decode() {
                Ok(tick) => {
                    if let Err(back) = self.route(tick) {
                        self.waiting = Some(back);
                        self.resume_later(ctx, FULL_RETRY);
                        return;
                    }
                }
                Err(Some(error)) if self.warned < 10 => {
                    self.warned += 1;
                    warn!(target: "feed", error = %error, "undecodable market-data frame; dropped");
                }
                Err(_) => {}
            }
        }
        // More may be waiting, and no new edge will announce it: come back after the
        // shard's other actors have had their turn.
        self.resume_later(ctx, Duration::ZERO);
    }

    /// Whether every symbol of the shard runs, resolving their tick ports the first time.
    fn ports_ready(&mut self) -> bool {
        let PortsState::Waiting { since } = &mut self.ports else { return true };
        let since = *since.get_or_insert_with(std::time::Instant::now);
        let ports: Vec<Option<TickPort>> =
            self.routes.keys().map(|s| hosted_port(s).filter(TickPort::is_running)).collect();
        let missing = ports.iter().filter(|p| p.is_none()).count();
        if missing > 0 && since.elapsed() < PORTS_WAIT {
            return false;
        }
        if missing > 0 {
            warn!(target: "feed", missing, "symbols not started after 5 s: their ticks go by mailbox");
        }
        for (route, port) in self.routes.values_mut().zip(ports) {
            route.port = port;
        }
        self.ports = PortsState::Ready;
        true
    }

    /// Receives one message into `topic` and `payload` (a tick is exactly two frames).
    fn receive(&mut self) -> Received {
        if self.sub.recv(&mut self.topic, zmq::DONTWAIT).is_err() {
            return Received::Nothing;
        }
        if !self.topic.get_more() {
            return Received::Malformed;
        }
        if self.sub.recv(&mut self.payload, zmq::DONTWAIT).is_err() {
            return Received::Malformed;
        }
        if !self.payload.get_more() {
            return Received::Frame;
        }
        // More than two frames: take the rest of the message and drop it all.
        while self.sub.recv(&mut self.payload, zmq::DONTWAIT).is_ok() && self.payload.get_more() {}
        Received::Malformed
    }

    fn resume_later(&mut self, ctx: &mut Context<Self>, after: Duration) {
        if self.resume_scheduled {
            return;
        }
        self.resume_scheduled = true;
        let resume = async move {
            if after.is_zero() {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(after).await;
            }
        };
        ctx.spawn(resume.into_actor(self).map(|(), act, ctx| {
            act.resume_scheduled = false;
            act.drain(ctx);
        }));
    }

    /// The received tick, if its symbol matches its topic, or why not (`None` = not worth
    /// a warning).
    fn decode(&self) -> Result<TickArrived, Option<protocol::DecodeError>> {
        let received_ns = wall_ns();
        let bad = |error| {
            self.c.undecodable.fetch_add(1, Ordering::Relaxed);
            error
        };
        let envelope = self.codec.decode(&self.payload).map_err(|e| bad(Some(e)))?;
        match envelope.body {
            Wire::Tick(tick) if tick.symbol.as_str().as_bytes() == &self.topic[..] => {
                Ok(TickArrived { tick, received_ns, session_id: envelope.header.session_id })
            }
            _ => Err(bad(None)),
        }
    }

    /// Hands a tick to its symbol: stepped at once through its port, else by its mailbox.
    /// `Err` gives it back when the symbol cannot take it now and the policy is to wait.
    fn route(&mut self, message: TickArrived) -> Result<(), TickArrived> {
        let symbol = message.tick.symbol;
        let message_ns = message.received_ns;
        let Some(route) = self.routes.get_mut(&symbol) else {
            self.c.unknown_symbol.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if self.overflow == Overflow::Backpressure && route.gate.as_ref().is_some_and(TickGate::is_closed) {
            // The symbol holds as many ticks as it may behind an unresolved order.
            return Err(message);
        }
        let direct = match route.port.as_ref() {
            Some(port) => port.step(message),
            None => Err(message),
        };
        let sent = match direct {
            Ok(()) => Ok(()),
            Err(message) => route.mailbox.try_send(message),
        };
        match sent {
            Ok(()) => {
                if let Some(previous) = route.last_seen_ns.replace(message_ns) {
                    let gap = message_ns.saturating_sub(previous);
                    if gap > self.c.max_gap_ns.load(Ordering::Relaxed) {
                        self.c.max_gap_ns.store(gap, Ordering::Relaxed);
                    }
                    if gap > 50_000_000 {
                        self.c.gaps_over_50ms.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if self.c.dispatched.fetch_add(1, Ordering::Relaxed) == 0 {
                    self.c.first_tick_ns.store(message_ns, Ordering::Relaxed);
                }
                self.c.last_tick_ns.store(message_ns, Ordering::Relaxed);
                Ok(())
            }
            Err(SendError::Full(back)) if self.overflow == Overflow::Backpressure => Err(back),
            Err(_) => {
                self.c.dropped_full.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
        }
    }
}

/// What one receive found.
enum Received {
    /// No message waiting.
    Nothing,
    /// A two-frame message, in `topic` and `payload`.
    Frame,
    /// A message of one frame, or of more than two (dropped whole).
    Malformed,
}

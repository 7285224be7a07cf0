//! The market-data thread: a SUB socket on the gateway's PUB (topic = symbol), decoding
//! ticks and routing each to its symbol's actor with `try_send`.
//!
//! What happens when a symbol's mailbox is full is a policy ([`Overflow`]): `Drop` (the
//! production default) drops the tick for that symbol only (counted; the core sees the
//! sequence gap and resyncs), so a slow symbol never stalls the others. `Backpressure`
//! (the stress harness's `--max-rate`) waits, so no tick is lost and the gateway's PUB is
//! slowed down through the socket buffers instead.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use actix::prelude::*;
use protocol::{Codec, Message, Symbol};
use tracing::warn;

use crate::messages::TickArrived;
use crate::time::wall_ns;

/// What to do with a tick for a symbol whose mailbox is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    Drop,
    Backpressure,
}

/// Counters of the feed thread.
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

impl FeedCounters {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// The running feed.
pub struct MarketData {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub counters: Arc<FeedCounters>,
}

impl MarketData {
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MarketData {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connects the SUB socket, subscribes to every routed symbol, and starts the thread.
pub fn subscribe(
    ctx: &zmq::Context,
    endpoint: &str,
    codec: Codec,
    routes: HashMap<Symbol, Recipient<TickArrived>>,
    overflow: Overflow,
) -> Result<MarketData, zmq::Error> {
    let sub = ctx.socket(zmq::SUB)?;
    sub.set_linger(0)?;
    sub.set_rcvhwm(100_000)?;
    // Each subscription is one message on the SUB's outgoing pipe, re-sent at every
    // (re)connect: with libzmq's default send HWM (1,000) the 1,001st symbol's subscription
    // was dropped silently and that symbol (or, behind a publisher that waits for every
    // subscriber, every symbol) never got a tick.
    sub.set_sndhwm(i32::try_from(routes.len().saturating_mul(2)).unwrap_or(i32::MAX).max(1_000))?;
    sub.set_reconnect_ivl(100)?;
    sub.set_reconnect_ivl_max(1_000)?;
    for symbol in routes.keys() {
        sub.set_subscribe(symbol.as_str().as_bytes())?;
    }
    sub.connect(endpoint)?;
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(FeedCounters::default());
    let (stop_flag, c) = (Arc::clone(&stop), Arc::clone(&counters));
    let thread = std::thread::Builder::new()
        .name("market-data".into())
        .spawn(move || Feed { sub, codec, routes, overflow, stop: stop_flag, c, last_seen: HashMap::new() }.run())
        .map_err(|_| zmq::Error::EFAULT)?;
    Ok(MarketData { stop, thread: Some(thread), counters })
}

struct Feed {
    sub: zmq::Socket,
    codec: Codec,
    routes: HashMap<Symbol, Recipient<TickArrived>>,
    overflow: Overflow,
    stop: Arc<AtomicBool>,
    c: Arc<FeedCounters>,
    last_seen: HashMap<Symbol, u64>,
}

impl Feed {
    fn run(mut self) {
        let mut warned = 0u32;
        while !self.stop.load(Ordering::Acquire) {
            // The timeout only bounds how quickly `stop` is noticed; ticks wake poll at once.
            match self.sub.poll(zmq::POLLIN, 100) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(_) => return,
            }
            while let Ok(parts) = self.sub.recv_multipart(zmq::DONTWAIT) {
                self.c.received.fetch_add(1, Ordering::Relaxed);
                match self.decode(&parts) {
                    Ok(message) => self.dispatch(message),
                    Err(Some(error)) if warned < 10 => {
                        warned += 1;
                        warn!(target: "feed", error = %error, "undecodable market-data frame; dropped");
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// A tick whose symbol matches its topic, or why not (`None` = not worth a warning).
    fn decode(&self, parts: &[Vec<u8>]) -> Result<TickArrived, Option<protocol::DecodeError>> {
        let received_ns = wall_ns();
        let bad = |error| {
            self.c.undecodable.fetch_add(1, Ordering::Relaxed);
            error
        };
        let (Some(topic), Some(payload)) = (parts.first(), parts.get(1)) else { return Err(bad(None)) };
        let envelope = self.codec.decode(payload).map_err(|e| bad(Some(e)))?;
        match envelope.body {
            Message::Tick(tick) if tick.symbol.as_str().as_bytes() == topic.as_slice() => {
                Ok(TickArrived { tick, received_ns, session_id: envelope.header.session_id })
            }
            _ => Err(bad(None)),
        }
    }

    fn dispatch(&mut self, mut message: TickArrived) {
        let symbol = message.tick.symbol;
        let message_ns = message.received_ns;
        let Some(route) = self.routes.get(&symbol) else {
            self.c.unknown_symbol.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if let Some(previous) = self.last_seen.insert(symbol, message.received_ns) {
            let gap = message.received_ns.saturating_sub(previous);
            self.c.max_gap_ns.fetch_max(gap, Ordering::Relaxed);
            if gap > 50_000_000 {
                self.c.gaps_over_50ms.fetch_add(1, Ordering::Relaxed);
            }
        }
        loop {
            match route.try_send(message) {
                Ok(()) => {
                    if self.c.dispatched.fetch_add(1, Ordering::Relaxed) == 0 {
                        self.c.first_tick_ns.store(message_ns, Ordering::Relaxed);
                    }
                    self.c.last_tick_ns.store(message_ns, Ordering::Relaxed);
                    return;
                }
                Err(SendError::Full(back))
                    if self.overflow == Overflow::Backpressure && !self.stop.load(Ordering::Acquire) =>
                {
                    message = back;
                    std::thread::sleep(Duration::from_micros(20));
                }
                Err(_) => {
                    self.c.dropped_full.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

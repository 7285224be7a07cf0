//! The market-data thread: a SUB socket on the gateway's PUB (topic = symbol), decoding
//! ticks and routing each to its symbol's actor with `try_send`. A full mailbox drops the
//! tick for that symbol only (counted; the core then sees the sequence gap and resyncs), so
//! a slow symbol never stalls the feed of the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use actix::prelude::*;
use protocol::{Codec, Message, Symbol};
use tracing::warn;

use crate::messages::TickArrived;
use crate::time::wall_ns;

/// Counters of the feed thread.
#[derive(Debug, Default)]
pub struct FeedCounters {
    pub received: AtomicU64,
    pub dispatched: AtomicU64,
    pub dropped_full: AtomicU64,
    pub unknown_symbol: AtomicU64,
    pub undecodable: AtomicU64,
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
) -> Result<MarketData, zmq::Error> {
    let sub = ctx.socket(zmq::SUB)?;
    sub.set_linger(0)?;
    sub.set_rcvhwm(100_000)?;
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
        .spawn(move || run(sub, codec, routes, stop_flag, c))
        .map_err(|_| zmq::Error::EFAULT)?;
    Ok(MarketData { stop, thread: Some(thread), counters })
}

fn run(
    sub: zmq::Socket,
    codec: Codec,
    routes: HashMap<Symbol, Recipient<TickArrived>>,
    stop: Arc<AtomicBool>,
    c: Arc<FeedCounters>,
) {
    let mut warned = 0u32;
    while !stop.load(Ordering::Acquire) {
        // The timeout only bounds how quickly `stop` is noticed; ticks wake poll at once.
        match sub.poll(zmq::POLLIN, 100) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(_) => return,
        }
        while let Ok(parts) = sub.recv_multipart(zmq::DONTWAIT) {
            c.received.fetch_add(1, Ordering::Relaxed);
            let received_ns = wall_ns();
            let (Some(topic), Some(payload)) = (parts.first(), parts.get(1)) else {
                c.undecodable.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let (tick, session_id) = match codec.decode(payload) {
                Ok(envelope) => match envelope.body {
                    Message::Tick(tick) if tick.symbol.as_str().as_bytes() == topic.as_slice() => {
                        (tick, envelope.header.session_id)
                    }
                    _ => {
                        c.undecodable.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                },
                Err(e) => {
                    c.undecodable.fetch_add(1, Ordering::Relaxed);
                    if warned < 10 {
                        warned += 1;
                        warn!(target: "feed", error = %e, "undecodable market-data frame; dropped");
                    }
                    continue;
                }
            };
            let Some(route) = routes.get(&tick.symbol) else {
                c.unknown_symbol.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            match route.try_send(TickArrived { tick, received_ns, session_id }) {
                Ok(()) => c.dispatched.fetch_add(1, Ordering::Relaxed),
                Err(_) => c.dropped_full.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

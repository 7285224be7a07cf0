//! The execution stream (docs/AGENTS.md, "Execution stream"): a ZeroMQ PUB (default
//! `tcp://127.0.0.1:5561`) on its own thread, fed by a bounded channel from the agent-driven
//! symbols' actors and the agent router. A sender never blocks: a full channel drops the
//! event and counts it against its topic, and the publisher then emits `events_lost` on that
//! topic (logged at ERROR). The publisher numbers each event ([`StreamRing`]), keeps the
//! last ones for `replay` and `query_intent`, and publishes `[topic, JSON body]`.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use engine::agent::AgentId;
use protocol::{Money, Price, Qty, Symbol};
use serde::{Serialize, Serializer};
use tracing::{error, info};

use super::stream_ring::StreamRing;
use super::wire::ClientIntentId;

/// The default execution stream endpoint.
pub const DEFAULT_STREAM: &str = "tcp://127.0.0.1:5561";
/// Events waiting for the publisher before senders start dropping (counted).
pub const CHANNEL_BOUND: usize = 65_536;
/// Messages libzmq queues per subscriber before it drops for that subscriber (ZMQ_SNDHWM).
const SEND_HWM: i32 = 100_000;
/// How often the publisher looks at the stop flag and the drop counts when idle.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// An event's topic: a symbol, or an agent (`agent.<id>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Symbol(Symbol),
    Agent(AgentId),
}

impl Topic {
    /// Whether `name` (as a client writes it) is this topic.
    pub fn is(&self, name: &str) -> bool {
        match self {
            Topic::Symbol(s) => s.as_str() == name,
            Topic::Agent(a) => name.strip_prefix("agent.") == Some(a.as_str()),
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Topic::Symbol(s) => f.write_str(s.as_str()),
            Topic::Agent(a) => write!(f, "agent.{a}"),
        }
    }
}

/// One event before it is numbered.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamEvent {
    pub topic: Topic,
    /// The engine's clock when it happened.
    pub ts_ns: u64,
    pub symbol: Option<Symbol>,
    pub agent: Option<AgentId>,
    /// The agent's client id of the intent this event belongs to.
    pub intent_id: Option<ClientIntentId>,
    /// The engine's id of the order involved.
    pub order_intent_id: Option<u64>,
    pub kind: EventKind,
}

fn text<T: fmt::Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

fn opt_text<T: fmt::Display, S: Serializer>(value: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// What happened, with its own fields; money, quantities and prices are exact decimal
/// strings (formatted on the publisher's thread, not the shard's).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    IntentAccepted {
        action: &'static str,
        #[serde(serialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
        qty: Option<Qty>,
    },
    IntentRefused {
        reason: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        field: Option<String>,
    },
    OrderSent {
        side: &'static str,
        #[serde(serialize_with = "text")]
        qty: Qty,
        purpose: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_reason: Option<&'static str>,
    },
    Fill {
        side: &'static str,
        #[serde(serialize_with = "text")]
        qty: Qty,
        #[serde(serialize_with = "text")]
        price: Price,
        #[serde(serialize_with = "text")]
        fee: Money,
        #[serde(serialize_with = "text")]
        cum_qty: Qty,
        partial: bool,
    },
    PositionOpened {
        side: &'static str,
        #[serde(serialize_with = "text")]
        qty: Qty,
        #[serde(serialize_with = "text")]
        avg_price: Price,
    },
    PositionClosed {
        exit_reason: &'static str,
        #[serde(serialize_with = "text")]
        qty: Qty,
        #[serde(serialize_with = "text")]
        entry_price: Price,
        /// `None` when no fill closed it (an operator's adopt).
        #[serde(serialize_with = "opt_text", skip_serializing_if = "Option::is_none")]
        exit_price: Option<Price>,
        #[serde(serialize_with = "text")]
        realized: Money,
        #[serde(serialize_with = "text")]
        fees: Money,
        #[serde(skip_serializing_if = "Option::is_none")]
        entry_intent_id: Option<ClientIntentId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        exit_intent_id: Option<ClientIntentId>,
    },
    SymbolHalted {
        reason: &'static str,
    },
    SymbolResumed,
    AgentLiveness {
        liveness: &'static str,
        policy: &'static str,
    },
    /// Events of this topic the publisher could not take (should never happen).
    EventsLost {
        count: u64,
    },
}

impl EventKind {
    /// A close's entry and exit intents (for `query_intent`).
    pub fn trade_intents(&self) -> [Option<ClientIntentId>; 2] {
        match self {
            EventKind::PositionClosed { entry_intent_id, exit_intent_id, .. } => {
                [entry_intent_id.clone(), exit_intent_id.clone()]
            }
            _ => [None, None],
        }
    }
}

impl Serialize for ClientIntentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Where events go: never blocks; a full channel counts the event as lost for its topic.
#[derive(Clone)]
pub struct StreamSender {
    tx: Sender<StreamEvent>,
    lost: Arc<Mutex<HashMap<Topic, u64>>>,
}

impl StreamSender {
    /// A sender and the receiving end of a channel of `bound` events.
    pub fn channel(bound: usize) -> (StreamSender, Receiver<StreamEvent>) {
        let (tx, rx) = crossbeam_channel::bounded(bound);
        (StreamSender { tx, lost: Arc::default() }, rx)
    }

    pub fn send(&self, event: StreamEvent) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(event)) => {
                let mut lost = lock(&self.lost);
                *lost.entry(event.topic).or_insert(0) += 1;
            }
            // The publisher has stopped (the engine is stopping): nothing to publish to.
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// A mutex that a panic elsewhere poisoned still holds consistent data here (every update
/// is one statement): take it.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The numbered events, shared with the intent endpoint (`replay`, `snapshot`,
/// `query_intent`).
#[derive(Clone)]
pub struct SharedRing(Arc<Mutex<StreamRing>>);

impl SharedRing {
    pub fn new(ring: StreamRing) -> SharedRing {
        SharedRing(Arc::new(Mutex::new(ring)))
    }
    pub fn lock(&self) -> MutexGuard<'_, StreamRing> {
        lock(&self.0)
    }
}

/// Why the stream could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error(
        "cannot bind the execution stream {endpoint:?}: {source} (set agents.stream to a free endpoint, or \"off\")"
    )]
    Bind { endpoint: String, source: zmq::Error },
    #[error("stream socket: {0}")]
    Socket(#[from] zmq::Error),
    #[error("cannot start the stream publisher thread: {0}")]
    Thread(std::io::Error),
}

/// A bound PUB with its channel and ring; nothing is published until [`BoundStream::serve`].
pub struct BoundStream {
    socket: zmq::Socket,
    rx: Receiver<StreamEvent>,
    sender: StreamSender,
    ring: SharedRing,
    pub endpoint: String,
}

/// Binds the execution stream's PUB at `bind`; `stream_id` names this run's stream.
pub fn bind(ctx: &zmq::Context, bind: &str, stream_id: String, buffer: usize) -> Result<BoundStream, StreamError> {
    let socket = ctx.socket(zmq::PUB)?;
    socket.set_linger(200)?;
    socket.set_sndhwm(SEND_HWM)?;
    if bind.starts_with("tcp://[") {
        socket.set_ipv6(true)?;
    }
    socket.bind(bind).map_err(|source| StreamError::Bind { endpoint: bind.to_string(), source })?;
    let endpoint = socket.get_last_endpoint()?.unwrap_or_else(|_| bind.to_string());
    let (sender, rx) = StreamSender::channel(CHANNEL_BOUND);
    info!(target: "agents", %endpoint, stream_id = %stream_id, buffer, "execution stream bound");
    Ok(BoundStream { socket, rx, sender, ring: SharedRing::new(StreamRing::new(stream_id, buffer)), endpoint })
}

impl BoundStream {
    pub fn sender(&self) -> StreamSender {
        self.sender.clone()
    }
    pub fn ring(&self) -> SharedRing {
        self.ring.clone()
    }

    /// Publishes on the stream's own thread until stopped (then drains what is queued).
    pub fn serve(self) -> Result<StreamPublisher, StreamError> {
        let BoundStream { socket, rx, sender, ring, endpoint } = self;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let lost = Arc::clone(&sender.lost);
        let thread = std::thread::Builder::new()
            .name("agent-stream".into())
            .spawn(move || publish_loop(&socket, &rx, &lost, &ring, &flag))
            .map_err(StreamError::Thread)?;
        Ok(StreamPublisher { stop, thread: Some(thread), endpoint })
    }
}

/// The running publisher; stopping (or dropping) it publishes what is queued and ends it.
pub struct StreamPublisher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    pub endpoint: String,
}

impl StreamPublisher {
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StreamPublisher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn publish_loop(
    socket: &zmq::Socket,
    rx: &Receiver<StreamEvent>,
    lost: &Mutex<HashMap<Topic, u64>>,
    ring: &SharedRing,
    stop: &AtomicBool,
) {
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let first = if stopping { rx.try_recv().ok() } else { rx.recv_timeout(IDLE_POLL).ok() };
        for event in first.into_iter().chain(rx.try_iter()) {
            publish(socket, ring, event);
        }
        let dropped: Vec<(Topic, u64)> = lock(lost).drain().collect();
        for (topic, count) in dropped {
            error!(target: "agents", topic = %topic, count, "STREAM_EVENTS_LOST: the stream's channel was full; events_lost published");
            let (symbol, agent) = match topic {
                Topic::Symbol(s) => (Some(s), None),
                Topic::Agent(a) => (None, Some(a)),
            };
            let kind = EventKind::EventsLost { count };
            let event = StreamEvent {
                topic,
                ts_ns: crate::time::wall_ns(),
                symbol,
                agent,
                intent_id: None,
                order_intent_id: None,
                kind,
            };
            publish(socket, ring, event);
        }
        if stopping && rx.is_empty() {
            return;
        }
    }
}

/// Numbers, keeps and sends one event. A subscriber too slow for libzmq's queue loses
/// messages there (it sees a `topic_seq` gap and replays).
fn publish(socket: &zmq::Socket, ring: &SharedRing, event: StreamEvent) {
    let mut ring = ring.lock();
    match ring.push(event) {
        Ok((topic, body)) => {
            let topic = topic.to_string();
            if let Err(e) = socket.send_multipart([topic.as_bytes(), body.get().as_bytes()], zmq::DONTWAIT) {
                error!(target: "agents", topic = %topic, error = %e, "could not publish a stream event (kept for replay)");
            }
        }
        Err(e) => error!(target: "agents", error = %e, "STREAM_EVENT_UNSERIALIZABLE: not published"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint that cannot be bound is an error naming the key (the start stops).
    #[test]
    fn a_taken_endpoint_is_refused_naming_the_key() {
        let ctx = zmq::Context::new();
        let first = bind(&ctx, "tcp://127.0.0.1:*", "s".into(), 1_024).unwrap();
        let error = bind(&ctx, &first.endpoint, "s".into(), 1_024).err().unwrap();
        assert!(matches!(error, StreamError::Bind { .. }), "{error}");
        assert!(error.to_string().contains("agents.stream"), "{error}");
    }

    /// A full channel never blocks the sender: the event is counted against its topic, and
    /// the publisher emits one `events_lost` with the count on that topic.
    #[test]
    fn a_full_channel_counts_drops_and_the_publisher_reports_them() {
        let ctx = zmq::Context::new();
        let mut bound = bind(&ctx, "tcp://127.0.0.1:*", "s".into(), 1_024).unwrap();
        (bound.sender, bound.rx) = StreamSender::channel(2);
        let sender = bound.sender();
        let topic = Topic::Symbol(Symbol::new("ETHUSD.s").unwrap());
        let event = StreamEvent {
            topic,
            ts_ns: 1,
            symbol: None,
            agent: None,
            intent_id: None,
            order_intent_id: None,
            kind: EventKind::SymbolResumed,
        };
        for _ in 0..5 {
            sender.send(event.clone());
        }
        assert_eq!(lock(&sender.lost).get(&topic), Some(&3));
        let ring = bound.ring();
        let mut publisher = bound.serve().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while ring.lock().last_seq() < 3 {
            assert!(std::time::Instant::now() < deadline, "not published");
            std::thread::sleep(Duration::from_millis(10));
        }
        publisher.stop();
        let ring = ring.lock();
        let super::super::stream_ring::Replay::Ok { events, .. } = ring.replay(0, None, 10) else { panic!() };
        let last: serde_json::Value = serde_json::from_str(events[2].get()).unwrap();
        assert_eq!((last["event"].as_str(), last["count"].as_u64()), (Some("events_lost"), Some(3)));
        assert_eq!(last["topic_seq"], 3, "counted on the lost events' topic");
    }
}

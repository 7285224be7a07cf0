//! The gateway socket's own thread. The DEALER is created, used and closed on this thread
//! only. The bridge actor hands it frames through an inproc PUSH/PULL pair; the thread
//! blocks in `zmq::poll` on both sockets at once, so neither direction sleeps or polls on a
//! timer. Inbound frames are decoded here and posted to the actor.
//!
//! Reconnects are watched through the DEALER's monitor (ZMQ_EVENT_DISCONNECTED): from a
//! disconnect until the bridge says the venue is reconciled, order frames are held back
//! (reported as [`FromSocket::OrderHeld`], so the bridge rejects them locally) while
//! heartbeats, snapshot requests and status queries go out. The monitor is drained before
//! every order frame, so no order reaches a restarted gateway before its snapshot.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use actix::Recipient;
use protocol::{Codec, DecodeError, Envelope};
use tracing::{debug, warn};

/// Frames from the gateway, as posted to the bridge actor.
#[derive(actix::Message, Debug)]
#[rtype(result = "()")]
pub enum FromSocket {
    Frame(Box<Envelope>),
    Undecodable(DecodeError),
    /// The frame tagged `tag` could not be queued (no gateway connection): it never left.
    SendFailed {
        tag: u64,
    },
    /// The connection to the gateway dropped: the venue must be reconciled before orders.
    Disconnected,
    /// The order frame tagged `tag` was held back (reconnected, not yet reconciled): it
    /// never left.
    OrderHeld {
        tag: u64,
    },
}

/// What a queued frame is, for the hold after a reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A new order: held back between a disconnect and the bridge's `Release`.
    Order,
    /// Heartbeats, snapshot requests, status queries: always sent.
    Control,
    /// Not a frame: the venue is reconciled, orders may go again.
    Release,
}

impl Lane {
    const fn byte(self) -> u8 {
        match self {
            Lane::Order => 1,
            Lane::Control => 2,
            Lane::Release => 3,
        }
    }
    fn from_byte(b: u8) -> Lane {
        match b {
            1 => Lane::Order,
            3 => Lane::Release,
            _ => Lane::Control,
        }
    }
}

/// How to reach the gateway.
#[derive(Clone, Debug)]
pub struct SocketConfig {
    pub endpoint: String,
    /// Fixed DEALER routing identity.
    pub identity: String,
    pub codec: Codec,
    pub send_hwm: i32,
}

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("zmq {op} failed for {endpoint:?}: {source}")]
    Zmq { op: &'static str, endpoint: String, source: zmq::Error },
    #[error("could not start the socket thread: {0}")]
    Thread(std::io::Error),
}

/// The actor's end: pushes frames to the socket thread.
pub struct SocketHandle {
    push: zmq::Socket,
    thread: Option<JoinHandle<()>>,
}

static NEXT_PIPE: AtomicU64 = AtomicU64::new(1);

impl SocketHandle {
    /// Queues a frame for the gateway. `tag` comes back in `SendFailed` (or `OrderHeld`) if
    /// it cannot leave.
    pub fn send(&self, tag: u64, lane: Lane, frame: &[u8]) -> Result<(), zmq::Error> {
        self.push.send_multipart([&tag.to_le_bytes()[..], &[lane.byte()][..], frame], 0)
    }

    /// The venue is reconciled: order frames may go again.
    pub fn release_orders(&self) -> Result<(), zmq::Error> {
        self.send(0, Lane::Release, &[])
    }

    /// Stops the thread (it closes the DEALER with LINGER=0) and waits for it.
    pub fn stop(&mut self) {
        let _ = self.push.send(&[][..], 0);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for SocketHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Connects the DEALER and starts its thread.
pub fn spawn(
    ctx: &zmq::Context,
    config: SocketConfig,
    inbound: Recipient<FromSocket>,
) -> Result<SocketHandle, SocketError> {
    let endpoint = config.endpoint.clone();
    let zerr = |op: &'static str| {
        let endpoint = endpoint.clone();
        move |source| SocketError::Zmq { op, endpoint, source }
    };
    let pipe = format!("inproc://bridge-{}", NEXT_PIPE.fetch_add(1, Ordering::Relaxed));
    let pull = ctx.socket(zmq::PULL).map_err(zerr("socket(PULL)"))?;
    pull.bind(&pipe).map_err(zerr("bind(inproc)"))?;
    let push = ctx.socket(zmq::PUSH).map_err(zerr("socket(PUSH)"))?;
    push.set_linger(0).map_err(zerr("set_linger"))?;
    push.connect(&pipe).map_err(zerr("connect(inproc)"))?;

    let dealer = ctx.socket(zmq::DEALER).map_err(zerr("socket(DEALER)"))?;
    dealer.set_identity(config.identity.as_bytes()).map_err(zerr("set_identity"))?;
    // Queue nothing for a peer that is not connected: a send then fails at once instead
    // of an order leaving minutes later.
    dealer.set_immediate(true).map_err(zerr("set_immediate"))?;
    dealer.set_linger(0).map_err(zerr("set_linger"))?;
    dealer.set_sndhwm(config.send_hwm).map_err(zerr("set_sndhwm"))?;
    dealer.set_reconnect_ivl(100).map_err(zerr("set_reconnect_ivl"))?;
    dealer.set_reconnect_ivl_max(1_000).map_err(zerr("set_reconnect_ivl_max"))?;
    let monitor_pipe = format!("inproc://bridge-monitor-{}", NEXT_PIPE.fetch_add(1, Ordering::Relaxed));
    let events = zmq::SocketEvent::DISCONNECTED as i32;
    dealer.monitor(&monitor_pipe, events).map_err(zerr("monitor"))?;
    let monitor = ctx.socket(zmq::PAIR).map_err(zerr("socket(PAIR)"))?;
    monitor.connect(&monitor_pipe).map_err(zerr("connect(monitor)"))?;
    dealer.connect(&config.endpoint).map_err(zerr("connect"))?;

    let codec = config.codec;
    let thread = std::thread::Builder::new()
        .name("gateway-socket".into())
        .spawn(move || SocketThread { dealer, pull, monitor, codec, inbound, holding: false }.run())
        .map_err(SocketError::Thread)?;
    Ok(SocketHandle { push, thread: Some(thread) })
}

struct SocketThread {
    dealer: zmq::Socket,
    pull: zmq::Socket,
    monitor: zmq::Socket,
    codec: Codec,
    inbound: Recipient<FromSocket>,
    /// Orders are held back: disconnected since the last release.
    holding: bool,
}

impl SocketThread {
    fn run(mut self) {
        loop {
            let mut items = [
                self.dealer.as_poll_item(zmq::POLLIN),
                self.pull.as_poll_item(zmq::POLLIN),
                self.monitor.as_poll_item(zmq::POLLIN),
            ];
            if let Err(e) = zmq::poll(&mut items, -1) {
                if e == zmq::Error::EINTR {
                    continue;
                }
                warn!(target: "bridge", error = %e, "gateway socket poll failed; socket thread stops");
                return;
            }
            let (from_gateway, from_actor) = (items[0].is_readable(), items[1].is_readable());
            self.drain_monitor();
            if from_actor && !self.forward_outbound() {
                debug!(target: "bridge", "gateway socket thread stopping");
                return;
            }
            if from_gateway {
                drain_inbound(&self.dealer, self.codec, &self.inbound);
            }
        }
    }

    /// Takes every monitor event: a disconnect starts the hold.
    fn drain_monitor(&mut self) {
        while let Ok(parts) = self.monitor.recv_multipart(zmq::DONTWAIT) {
            let event = parts.first().and_then(|f| f.get(..2)).map(|b| u16::from_le_bytes([b[0], b[1]]));
            if event == Some(zmq::SocketEvent::DISCONNECTED as u16) {
                if !self.holding {
                    self.inbound.do_send(FromSocket::Disconnected);
                }
                self.holding = true;
            }
        }
    }

    /// Sends every queued outbound frame. Returns false on the stop signal (an empty message).
    fn forward_outbound(&mut self) -> bool {
        loop {
            let parts = match self.pull.recv_multipart(zmq::DONTWAIT) {
                Ok(parts) => parts,
                Err(zmq::Error::EAGAIN) => return true,
                Err(_) => return false,
            };
            let [tag, lane, frame] = parts.as_slice() else { return false };
            let tag = tag.as_slice().try_into().map(u64::from_le_bytes).unwrap_or(0);
            let lane = Lane::from_byte(lane.first().copied().unwrap_or(0));
            match lane {
                Lane::Release => {
                    self.holding = false;
                    continue;
                }
                Lane::Order => {
                    // A disconnect not yet seen must hold this order too.
                    self.drain_monitor();
                    if self.holding {
                        self.inbound.do_send(FromSocket::OrderHeld { tag });
                        continue;
                    }
                }
                Lane::Control => {}
            }
            if self.dealer.send(frame.as_slice(), zmq::DONTWAIT).is_err() {
                self.inbound.do_send(FromSocket::SendFailed { tag });
            }
        }
    }
}

/// Receives every frame the gateway has sent, decodes it, posts it to the actor.
fn drain_inbound(dealer: &zmq::Socket, codec: Codec, inbound: &Recipient<FromSocket>) {
    loop {
        let parts = match dealer.recv_multipart(zmq::DONTWAIT) {
            Ok(parts) => parts,
            Err(_) => return,
        };
        // A DEALER receives the payload as the last frame (a gateway may add an empty
        // delimiter before it; anything else is a framing error).
        let Some(frame) = parts.last() else { continue };
        let message = match codec.decode(frame) {
            Ok(envelope) => FromSocket::Frame(Box::new(envelope)),
            Err(error) => FromSocket::Undecodable(error),
        };
        inbound.do_send(message);
    }
}

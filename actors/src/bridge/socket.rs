//! The gateway socket, owned by the bridge actor and used on the bridge's own thread (its
//! shard's thread): no socket thread and no inproc hop between the bridge and the DEALER.
//! Input is announced through the DEALER's pollable descriptor ([`crate::zmq_ready`]).
//!
//! Reconnects are watched through the DEALER's monitor (ZMQ_EVENT_DISCONNECTED): from a
//! disconnect until the bridge says the venue is reconciled, order frames are held back
//! ([`Sent::Held`], so the bridge rejects them locally) while heartbeats, snapshot requests
//! and status queries go out. The monitor is drained before every order frame, so no order
//! reaches a restarted gateway before its snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

use protocol::{Codec, DecodeError, Envelope};

use crate::zmq_ready::{has_input, Readiness};

/// What a frame is, for the hold after a reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// A new order: held back between a disconnect and [`GatewaySocket::release_orders`].
    Order,
    /// Heartbeats, snapshot requests, status queries: always sent.
    Control,
}

/// What became of a frame handed to [`GatewaySocket::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Queued to the gateway connection.
    Queued,
    /// An order held back: reconnected, not yet reconciled. It never left.
    Held,
    /// Could not be queued (no gateway connection, or the send buffer is full). It never left.
    Failed,
}

/// One frame from the gateway.
#[derive(Debug)]
pub enum Inbound {
    Frame(Box<Envelope>),
    Undecodable(DecodeError),
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
    #[error("cannot watch the socket's descriptor: {0}")]
    Watch(std::io::Error),
}

static NEXT_MONITOR: AtomicU64 = AtomicU64::new(1);

/// The DEALER and its monitor.
pub struct GatewaySocket {
    dealer: zmq::Socket,
    monitor: zmq::Socket,
    codec: Codec,
    /// Orders are held back: disconnected since the last release.
    holding: bool,
    /// A disconnect seen and not yet reported to the bridge.
    disconnect_unreported: bool,
}

impl GatewaySocket {
    /// Connects the DEALER (with its monitor) and returns it with the readiness streams of
    /// the DEALER and of the monitor. Must be called on the thread that will use it.
    pub fn connect(
        ctx: &zmq::Context,
        config: &SocketConfig,
    ) -> Result<(GatewaySocket, Readiness, Readiness), SocketError> {
        let endpoint = config.endpoint.clone();
        let zerr = |op: &'static str| {
            let endpoint = endpoint.clone();
            move |source| SocketError::Zmq { op, endpoint, source }
        };
        let dealer = ctx.socket(zmq::DEALER).map_err(zerr("socket(DEALER)"))?;
        dealer.set_identity(config.identity.as_bytes()).map_err(zerr("set_identity"))?;
        // Queue nothing for a peer that is not connected: a send then fails at once instead
        // of an order leaving minutes later.
        dealer.set_immediate(true).map_err(zerr("set_immediate"))?;
        dealer.set_linger(0).map_err(zerr("set_linger"))?;
        dealer.set_sndhwm(config.send_hwm).map_err(zerr("set_sndhwm"))?;
        dealer.set_reconnect_ivl(100).map_err(zerr("set_reconnect_ivl"))?;
        dealer.set_reconnect_ivl_max(1_000).map_err(zerr("set_reconnect_ivl_max"))?;
        let monitor_pipe = format!("inproc://bridge-monitor-{}", NEXT_MONITOR.fetch_add(1, Ordering::Relaxed));
        let events = zmq::SocketEvent::DISCONNECTED as i32;
        dealer.monitor(&monitor_pipe, events).map_err(zerr("monitor"))?;
        let monitor = ctx.socket(zmq::PAIR).map_err(zerr("socket(PAIR)"))?;
        monitor.set_linger(0).map_err(zerr("set_linger"))?;
        monitor.connect(&monitor_pipe).map_err(zerr("connect(monitor)"))?;
        dealer.connect(&config.endpoint).map_err(zerr("connect"))?;
        let dealer_ready = Readiness::of(&dealer).map_err(SocketError::Watch)?;
        let monitor_ready = Readiness::of(&monitor).map_err(SocketError::Watch)?;
        let socket =
            GatewaySocket { dealer, monitor, codec: config.codec, holding: false, disconnect_unreported: false };
        Ok((socket, dealer_ready, monitor_ready))
    }

    /// Sends one encoded frame without blocking. An order is first checked against the
    /// hold (the monitor is drained, so a disconnect not yet seen holds it too).
    pub fn send(&mut self, lane: Lane, frame: &[u8]) -> Sent {
        if lane == Lane::Order {
            self.drain_monitor();
            if self.holding {
                return Sent::Held;
            }
        }
        match self.dealer.send(frame, zmq::DONTWAIT) {
            Ok(()) => Sent::Queued,
            Err(_) => Sent::Failed,
        }
    }

    /// The venue is reconciled: order frames may go again.
    pub fn release_orders(&mut self) {
        self.holding = false;
    }

    /// Takes every monitor event: a disconnect starts the hold. Returns true once per
    /// disconnect not yet reported.
    pub fn drain_monitor(&mut self) -> bool {
        while let Ok(parts) = self.monitor.recv_multipart(zmq::DONTWAIT) {
            let event = parts.first().and_then(|f| f.get(..2)).map(|b| u16::from_le_bytes([b[0], b[1]]));
            if event == Some(zmq::SocketEvent::DISCONNECTED as u16) {
                if !self.holding {
                    self.disconnect_unreported = true;
                }
                self.holding = true;
            }
        }
        std::mem::replace(&mut self.disconnect_unreported, false)
    }

    /// The next frame from the gateway, if one is waiting.
    pub fn try_recv(&mut self) -> Option<Inbound> {
        loop {
            if !has_input(&self.dealer) {
                return None;
            }
            let parts = self.dealer.recv_multipart(zmq::DONTWAIT).ok()?;
            // A DEALER receives the payload as the last frame (a gateway may add an empty
            // delimiter before it; anything else is a framing error).
            let Some(frame) = parts.last() else { continue };
            return Some(match self.codec.decode(frame) {
                Ok(envelope) => Inbound::Frame(Box::new(envelope)),
                Err(error) => Inbound::Undecodable(error),
            });
        }
    }
}

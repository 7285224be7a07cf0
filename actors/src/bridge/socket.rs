//! The gateway socket's own thread. The DEALER is created, used and closed on this thread
//! only. The bridge actor hands it frames through an inproc PUSH/PULL pair; the thread
//! blocks in `zmq::poll` on both sockets at once, so neither direction sleeps or polls on a
//! timer. Inbound frames are decoded here and posted to the actor.

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
    /// Queues a frame for the gateway. `tag` comes back in `SendFailed` if it cannot leave.
    pub fn send(&self, tag: u64, frame: &[u8]) -> Result<(), zmq::Error> {
        self.push.send_multipart([&tag.to_le_bytes()[..], frame], 0)
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
    dealer.connect(&config.endpoint).map_err(zerr("connect"))?;

    let codec = config.codec;
    let thread = std::thread::Builder::new()
        .name("gateway-socket".into())
        .spawn(move || run(dealer, pull, codec, inbound))
        .map_err(SocketError::Thread)?;
    Ok(SocketHandle { push, thread: Some(thread) })
}

fn run(dealer: zmq::Socket, pull: zmq::Socket, codec: Codec, inbound: Recipient<FromSocket>) {
    loop {
        let mut items = [dealer.as_poll_item(zmq::POLLIN), pull.as_poll_item(zmq::POLLIN)];
        if let Err(e) = zmq::poll(&mut items, -1) {
            if e == zmq::Error::EINTR {
                continue;
            }
            warn!(target: "bridge", error = %e, "gateway socket poll failed; socket thread stops");
            return;
        }
        let (from_gateway, from_actor) = (items[0].is_readable(), items[1].is_readable());
        if from_actor && !forward_outbound(&dealer, &pull, &inbound) {
            debug!(target: "bridge", "gateway socket thread stopping");
            return;
        }
        if from_gateway {
            drain_inbound(&dealer, codec, &inbound);
        }
    }
}

/// Sends every queued outbound frame. Returns false on the stop signal (an empty message).
fn forward_outbound(dealer: &zmq::Socket, pull: &zmq::Socket, inbound: &Recipient<FromSocket>) -> bool {
    loop {
        let parts = match pull.recv_multipart(zmq::DONTWAIT) {
            Ok(parts) => parts,
            Err(zmq::Error::EAGAIN) => return true,
            Err(_) => return false,
        };
        let [tag, frame] = parts.as_slice() else { return false };
        let tag = tag.as_slice().try_into().map(u64::from_le_bytes).unwrap_or(0);
        if dealer.send(frame.as_slice(), zmq::DONTWAIT).is_err() {
            inbound.do_send(FromSocket::SendFailed { tag });
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

//! A ZeroMQ socket's readiness as a stream on the actor's own event loop, so that a shard's
//! sockets live on the shard's thread with no socket thread in between.
//!
//! libzmq exposes one file descriptor per socket (`ZMQ_FD`). It is edge-triggered and says
//! only "something may have changed": the truth is `ZMQ_EVENTS`. The rules this module and
//! its users follow:
//! - each item of the stream means "look": the user drains the socket until it is empty
//!   (receive with `DONTWAIT` while `ZMQ_EVENTS` has `POLLIN`, or until a receive answers
//!   `EAGAIN`: a non-blocking receive that finds nothing processes libzmq's pending
//!   commands, which re-arms the descriptor, and costs no `poll(2)` per message);
//! - readiness is cleared *before* the user drains, so an edge that arrives during the
//!   drain wakes the stream again instead of being lost;
//! - a send or a `ZMQ_EVENTS` read on the socket can consume the edge that announced new
//!   input, so after every send the user checks `ZMQ_EVENTS` and drains if it has `POLLIN`.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use actix::Message;
use tokio::io::unix::AsyncFd;

/// One "look at the socket" signal.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Readable;

/// The readiness of one socket, as a stream of [`Readable`]. Its first item comes at once,
/// so that input queued before the stream started is drained.
///
/// It watches its own duplicate of the socket's `ZMQ_FD` (the same signalling descriptor),
/// so the stream never depends on when libzmq closes the original: the duplicate is
/// deregistered, then closed, when the stream drops.
pub struct Readiness {
    fd: AsyncFd<OwnedFd>,
    primed: bool,
}

impl Readiness {
    /// Must be called on the thread (tokio runtime) that will poll it.
    pub fn of(socket: &zmq::Socket) -> std::io::Result<Readiness> {
        let raw = socket.get_fd().map_err(std::io::Error::other)?;
        #[allow(unsafe_code)]
        // SAFETY: `raw` is the ZMQ_FD of `socket`, which is open and borrowed for this call.
        let borrowed = unsafe { BorrowedFd::borrow_raw(raw) };
        let owned = borrowed.try_clone_to_owned()?;
        #[allow(unsafe_code)]
        // SAFETY: `owned` is this stream's own descriptor: it stays open, and the same,
        // until the AsyncFd that owns it is dropped (which deregisters it first).
        let fd = unsafe { AsyncFd::register_with_interest(owned, tokio::io::Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        Ok(Readiness { fd, primed: false })
    }
}

impl futures_core::Stream for Readiness {
    type Item = Readable;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Readable>> {
        if !self.primed {
            self.primed = true;
            return Poll::Ready(Some(Readable));
        }
        match self.fd.poll_read_ready(cx) {
            Poll::Ready(Ok(mut guard)) => {
                guard.clear_ready();
                Poll::Ready(Some(Readable))
            }
            // The descriptor is gone (the socket closed): the stream ends.
            Poll::Ready(Err(_)) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// True if the socket has a message to receive now (reading `ZMQ_EVENTS` also processes
/// libzmq's pending commands, which is what re-arms `ZMQ_FD`).
pub fn has_input(socket: &zmq::Socket) -> bool {
    socket.get_events().is_ok_and(|events| events.contains(zmq::POLLIN))
}

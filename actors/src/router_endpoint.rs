//! The serving loop shared by the engine's ZeroMQ ROUTER endpoints (the control endpoint and
//! the intent endpoint): one thread that polls with a timeout (so that a stop is seen), reads
//! one request at a time and sends the answer back to the same peer, with the empty
//! delimiter frame a REQ client expects when it sent one. What a request means and how it is
//! answered is the endpoint's own `answer` function.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use tracing::error;

use crate::control::{receive, Incoming};

/// A ROUTER being served on its own thread; stopping (or dropping) it ends the thread.
pub struct ServedRouter {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ServedRouter {
    /// Ends the loop (within one poll timeout) and waits for the thread.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for ServedRouter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves `router` on a new thread named `thread_name`: every request is answered with the
/// bytes `answer` returns. `poll_ms` bounds how long a stop takes to be seen; `what` names
/// the endpoint in the log when an answer cannot be sent.
pub(crate) fn serve(
    router: zmq::Socket,
    thread_name: &str,
    poll_ms: i64,
    what: &'static str,
    mut answer: impl FnMut(&Incoming) -> Vec<u8> + Send + 'static,
) -> std::io::Result<ServedRouter> {
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new().name(thread_name.into()).spawn(move || {
        while !stop_flag.load(Ordering::Acquire) {
            match router.poll(zmq::POLLIN, poll_ms) {
                Ok(0) => continue,
                Ok(_) => {}
                Err(_) => return,
            }
            let Some(incoming) = receive(&router) else { continue };
            let reply = answer(&incoming);
            let sent = if incoming.delimited {
                router.send_multipart([incoming.identity.as_slice(), b"", reply.as_slice()], 0)
            } else {
                router.send_multipart([incoming.identity.as_slice(), reply.as_slice()], 0)
            };
            if let Err(e) = sent {
                error!(target: "endpoint", endpoint = what, error = %e, "could not answer a request");
            }
        }
    })?;
    Ok(ServedRouter { stop, thread: Some(thread) })
}

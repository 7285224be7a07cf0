//! Stop signals: Ctrl-C (SIGINT), SIGTERM (how systemd, Docker and Kubernetes stop a
//! service) and SIGHUP (a closed terminal) all ask the main job to stop the same way:
//! entries off, in-flight orders drained (bounded), state flushed, summary printed, exit 0.
//!
//! Once [`StopSignals::listen`] has run, none of the three kills the process any more: each
//! is delivered to [`StopSignals::recv`] instead, for the rest of the process's life (a
//! second signal during the drain is absorbed; the drain is bounded anyway).

use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::warn;

/// Which signal asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT: Ctrl-C.
    Interrupt,
    /// SIGTERM: a service manager stopping the service.
    Terminate,
    /// SIGHUP: the controlling terminal went away.
    HangUp,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::HangUp => "SIGHUP",
        }
    }
}

/// The three stop signals, listened to together. Must be created inside a Tokio runtime
/// with the signal driver (the actix system's runtime has it).
#[derive(Debug)]
pub struct StopSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
    hang_up: Option<Signal>,
}

impl StopSignals {
    /// Starts listening. A signal whose handler cannot be installed is logged and never
    /// reported (its default action stays in force); it does not stop the run.
    pub fn listen() -> StopSignals {
        let install = |kind: SignalKind, which: StopSignal| match signal(kind) {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(target: "engine", signal = which.name(), error = %e, "cannot listen for this stop signal");
                None
            }
        };
        StopSignals {
            interrupt: install(SignalKind::interrupt(), StopSignal::Interrupt),
            terminate: install(SignalKind::terminate(), StopSignal::Terminate),
            hang_up: install(SignalKind::hangup(), StopSignal::HangUp),
        }
    }

    /// Waits for the next stop signal. Cancel-safe: usable as a `tokio::select!` branch in
    /// a loop without losing a signal.
    pub async fn recv(&mut self) -> StopSignal {
        tokio::select! {
            () = next(&mut self.interrupt) => StopSignal::Interrupt,
            () = next(&mut self.terminate) => StopSignal::Terminate,
            () = next(&mut self.hang_up) => StopSignal::HangUp,
        }
    }
}

/// The next delivery of one signal; pending forever when it is not listened to or its
/// stream has ended (so that `recv` waits for the others instead of stopping the run).
async fn next(signal: &mut Option<Signal>) {
    if let Some(s) = signal {
        if s.recv().await.is_some() {
            return;
        }
    }
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn raise(signal: libc::c_int) {
        #[allow(unsafe_code)]
        // SAFETY: raise() only sends a signal to this process; the handlers were installed
        // by `StopSignals::listen` before, so the default action (terminate) does not run.
        let rc = unsafe { libc::raise(signal) };
        assert_eq!(rc, 0, "raise({signal})");
    }

    /// One test for all three signals: the handlers are process-wide, so the cases must not
    /// run in parallel with each other.
    #[test]
    fn each_stop_signal_is_received_and_named() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let mut signals = StopSignals::listen();
            for (raw, expected) in [
                (libc::SIGTERM, StopSignal::Terminate),
                (libc::SIGHUP, StopSignal::HangUp),
                (libc::SIGINT, StopSignal::Interrupt),
            ] {
                raise(raw);
                let got = tokio::time::timeout(Duration::from_secs(5), signals.recv()).await;
                assert_eq!(got, Ok(expected), "{}", expected.name());
            }
            // Nothing more pending: recv waits.
            assert!(tokio::time::timeout(Duration::from_millis(50), signals.recv()).await.is_err());
        });
    }
}

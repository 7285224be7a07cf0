//! The data clock (`engine.clock = "data"`, set by the main job for a replay): a symbol's
//! time is its ticks' own `ts_ns`, not the wall clock, so its time-based rules (time in
//! trade, cooldowns, trailing activation age, stale feed) follow the recorded market at any
//! replay speed. Two things keep a replay at max speed identical to the same replay at 1×:
//!
//! - orders carry their decision time (the data time) in the frame header's `ts_ns`, and a
//!   replaying gateway fills them at the recorded quote in force at that time (PROTOCOL.md
//!   §11.5);
//! - a symbol with an order on the wire (or still reconciling) holds the ticks that arrive
//!   meanwhile ([`HeldTicks`]) and steps them, in order, once the order is resolved, so
//!   the core sees the same sequence of ticks and reports at every speed.
//!
//! The held queue is bounded. At [`HOLD_BOUND`] ticks its [`TickGate`] closes: a feed in
//! lossless mode (`Overflow::Backpressure`, which a max-speed replay uses) then stops
//! taking from the socket for that symbol's shard until the symbol has stepped its held
//! ticks, so nothing is lost and nothing grows without bound. A feed that drops instead
//! (`Overflow::Drop`) keeps delivering: past [`HOLD_LIMIT`] the symbol drops the tick
//! (counted; its core sees the sequence gap and resyncs).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::messages::TickArrived;

/// Which clock a symbol's core runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockSource {
    /// The wall clock (live trading).
    #[default]
    Wall,
    /// The ticks' own timestamps (a replay of recorded data).
    Data,
}

impl std::str::FromStr for ClockSource {
    type Err = String;
    fn from_str(text: &str) -> Result<ClockSource, String> {
        match text {
            "wall" => Ok(ClockSource::Wall),
            "data" => Ok(ClockSource::Data),
            other => Err(format!("{other:?}: expected \"wall\" or \"data\"")),
        }
    }
}

/// Held ticks at which the gate closes (a lossless feed stops taking ticks).
pub const HOLD_BOUND: usize = 4_096;
/// Held ticks beyond which a tick is dropped: the gate's bound plus a full mailbox that
/// was already on its way when the gate closed.
pub const HOLD_LIMIT: usize = HOLD_BOUND + 1_024;

/// Closed while a symbol's held queue is at its bound (shared with its shard's feed).
#[derive(Clone, Debug, Default)]
pub struct TickGate(Arc<AtomicBool>);

impl TickGate {
    pub fn is_closed(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set_closed(&self, closed: bool) {
        self.0.store(closed, Ordering::Release);
    }
}

/// Ticks a symbol holds while its order is on the wire, oldest first.
#[derive(Debug, Default)]
pub struct HeldTicks {
    queue: VecDeque<TickArrived>,
    gate: TickGate,
    dropped: u64,
}

impl HeldTicks {
    pub fn new(gate: TickGate) -> HeldTicks {
        HeldTicks { queue: VecDeque::new(), gate, dropped: 0 }
    }

    /// Holds a tick; false when it was dropped (the queue is at [`HOLD_LIMIT`]).
    pub fn push(&mut self, tick: TickArrived) -> bool {
        if self.queue.len() >= HOLD_LIMIT {
            self.dropped += 1;
            return false;
        }
        self.queue.push_back(tick);
        self.gate.set_closed(self.queue.len() >= HOLD_BOUND);
        true
    }

    /// The oldest held tick.
    pub fn pop(&mut self) -> Option<TickArrived> {
        let tick = self.queue.pop_front();
        self.gate.set_closed(self.queue.len() >= HOLD_BOUND);
        tick
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Ticks dropped at the limit.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{SessionId, Symbol, Tick};

    fn tick(md_seq: u64) -> TickArrived {
        let symbol = Symbol::new("X").unwrap();
        let p = "1".parse().unwrap();
        TickArrived {
            tick: Tick { symbol, bid: p, ask: p, ts_ns: md_seq, md_seq },
            received_ns: 0,
            session_id: SessionId(1),
        }
    }

    #[test]
    fn the_gate_closes_at_the_bound_and_ticks_beyond_the_limit_are_dropped_and_counted() {
        let gate = TickGate::default();
        let mut held = HeldTicks::new(gate.clone());
        for i in 0..HOLD_BOUND as u64 - 1 {
            assert!(held.push(tick(i)));
        }
        assert!(!gate.is_closed());
        assert!(held.push(tick(HOLD_BOUND as u64)));
        assert!(gate.is_closed(), "closed at the bound");
        while held.len() < HOLD_LIMIT {
            assert!(held.push(tick(0)));
        }
        assert!(!held.push(tick(0)), "dropped past the limit");
        assert_eq!(held.dropped(), 1);
        assert_eq!(held.pop().map(|t| t.tick.md_seq), Some(0), "oldest first");
        while held.len() >= HOLD_BOUND {
            held.pop();
        }
        assert!(!gate.is_closed(), "open again below the bound");
    }

    #[test]
    fn clock_sources_parse_by_name() {
        assert_eq!("data".parse::<ClockSource>(), Ok(ClockSource::Data));
        assert_eq!("wall".parse::<ClockSource>(), Ok(ClockSource::Wall));
        assert!("replay".parse::<ClockSource>().is_err());
    }
}

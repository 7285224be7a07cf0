//! The gateway's tick publisher, on its own thread so that order handling, journal writes
//! and replies never delay a tick. It owns the XPUB socket: it learns subscriptions from
//! it (and can wait until every symbol has a subscriber), publishes each symbol's random
//! walk at its jittered interval, or as fast as the subscriber takes ticks (`max_rate`:
//! XPUB_NODROP, then waiting for POLLOUT, never dropping), or a recorded market instead
//! (`crate::replay::publish`). Quotes are shared with the order loop through a
//! lock-free board (`crate::quotes`), so a descheduled reader never delays a tick.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use engine::feed::{InstrumentModel, IntervalMs, SyntheticFeed};
use protocol::{Codec, Envelope, Message, SessionId, Tick};

/// Headroom kept below the configured maximum interval for scheduling jitter.
const JITTER_MARGIN_MS: u64 = 2;

/// The lateness guard never schedules more than this much early.
const MAX_GUARD: Duration = Duration::from_millis(10);

/// Latest bid/ask per symbol, written by the publisher, read by the order loop.
pub type Quotes = Arc<crate::quotes::QuoteBoard>;

#[derive(Clone, Debug)]
pub struct PublisherConfig {
    pub models: Vec<InstrumentModel>,
    pub seed: u64,
    pub interval: IntervalMs,
    pub codec: Codec,
    pub session_id: SessionId,
    pub max_rate: bool,
    pub ticks_per_symbol: Option<u64>,
    pub wait_for_subscribers: bool,
    pub publish_for: Option<Duration>,
    /// Publish this recorded market instead of the random walk (`crate::replay`).
    pub replay: Option<Arc<crate::replay::ReplayFeed>>,
}

/// What the publisher did.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublisherCounters {
    pub ticks_published: u64,
    /// Largest real gap between two published ticks of one symbol, µs.
    pub max_publish_gap_us: u64,
    pub publish_gaps_over_50ms: u64,
}

pub fn spawn(
    socket: zmq::Socket,
    config: PublisherConfig,
    quotes: Quotes,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<PublisherCounters>> {
    std::thread::Builder::new().name("tick-publisher".into()).spawn(move || {
        raise_priority();
        let n = config.models.len();
        let feed = SyntheticFeed::new(&config.models, config.seed, config.interval);
        let quote_slots = config.models.iter().map(|m| quotes.slot_of(m.symbol)).collect();
        let mut p = Publisher {
            socket,
            feed,
            quotes,
            counters: PublisherCounters::default(),
            md_seq: 0,
            published: vec![0; n],
            last_sent: vec![None; n],
            subscribed: HashSet::new(),
            quote_slots,
            frame: Vec::with_capacity(128),
            config,
        };
        p.run(&stop);
        p.counters
    })
}

/// Asks the OS to favour this thread (nice −10) so that other busy threads on a small
/// machine delay ticks less. Without the privilege (CAP_SYS_NICE) it stays as it was.
fn raise_priority() {
    #[allow(unsafe_code)]
    // SAFETY: setpriority with PRIO_PROCESS and who = 0 changes only the calling thread's
    // nice value on Linux; it takes no pointers.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
    if rc != 0 {
        tracing::debug!(target: "gateway", "could not raise the tick publisher's priority; ticks may be late on a busy machine");
    }
}

pub(crate) struct Publisher {
    socket: zmq::Socket,
    feed: SyntheticFeed,
    quotes: Quotes,
    counters: PublisherCounters,
    md_seq: u64,
    published: Vec<u64>,
    last_sent: Vec<Option<Instant>>,
    subscribed: HashSet<Vec<u8>>,
    /// The quote board's slot of each symbol of the feed, by feed index.
    quote_slots: Vec<Option<usize>>,
    frame: Vec<u8>,
    config: PublisherConfig,
}

impl Publisher {
    /// Waits until `topics` topics have a subscriber (bounded only by `stop`); false when
    /// stopped first.
    pub(crate) fn wait_for_subscribers(&mut self, topics: usize, stop: &AtomicBool) -> bool {
        while self.subscribed.len() < topics {
            if stop.load(Ordering::Acquire) {
                return false;
            }
            self.poll_subscriptions(50);
        }
        true
    }

    /// Takes subscription changes, waiting up to `ms` for one.
    pub(crate) fn poll_subscriptions(&mut self, ms: i64) {
        if self.socket.poll(zmq::POLLIN, ms).unwrap_or(0) > 0 {
            self.drain_subscriptions();
        }
    }

    /// Waits up to `ms` until the socket can take more (max-rate back-pressure).
    pub(crate) fn wait_writable(&self, ms: i64) {
        let _ = self.socket.poll(zmq::POLLOUT, ms);
    }

    fn run(&mut self, stop: &AtomicBool) {
        if let Some(replay) = self.config.replay.clone() {
            crate::replay::publish::run(self, &replay, stop);
            return;
        }
        if self.config.wait_for_subscribers && !self.wait_for_subscribers(self.feed.len(), stop) {
            return;
        }
        let started = Instant::now();
        let window_open =
            |now: Instant, cfg: &PublisherConfig| cfg.publish_for.is_none_or(|d| now.duration_since(started) < d);
        // First ticks spread over one maximum interval, not all at once.
        let n = self.feed.len().max(1) as u64;
        let spread = Duration::from_millis(self.config.interval.max);
        let mut due: BinaryHeap<Reverse<(Instant, usize)>> =
            (0..self.feed.len()).map(|i| Reverse((started + spread.mul_f64(i as f64 / n as f64), i))).collect();
        let mut next = 0usize;
        let mut held: Option<Tick> = None;
        // How late sends have been recently (a decaying maximum). The next tick is scheduled
        // that much early, so the real gap (scheduled gap + this send's lateness) stays at or
        // under the drawn interval even when the machine is busy.
        let mut lateness_guard = Duration::ZERO;
        let mut guard_updated = Instant::now();
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            if !window_open(now, &self.config) || self.all_done() && held.is_none() {
                // Nothing more to publish: keep the subscription list fresh until stopped.
                if self.socket.poll(zmq::POLLIN, 50).unwrap_or(0) > 0 {
                    self.drain_subscriptions();
                }
                continue;
            }
            if self.config.max_rate {
                let tick = match held.take() {
                    Some(tick) => tick,
                    None => match self.next_unpaced(&mut next) {
                        Some(tick) => tick,
                        None => continue,
                    },
                };
                if !self.send(&tick) {
                    // The subscriber's buffers are full: wait until the socket can take more.
                    held = Some(tick);
                    let _ = self.socket.poll(zmq::POLLOUT, 50);
                }
                continue;
            }
            let Some(Reverse((at, index))) = due.peek().copied() else { return };
            if at > now {
                // Short naps, so a stop is seen within 20 ms even between slow ticks.
                std::thread::sleep((at - now).min(Duration::from_millis(20)));
                continue;
            }
            due.pop();
            if self.config.ticks_per_symbol.is_some_and(|max| self.published[index] >= max) {
                continue;
            }
            // The guard halves every second without new lateness, whatever the tick rate.
            let late = now.saturating_duration_since(at);
            let decay = 0.5f64.powf(now.duration_since(guard_updated).as_secs_f64());
            lateness_guard = lateness_guard.mul_f64(decay).max(late).min(MAX_GUARD);
            guard_updated = now;
            if let Some((tick, delay)) = self.feed.next_tick(index, crate::clock::wall_ns()) {
                self.set_quote_at(index, &tick);
                self.send(&tick);
                self.published[index] += 1;
                let sent = Instant::now();
                if let Some(previous) = self.last_sent[index].replace(sent) {
                    let gap = u64::try_from(sent.duration_since(previous).as_micros()).unwrap_or(u64::MAX);
                    self.counters.max_publish_gap_us = self.counters.max_publish_gap_us.max(gap);
                    if gap > 50_000 {
                        self.counters.publish_gaps_over_50ms += 1;
                    }
                }
                // The next tick is due `delay` after this one was really sent, less the
                // lateness guard, and at most `max − 2 ms` (so OS jitter cannot push a real
                // gap past the configured maximum); never earlier than the minimum interval.
                let min = Duration::from_millis(self.config.interval.min);
                let ceiling = Duration::from_millis(self.config.interval.max.saturating_sub(JITTER_MARGIN_MS)).max(min);
                let gap = Duration::from_nanos(delay).min(ceiling).saturating_sub(lateness_guard).max(min);
                due.push(Reverse((sent + gap, index)));
            }
        }
    }

    fn all_done(&self) -> bool {
        self.config.ticks_per_symbol.is_some_and(|max| self.published.iter().all(|p| *p >= max))
    }

    /// The next tick round-robin over the symbols that still have ticks to publish.
    fn next_unpaced(&mut self, next: &mut usize) -> Option<Tick> {
        let n = self.feed.len();
        for _ in 0..n {
            let index = *next % n;
            *next = (*next + 1) % n;
            if self.config.ticks_per_symbol.is_some_and(|max| self.published[index] >= max) {
                continue;
            }
            let (tick, _) = self.feed.next_tick(index, crate::clock::wall_ns())?;
            self.set_quote_at(index, &tick);
            self.published[index] += 1;
            return Some(tick);
        }
        None
    }

    pub(crate) fn set_quote(&self, tick: &Tick) {
        self.quotes.set(tick.symbol, tick.bid, tick.ask);
    }

    /// The quote of the feed's symbol `index` (its board slot looked up at start).
    fn set_quote_at(&self, index: usize, tick: &Tick) {
        match self.quote_slots.get(index).copied().flatten() {
            Some(slot) => self.quotes.set_slot(slot, tick.bid, tick.ask),
            None => self.set_quote(tick),
        }
    }

    /// Sends one tick; false when the XPUB refused it (max-rate back-pressure).
    pub(crate) fn send(&mut self, tick: &Tick) -> bool {
        let envelope = Envelope::new(self.config.session_id, self.md_seq + 1, 0, tick.ts_ns, Message::Tick(*tick));
        if self.config.codec.encode_into(&envelope, &mut self.frame).is_err() {
            return true;
        }
        if self.socket.send_multipart([tick.symbol.as_str().as_bytes(), self.frame.as_slice()], zmq::DONTWAIT).is_ok() {
            self.md_seq += 1;
            self.counters.ticks_published += 1;
            true
        } else {
            false
        }
    }

    /// XPUB subscription messages: `\x01topic` subscribes, `\x00topic` unsubscribes.
    fn drain_subscriptions(&mut self) {
        while let Ok(message) = self.socket.recv_bytes(zmq::DONTWAIT) {
            match message.split_first() {
                Some((1, topic)) => {
                    self.subscribed.insert(topic.to_vec());
                }
                Some((0, topic)) => {
                    self.subscribed.remove(topic);
                }
                _ => {}
            }
        }
    }
}

//! The publisher's loop for a replay: waits until every replayed symbol has a subscriber,
//! then publishes every recorded quote in time order, each symbol's `md_seq` counting from
//! 1 and each tick's `ts_ns` its recorded time. Paced speeds send a tick when the wall
//! clock since the first tick reaches its data offset divided by the speed (a late tick is
//! sent at once, so the schedule catches up); `max` sends as soon as the socket takes it
//! and waits when it does not (XPUB_NODROP: nothing is dropped). A quote is marked
//! published before it is sent, so an order decided on it always finds it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use protocol::Tick;

use super::feed::{Cursor, ReplayFeed};
use crate::publisher::Publisher;

/// Longest nap while waiting for a tick's time, so a stop is seen promptly.
const NAP: Duration = Duration::from_millis(20);

/// A tick taken from the cursor and not yet sent: its symbol index and position.
struct Pending {
    index: usize,
    position: usize,
    tick: Tick,
}

pub(crate) fn run(publisher: &mut Publisher, feed: &ReplayFeed, stop: &AtomicBool) {
    if !publisher.wait_for_subscribers(feed.symbols().len(), stop) {
        return;
    }
    let mut cursor = Cursor::new(feed);
    let mut md_seq = vec![0u64; feed.symbols().len()];
    let mut origin: Option<(Instant, u64)> = None;
    let mut pending: Option<Pending> = None;
    while !stop.load(Ordering::Acquire) {
        let next = pending.take().or_else(|| {
            let (index, position) = cursor.next(feed)?;
            let quote = feed.series(index).get(position)?;
            let seq = md_seq.get_mut(index)?;
            *seq += 1;
            let symbol = *feed.symbols().get(index)?;
            let tick = Tick { symbol, bid: quote.bid, ask: quote.ask, ts_ns: quote.ts_ns, md_seq: *seq };
            Some(Pending { index, position, tick })
        });
        let Some(p) = next else {
            if !feed.is_finished() {
                feed.finish();
                tracing::info!(target: "gateway", ticks = feed.published_ticks(), "REPLAY_DONE: every recorded tick published");
            }
            publisher.poll_subscriptions(50);
            continue;
        };
        let (started, first_ns) = *origin.get_or_insert((Instant::now(), p.tick.ts_ns));
        if let Some(offset) = feed.speed().wall_offset(p.tick.ts_ns.saturating_sub(first_ns)) {
            let now = Instant::now();
            let due = started + offset;
            if due > now {
                std::thread::sleep((due - now).min(NAP));
                pending = Some(p);
                continue;
            }
        }
        publisher.set_quote(&p.tick);
        feed.mark_published(p.index, p.position + 1);
        if !publisher.send(&p.tick) {
            // The subscriber's buffers are full (max speed): wait until it takes more.
            pending = Some(p);
            publisher.wait_writable(50);
        }
    }
}

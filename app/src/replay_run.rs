//! A replay in the main job: the `--replay` files loaded for the embedded gateway (their
//! symbols are the run's symbols), the end of the run when the replay is over (every
//! recorded tick taken by the symbols, or nothing more taken for a while after the
//! gateway published its last tick), and the replayed span in the summary.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::anyhow;
use engine::symbol_core::SymbolStatus;
use paper_gateway::replay::timestamp::format_utc;
use paper_gateway::replay::{ReplayData, ReplayFeed};
use paper_gateway::server::ReplayOutcome;
use protocol::Money;

use crate::config::RunConfig;

/// After the last tick was published, a run whose symbols take nothing more for this long
/// ends anyway (ticks lost on the way would otherwise keep it waiting).
const STALL: Duration = Duration::from_secs(3);

/// The configured replay, loaded (bad rows logged), or `None` without `--replay`.
pub fn load(config: &RunConfig) -> anyhow::Result<Option<Arc<ReplayFeed>>> {
    if config.replay.is_empty() {
        return Ok(None);
    }
    if config.gateway.is_some() {
        anyhow::bail!(
            "--replay: the embedded gateway replays; with --gateway, give --replay to the paper-gateway process and set engine.clock = \"data\""
        );
    }
    let data = ReplayData::load(&config.replay).map_err(|e| anyhow!("{e}"))?;
    data.log_report();
    Ok(Some(Arc::new(ReplayFeed::new(data, config.speed))))
}

/// Whether the gateway has published its last recorded tick.
#[derive(Clone, Debug)]
pub enum Published {
    /// The embedded gateway's replay.
    Feed(Arc<ReplayFeed>),
    /// Set by whoever watches a gateway process (its `REPLAY_DONE` line).
    Flag(Arc<AtomicBool>),
}

impl Published {
    fn is_done(&self) -> bool {
        match self {
            Published::Feed(feed) => feed.is_finished(),
            Published::Flag(flag) => flag.load(Ordering::Acquire),
        }
    }
}

/// When a replay run is over.
#[derive(Clone, Debug)]
pub struct ReplayEnd {
    /// Recorded ticks of the replay.
    pub ticks: u64,
    pub published: Published,
}

/// Watches the symbols' progress through a replay.
pub struct ReplayWatch {
    end: ReplayEnd,
    taken: u64,
    since: Instant,
}

impl ReplayWatch {
    pub fn new(end: ReplayEnd) -> ReplayWatch {
        ReplayWatch { end, taken: 0, since: Instant::now() }
    }

    /// Why the replay is over, or `None` while it is not.
    pub fn over(&mut self, statuses: &[SymbolStatus]) -> Option<String> {
        let taken: u64 = statuses.iter().map(|s| s.counters.ticks).sum();
        if taken >= self.end.ticks {
            return Some(format!("every recorded tick taken ({taken})"));
        }
        if taken != self.taken {
            (self.taken, self.since) = (taken, Instant::now());
        }
        if self.end.published.is_done() && self.since.elapsed() >= STALL {
            return Some(format!(
                "the replay was published but only {taken} of {} ticks were taken ({} s without one)",
                self.end.ticks,
                STALL.as_secs()
            ));
        }
        None
    }
}

/// The summary's replay line: the span, ticks, trades and PnL.
pub fn summary_line(replay: &ReplayOutcome, taken: u64, net: Money) -> String {
    let s = &replay.span;
    let span_ms = s.last_ns.saturating_sub(s.first_ns) / 1_000_000;
    format!(
        "replayed span           {} .. {} ({}.{:03} s of data, speed {}): {} ticks published of {}, {} taken, {} bad rows skipped; {} trades, net PnL {}",
        format_utc(s.first_ns),
        format_utc(s.last_ns),
        span_ms / 1000,
        span_ms % 1000,
        s.speed,
        s.published,
        s.ticks,
        taken,
        s.bad_rows,
        replay.trades.len(),
        net.to_fixed_string()
    )
}

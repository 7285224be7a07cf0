//! Agent liveness (docs/AGENTS.md, "Liveness"): one [`Tracker`] per agent turns "an
//! authenticated request arrived" and "the router's timer beat" into the transitions
//! alive ↔ silent; the [`LivenessBoard`] shows each agent's state and last-seen time to
//! `engine ctl status`. Pure: the agent router owns the trackers and acts on a transition
//! (logs `AGENT_SILENT` / `AGENT_ALIVE`, tells the agent's symbols).

use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use engine::agent::{AgentId, OnSilence};

/// Default `heartbeat_timeout_ms`.
pub const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_millis(5_000);
/// Shortest and longest `heartbeat_timeout_ms`.
pub const MIN_HEARTBEAT_TIMEOUT_MS: u64 = 100;
pub const MAX_HEARTBEAT_TIMEOUT_MS: u64 = 3_600_000;

/// An agent's liveness as the router tracks it.
///
/// `NeverSeen` (start) → `Alive` on a request; `Alive` → `Silent` once no request came for
/// the timeout; `Silent` → `Alive` on a request. `NeverSeen` → `Silent` once the timeout
/// has passed since the start without a request (only then does `flatten` act: a
/// restarted engine gives its agents one timeout to come back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// No request since the engine started (reported as silent; entries refused).
    NeverSeen,
    Alive,
    Silent,
}

impl State {
    /// As shown to operators and agents: only `alive` takes entries.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Alive => "alive",
            State::NeverSeen | State::Silent => "silent",
        }
    }
}

/// A change the router must act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Heard from after silence (or for the first time).
    Alive { silent_for_ns: Option<u64> },
    /// No request for the timeout.
    Silent { last_seen_ns: Option<u64> },
}

/// One agent's liveness clock (times in ns on one clock, the wall clock in a run).
#[derive(Clone, Debug)]
pub struct Tracker {
    timeout_ns: u64,
    started_ns: u64,
    last_seen_ns: Option<u64>,
    state: State,
}

impl Tracker {
    pub fn new(timeout: Duration, now_ns: u64) -> Tracker {
        let timeout_ns = u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX);
        Tracker { timeout_ns, started_ns: now_ns, last_seen_ns: None, state: State::NeverSeen }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn last_seen_ns(&self) -> Option<u64> {
        self.last_seen_ns
    }

    /// An authenticated request at `now`: a sign of life.
    pub fn seen(&mut self, now_ns: u64) -> Option<Transition> {
        let before = self.state;
        let since = self.last_seen_ns.unwrap_or(self.started_ns);
        self.last_seen_ns = Some(self.last_seen_ns.map_or(now_ns, |l| l.max(now_ns)));
        self.state = State::Alive;
        match before {
            State::Alive => None,
            State::NeverSeen => Some(Transition::Alive { silent_for_ns: None }),
            State::Silent => Some(Transition::Alive { silent_for_ns: Some(now_ns.saturating_sub(since)) }),
        }
    }

    /// A timer beat at `now`: alive (or never seen) for longer than the timeout → silent.
    pub fn check(&mut self, now_ns: u64) -> Option<Transition> {
        if self.state == State::Silent {
            return None;
        }
        let since = self.last_seen_ns.unwrap_or(self.started_ns);
        if now_ns.saturating_sub(since) < self.timeout_ns {
            return None;
        }
        self.state = State::Silent;
        Some(Transition::Silent { last_seen_ns: self.last_seen_ns })
    }
}

/// One agent's line in `engine ctl status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentLivenessView {
    pub state: State,
    pub last_seen_ns: Option<u64>,
    pub timeout_ms: u64,
    pub on_silence: OnSilence,
}

/// Each agent's liveness, published by the router and read by control.
#[derive(Clone, Default)]
pub struct LivenessBoard(Arc<DashMap<AgentId, AgentLivenessView>>);

impl LivenessBoard {
    pub fn publish(&self, agent: AgentId, view: AgentLivenessView) {
        self.0.insert(agent, view);
    }

    /// Every agent as JSON for `status`, sorted by id; `age_ms` counted to `now_ns`.
    pub fn to_json(&self, now_ns: u64) -> Vec<serde_json::Value> {
        let mut all: Vec<(AgentId, AgentLivenessView)> = self.0.iter().map(|e| (*e.key(), *e.value())).collect();
        all.sort_by_key(|(a, _)| *a);
        all.into_iter()
            .map(|(agent, v)| {
                serde_json::json!({
                    "agent_id": agent.as_str(),
                    "liveness": v.state.as_str(),
                    "never_seen": v.state == State::NeverSeen,
                    "last_seen_age_ms": v.last_seen_ns.map(|t| now_ns.saturating_sub(t) / 1_000_000),
                    "heartbeat_timeout_ms": v.timeout_ms,
                    "on_silence": v.on_silence.as_str(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn never_seen_alive_silent_alive() {
        let mut t = Tracker::new(Duration::from_millis(100), 1_000 * MS);
        assert_eq!(t.state(), State::NeverSeen);
        assert_eq!(t.state().as_str(), "silent");
        assert_eq!(t.check(1_050 * MS), None, "within the timeout of the start");
        assert_eq!(t.seen(1_060 * MS), Some(Transition::Alive { silent_for_ns: None }));
        assert_eq!(t.seen(1_070 * MS), None, "already alive");
        assert_eq!(t.check(1_169 * MS), None, "99 ms after the last request");
        assert_eq!(t.check(1_170 * MS), Some(Transition::Silent { last_seen_ns: Some(1_070 * MS) }));
        assert_eq!(t.check(1_500 * MS), None, "silent once");
        assert_eq!(t.state(), State::Silent);
        assert_eq!(t.seen(1_600 * MS), Some(Transition::Alive { silent_for_ns: Some(530 * MS) }));
        assert_eq!(t.state(), State::Alive);
        assert_eq!(t.last_seen_ns(), Some(1_600 * MS));
    }

    #[test]
    fn an_agent_never_seen_goes_silent_one_timeout_after_the_start() {
        let mut t = Tracker::new(Duration::from_millis(100), 0);
        assert_eq!(t.check(99 * MS), None);
        assert_eq!(t.check(100 * MS), Some(Transition::Silent { last_seen_ns: None }));
        assert_eq!(t.check(200 * MS), None);
    }

    #[test]
    fn a_late_clock_reading_never_moves_last_seen_back() {
        let mut t = Tracker::new(Duration::from_millis(100), 0);
        t.seen(50 * MS);
        t.seen(40 * MS);
        assert_eq!(t.last_seen_ns(), Some(50 * MS));
    }

    #[test]
    fn the_board_shows_liveness_and_age() {
        let board = LivenessBoard::default();
        let agent = AgentId::new("a1").unwrap();
        let view = AgentLivenessView {
            state: State::Alive,
            last_seen_ns: Some(1_000 * MS),
            timeout_ms: 5_000,
            on_silence: OnSilence::Flatten,
        };
        board.publish(agent, view);
        let shown = board.to_json(1_250 * MS);
        assert_eq!(shown[0]["agent_id"], "a1");
        assert_eq!(shown[0]["liveness"], "alive");
        assert_eq!(shown[0]["last_seen_age_ms"], 250);
        assert_eq!(shown[0]["on_silence"], "flatten");
    }
}

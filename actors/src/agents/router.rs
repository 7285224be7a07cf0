//! `AgentRouter`: the actor behind the intent endpoint. For an authenticated request it
//! checks idempotency, the agent's rate limit, the fields, the symbol and the authority, then
//! hands the decision to the symbol's actor (whose core applies every guard) and answers.
//! It decides nothing: it only refuses what cannot be taken and forwards the rest.
//!
//! It also keeps each agent's liveness: every authenticated request is a sign of life, a
//! timer finds the agents silent for longer than their `heartbeat_timeout_ms`, and a
//! change is logged (`AGENT_SILENT` / `AGENT_ALIVE`) and told to the agent's symbols
//! ([`SetAgentLiveness`]) and to the liveness hook ([`AgentLivenessChanged`]).

use std::collections::HashMap;
use std::time::Duration;

use actix::prelude::*;
use crossbeam_channel::Sender;
use engine::agent::{AgentDecision, AgentId, AgentRefusal, Liveness, OnSilence};
use engine::efsm::Direction;
use engine::intent::IntentLimits;
use engine::risk::limits::RateLimit;
use engine::risk::Refusal;
use protocol::Symbol;
use tracing::{error, info, warn};

use super::answer_log::{AnswerLog, Restored, RestoredAnswers};
use super::cancel::{cancel, cancelled_answer, CancelOutcome};
use super::idempotency::{Begin, IntentLog, REMEMBERED_PER_AGENT};
use super::liveness::{AgentLivenessView, LivenessBoard, Tracker, Transition};
use super::stream::{EventKind, StreamEvent, StreamSender, Topic};
use super::wire::{parse_body, wire_field, ClientIntentId, Envelope, FrameRefusal, IntentAnswer, Reason};
use super::AgentSpec;
use crate::messages::{AgentIntent, SetAgentLiveness};
use crate::time::wall_ns;

/// An authenticated request from the endpoint thread; the answer goes back on `reply`.
#[derive(Message)]
#[rtype(result = "()")]
pub struct IntentFromEndpoint {
    pub agent: AgentId,
    pub envelope: Envelope,
    pub reply: Sender<IntentAnswer>,
    /// When the endpoint read the frame (wall clock, ns): the start of intent → order.
    pub received_ns: u64,
}

/// An agent's liveness changed (the hook the execution stream's `agent_liveness` event
/// hangs on: wire a recipient with [`AgentRouter::with_liveness_events`]).
#[derive(Message, Clone, Copy, Debug)]
#[rtype(result = "()")]
pub struct AgentLivenessChanged {
    pub agent: AgentId,
    /// `Alive`, or `Silent` with the agent's policy.
    pub liveness: Liveness,
    pub ts_ns: u64,
}

struct AgentState {
    rate: RateLimit,
    log: IntentLog<Sender<IntentAnswer>>,
    tracker: Tracker,
    on_silence: OnSilence,
    timeout_ms: u64,
    symbols: Vec<Symbol>,
}

impl AgentState {
    fn view(&self) -> AgentLivenessView {
        AgentLivenessView {
            state: self.tracker.state(),
            last_seen_ns: self.tracker.last_seen_ns(),
            timeout_ms: self.timeout_ms,
            on_silence: self.on_silence,
        }
    }
}

pub struct AgentRouter {
    agents: HashMap<AgentId, AgentState>,
    /// Traded symbols by the names an agent may use (canonical names and aliases).
    names: HashMap<String, Symbol>,
    routes: HashMap<Symbol, Recipient<AgentIntent>>,
    /// The agent each agent-driven symbol belongs to.
    owner: HashMap<Symbol, AgentId>,
    limits: IntentLimits,
    /// The execution stream (`None`: off): refusals decided here are published.
    stream: Option<StreamSender>,
    /// Where a liveness change goes: each agent-driven symbol's actor.
    liveness_routes: HashMap<Symbol, Recipient<SetAgentLiveness>>,
    board: LivenessBoard,
    liveness_events: Option<Recipient<AgentLivenessChanged>>,
    /// How often the timer looks for silent agents.
    check_every: Duration,
    /// Where final answers are made durable before they are sent (`None`: memory only).
    answers: Option<AnswerLog>,
    /// The trade ledger's writer (`None`: no ledger): each accepted intent and its thesis.
    ledger: Option<trade_ledger::LedgerSender>,
}

/// An accepted intent's fields the trade ledger keeps (`agent_intents`).
struct Accepted {
    action: &'static str,
    symbol: Symbol,
    thesis: Option<String>,
}

impl AgentRouter {
    /// `names`: every name of a traded symbol; `routes`: each traded symbol's actor.
    pub fn new(
        agents: &[AgentSpec],
        names: HashMap<String, Symbol>,
        routes: HashMap<Symbol, Recipient<AgentIntent>>,
        limits: IntentLimits,
    ) -> AgentRouter {
        let owner = agents.iter().flat_map(|a| a.symbols.iter().map(move |s| (*s, a.id))).collect();
        let now = wall_ns();
        let agents: HashMap<AgentId, AgentState> = agents
            .iter()
            .map(|a| {
                let state = AgentState {
                    rate: RateLimit::per_second(a.max_intents_per_sec),
                    log: IntentLog::new(REMEMBERED_PER_AGENT),
                    tracker: Tracker::new(a.heartbeat_timeout, now),
                    on_silence: a.on_silence,
                    timeout_ms: u64::try_from(a.heartbeat_timeout.as_millis()).unwrap_or(u64::MAX),
                    symbols: a.symbols.clone(),
                };
                (a.id, state)
            })
            .collect();
        // A quarter of the shortest timeout, within 10 ms..=250 ms.
        let shortest = agents.values().map(|a| a.timeout_ms).min().unwrap_or(1_000);
        let check_every = Duration::from_millis((shortest / 4).clamp(10, 250));
        AgentRouter {
            agents,
            names,
            routes,
            owner,
            limits,
            liveness_routes: HashMap::new(),
            board: LivenessBoard::default(),
            liveness_events: None,
            check_every,
            answers: None,
            stream: None,
            ledger: None,
        }
    }

    /// Records each accepted intent (its agent, client id, action and thesis, as given)
    /// in the trade ledger, beside the order it became (`agent_intents`).
    pub fn with_ledger(mut self, ledger: Option<trade_ledger::LedgerSender>) -> AgentRouter {
        self.ledger = ledger;
        self
    }

    /// An accepted intent to the trade ledger: one row, handed over without waiting.
    fn record_accepted(&self, agent: AgentId, id: &ClientIntentId, order: u64, accepted: Accepted) {
        let Some(ledger) = &self.ledger else { return };
        ledger.send(vec![trade_ledger::LedgerRow::AgentIntent(Box::new(trade_ledger::AgentIntentRow {
            order_intent_id: order,
            agent_id: agent.to_string(),
            client_intent_id: id.as_str().to_string(),
            action: accepted.action,
            symbol: accepted.symbol,
            thesis: accepted.thesis,
            accepted_ns: wall_ns(),
        }))]);
    }

    /// Publishes the refusals this router decides on the execution stream.
    pub fn with_stream(mut self, stream: Option<StreamSender>) -> AgentRouter {
        self.stream = stream;
        self
    }

    /// The kept answer of one of `agent`'s intents (`None`: unknown, forgotten or still
    /// being decided).
    pub fn answered(&self, agent: AgentId, id: &ClientIntentId) -> Option<IntentAnswer> {
        self.agents.get(&agent).and_then(|s| s.log.answered(id)).cloned()
    }

    /// A refusal decided here, on the stream: on the symbol's topic when the request names
    /// a symbol this agent drives, else on `agent.<id>`.
    fn stream_refusal(
        &self,
        agent: AgentId,
        id: &ClientIntentId,
        body: &serde_json::Map<String, serde_json::Value>,
        answer: &IntentAnswer,
    ) {
        let (Some(stream), Some(reason)) = (&self.stream, answer.reason) else { return };
        let symbol = body
            .get("symbol")
            .and_then(serde_json::Value::as_str)
            .and_then(|name| self.names.get(name))
            .filter(|s| self.owner.get(s) == Some(&agent))
            .copied();
        stream.send(StreamEvent {
            topic: symbol.map_or(Topic::Agent(agent), Topic::Symbol),
            ts_ns: wall_ns(),
            symbol,
            agent: Some(agent),
            intent_id: Some(id.clone()),
            order_intent_id: None,
            kind: EventKind::IntentRefused { reason: reason.code(), field: answer.field.clone() },
        });
    }

    /// Makes every final answer (and tombstone) durable before it is sent, and takes the
    /// answers reloaded at start into each agent's log.
    pub fn with_answer_log(mut self, log: Option<AnswerLog>, restored: RestoredAnswers) -> AgentRouter {
        for (agent, entries) in restored {
            let Some(state) = self.agents.get_mut(&agent) else { continue };
            for entry in entries {
                match entry {
                    Restored::Answer { id, body, answer } => state.log.restore(&id, body, answer),
                    Restored::Tombstone { id } => state.log.restore_tombstone(&id),
                }
            }
        }
        self.answers = log;
        self
    }

    /// Wires liveness: each agent-driven symbol's actor (told when its agent goes silent or
    /// comes back) and the board `engine ctl status` reads.
    pub fn with_liveness(
        mut self,
        routes: HashMap<Symbol, Recipient<SetAgentLiveness>>,
        board: LivenessBoard,
    ) -> AgentRouter {
        self.liveness_routes = routes;
        self.board = board;
        self
    }

    /// Where each liveness change goes as well (the execution stream's `agent_liveness`).
    pub fn with_liveness_events(mut self, events: Recipient<AgentLivenessChanged>) -> AgentRouter {
        self.liveness_events = Some(events);
        self
    }

    /// An authenticated request of `agent` at `now`: a sign of life.
    pub(super) fn seen(&mut self, agent: AgentId, now: u64) {
        let Some(state) = self.agents.get_mut(&agent) else { return };
        let transition = state.tracker.seen(now);
        self.board.publish(agent, state.view());
        if let Some(Transition::Alive { silent_for_ns }) = transition {
            let silent_for_ms = silent_for_ns.map(|n| n / 1_000_000);
            info!(target: "agents", agent = %agent, silent_for_ms, "AGENT_ALIVE: heard from; its symbols take entries again");
            self.tell(agent, Liveness::Alive, now);
        }
    }

    /// The timer: every agent silent for longer than its timeout goes silent.
    fn check_liveness(&mut self) {
        let now = wall_ns();
        let mut silent = Vec::new();
        for (agent, state) in &mut self.agents {
            if let Some(Transition::Silent { last_seen_ns }) = state.tracker.check(now) {
                silent.push((*agent, last_seen_ns, state.on_silence));
                self.board.publish(*agent, state.view());
            }
        }
        for (agent, last_seen_ns, policy) in silent {
            let last_seen_age_ms = last_seen_ns.map(|t| now.saturating_sub(t) / 1_000_000);
            warn!(target: "agents", agent = %agent, last_seen_age_ms, never_seen = last_seen_ns.is_none(), on_silence = policy.as_str(), "AGENT_SILENT: no request within heartbeat_timeout_ms; its symbols take no entries, protective exits keep running");
            self.tell(agent, Liveness::Silent(policy), now);
        }
    }

    /// Tells the agent's symbols (and the liveness hook) its new liveness.
    fn tell(&self, agent: AgentId, liveness: Liveness, now: u64) {
        let Some(state) = self.agents.get(&agent) else { return };
        for symbol in &state.symbols {
            if let Some(route) = self.liveness_routes.get(symbol) {
                route.do_send(SetAgentLiveness { liveness });
            }
        }
        if let Some(events) = &self.liveness_events {
            events.do_send(AgentLivenessChanged { agent, liveness, ts_ns: now });
        }
        if let Some(stream) = &self.stream {
            let (state, policy) = match liveness {
                Liveness::Alive => ("alive", state.on_silence),
                Liveness::Silent(policy) => ("silent", policy),
            };
            stream.send(StreamEvent {
                topic: Topic::Agent(agent),
                ts_ns: now,
                symbol: None,
                agent: Some(agent),
                intent_id: None,
                order_intent_id: None,
                kind: EventKind::AgentLiveness { liveness: state, policy: policy.as_str() },
            });
        }
    }

    /// A cancel of `id` by `agent` (`None`: no such agent); a new tombstone is made durable.
    pub(super) fn cancel(&mut self, agent: AgentId, id: &ClientIntentId) -> Option<CancelOutcome> {
        let state = self.agents.get_mut(&agent)?;
        let outcome = cancel(&mut state.log, id);
        if let (CancelOutcome::Tombstoned, Some(log)) = (outcome, &self.answers) {
            if let Err(e) = log.tombstone(agent, id) {
                error!(target: "agents", agent = %agent, intent_id = id.as_str(), error = %e, "AGENT_ANSWER_LOG_FAILED: the tombstone is kept in memory only; it is lost on a restart");
            }
        }
        Some(outcome)
    }

    /// Records `answer` for a pending id and gives it to everyone waiting.
    fn finish(&mut self, agent: AgentId, id: &ClientIntentId, answer: IntentAnswer, reply: Sender<IntentAnswer>) {
        let code = answer.reason.map_or("accepted", |r| r.code());
        info!(target: "agents", agent = %agent, intent_id = id.as_str(), answer = code, field = answer.field.as_deref(), order_intent_id = answer.order_intent_id, "AGENT_INTENT_ANSWER");
        // Durable before the agent hears it: a retry after a restart gets this answer.
        let body = self.agents.get(&agent).and_then(|s| s.log.body(id));
        if let (Some(log), Some(body)) = (&self.answers, body) {
            if let Err(e) = log.answer(agent, id, body, &answer) {
                error!(target: "agents", agent = %agent, intent_id = id.as_str(), error = %e, "AGENT_ANSWER_LOG_FAILED: the answer is kept in memory only; a retry after a restart would be decided afresh");
            }
        }
        let waiters = self.agents.get_mut(&agent).map(|s| s.log.finish(id, &answer)).unwrap_or_default();
        for waiter in waiters.into_iter().chain(std::iter::once(reply)) {
            let _ = waiter.send(answer.clone());
        }
    }

    /// Answers without keeping the answer (nothing was decided): a retry is taken afresh.
    fn drop_pending(&mut self, agent: AgentId, id: &ClientIntentId, answer: IntentAnswer, reply: Sender<IntentAnswer>) {
        let waiters = self.agents.get_mut(&agent).map(|s| s.log.forget(id)).unwrap_or_default();
        for waiter in waiters.into_iter().chain(std::iter::once(reply)) {
            let _ = waiter.send(answer.clone());
        }
    }
}

impl Actor for AgentRouter {
    type Context = Context<Self>;

    /// Every agent starts never seen: its symbols take no entries until its first request.
    fn started(&mut self, ctx: &mut Context<Self>) {
        for (agent, state) in &self.agents {
            self.board.publish(*agent, state.view());
            for symbol in &state.symbols {
                if let Some(route) = self.liveness_routes.get(symbol) {
                    route.do_send(SetAgentLiveness { liveness: Liveness::Silent(OnSilence::StopEntries) });
                }
            }
        }
        ctx.run_interval(self.check_every, |act, _| act.check_liveness());
    }
}

impl Handler<IntentFromEndpoint> for AgentRouter {
    type Result = ();
    fn handle(&mut self, msg: IntentFromEndpoint, ctx: &mut Context<Self>) {
        let IntentFromEndpoint { agent, envelope, reply, received_ns } = msg;
        let id = envelope.intent_id.clone();
        self.seen(agent, wall_ns());
        let Some(state) = self.agents.get_mut(&agent) else {
            let _ = reply.send(IntentAnswer::refused(
                Some(&id),
                Reason::Frame(FrameRefusal::UnknownAgent),
                "no such agent",
            ));
            return;
        };
        match state.log.begin(&id, &envelope.body, reply.clone()) {
            Begin::New => {}
            Begin::Cancelled => return self.finish(agent, &id, cancelled_answer(&id), reply),
            Begin::Waiting => return,
            Begin::Answered(answer) => {
                let _ = reply.send(answer);
                return;
            }
            Begin::Mismatch => {
                let detail = "this intent_id was used before with a different body";
                let _ = reply.send(IntentAnswer::refused(
                    Some(&id),
                    Reason::Frame(FrameRefusal::DuplicateMismatch),
                    detail,
                ));
                return;
            }
        }
        let now = wall_ns();
        if !state.rate.allows(now) {
            let answer = IntentAnswer::refused(
                Some(&id),
                Reason::Frame(FrameRefusal::RateLimited),
                "over this agent's max_intents_per_sec; retry the same intent_id later",
            );
            self.drop_pending(agent, &id, answer, reply);
            return;
        }
        state.rate.record(now);
        let parsed = match parse_body(&envelope.body, &self.limits) {
            Ok(parsed) => parsed,
            Err(error) => {
                let answer = IntentAnswer::invalid(&id, error);
                self.stream_refusal(agent, &id, &envelope.body, &answer);
                return self.finish(agent, &id, answer, reply);
            }
        };
        let Some(symbol) = self.names.get(&parsed.symbol).copied() else {
            let answer =
                IntentAnswer::refused(Some(&id), Reason::Frame(FrameRefusal::SymbolUnknown), "not traded here");
            self.stream_refusal(agent, &id, &envelope.body, &answer);
            return self.finish(agent, &id, answer, reply);
        };
        let route = match (self.owner.get(&symbol), self.routes.get(&symbol)) {
            (Some(owner), Some(route)) if *owner == agent => route.clone(),
            (Some(_), _) | (None, Some(_)) => {
                let detail = format!("{symbol} is not driven by agent {agent}");
                let answer = IntentAnswer::refused(Some(&id), Reason::Core(AgentRefusal::NotAuthority), detail);
                self.stream_refusal(agent, &id, &envelope.body, &answer);
                return self.finish(agent, &id, answer, reply);
            }
            (None, None) => {
                let answer =
                    IntentAnswer::refused(Some(&id), Reason::Frame(FrameRefusal::SymbolUnknown), "not traded here");
                self.stream_refusal(agent, &id, &envelope.body, &answer);
                return self.finish(agent, &id, answer, reply);
            }
        };
        info!(target: "agents", agent = %agent, intent_id = id.as_str(), symbol = %symbol, command = ?parsed.command, valid_until_ns = parsed.valid_until_ns, thesis = parsed.thesis.as_deref(), "AGENT_INTENT");
        let action = match parsed.command.entry_direction() {
            Some(Direction::Long) => "enter_long",
            Some(Direction::Short) => "enter_short",
            None => "exit",
        };
        let accepted = Accepted { action, symbol, thesis: parsed.thesis };
        let decision = AgentDecision { agent, command: parsed.command, valid_until: parsed.valid_until_ns };
        let asked = route.send(AgentIntent { decision, client_id: Some(id.clone()), received_ns });
        ctx.spawn(asked.into_actor(self).map(move |result, act, _| match result {
            Ok(Ok(placed)) => {
                act.record_accepted(agent, &id, placed.order.0, accepted);
                let mut answer = IntentAnswer::accepted(&id, placed.order);
                answer.qty = placed.qty.map(|q| q.to_string());
                act.finish(agent, &id, answer, reply);
            }
            Ok(Err(refusal)) => {
                let mut answer = IntentAnswer::refused(Some(&id), Reason::Core(refusal), refusal.code());
                if let AgentRefusal::Guard(Refusal::InvalidIntent(field)) = refusal {
                    answer.field = Some(wire_field(field).to_string());
                }
                act.finish(agent, &id, answer, reply);
            }
            Err(e) => {
                let answer = IntentAnswer::refused(Some(&id), Reason::Frame(FrameRefusal::Busy), e.to_string());
                act.drop_pending(agent, &id, answer, reply);
            }
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agents::wire::envelope;
    use crate::control::ControlToken;

    fn submit(router: &Addr<AgentRouter>, agent: AgentId, id: &str) -> IntentAnswer {
        let frame = serde_json::json!({
            "type": "submit_intent", "intent_id": id, "agent_id": "a1", "token": "unused-here",
            "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.5"
        });
        let envelope = envelope(frame.to_string().as_bytes()).unwrap();
        let (reply, answer) = crossbeam_channel::bounded(1);
        router.do_send(IntentFromEndpoint { agent, envelope, reply, received_ns: wall_ns() });
        answer.recv_timeout(Duration::from_secs(2)).unwrap()
    }

    fn code(answer: &IntentAnswer) -> &'static str {
        answer.reason.map_or("accepted", |r| r.code())
    }

    /// Over an agent's `max_intents_per_sec` an intent is refused `rate_limited`, and that
    /// answer is not kept: the same id is decided afresh once the second is over. (No symbol
    /// is traded in this router, so a decided intent is answered `symbol_unknown`.)
    #[test]
    fn over_the_rate_an_intent_is_refused_and_a_retry_is_decided_afresh() {
        let agent = AgentId::new("a1").unwrap();
        let spec = AgentSpec {
            id: agent,
            token: ControlToken::new("agent-token-0123456789").unwrap(),
            symbols: Vec::new(),
            max_intents_per_sec: 2,
            heartbeat_timeout: Duration::from_secs(5),
            on_silence: OnSilence::StopEntries,
        };
        let (tx, rx) = crossbeam_channel::bounded(1);
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let router = system.block_on(async {
                AgentRouter::new(&[spec], HashMap::new(), HashMap::new(), IntentLimits::default()).start()
            });
            let _ = tx.send((router, System::current()));
            let _ = system.run();
        });
        let (router, system) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(code(&submit(&router, agent, "i-1")), "symbol_unknown");
        assert_eq!(code(&submit(&router, agent, "i-2")), "symbol_unknown");
        assert_eq!(code(&submit(&router, agent, "i-3")), "rate_limited", "the third in one second");
        assert_eq!(code(&submit(&router, agent, "i-1")), "symbol_unknown", "a decided id keeps its answer");
        assert_eq!(code(&submit(&router, agent, "i-3")), "rate_limited", "still over the rate");
        std::thread::sleep(Duration::from_millis(1_100));
        assert_eq!(code(&submit(&router, agent, "i-3")), "symbol_unknown", "decided afresh, not the kept refusal");
        system.stop();
        thread.join().unwrap();
    }

    /// Records every liveness a symbol is told.
    struct FakeSymbol(crossbeam_channel::Sender<Liveness>);
    impl Actor for FakeSymbol {
        type Context = Context<Self>;
    }
    impl Handler<SetAgentLiveness> for FakeSymbol {
        type Result = ();
        fn handle(&mut self, msg: SetAgentLiveness, _: &mut Context<Self>) {
            let _ = self.0.send(msg.liveness);
        }
    }

    /// The router's timer: never seen (entries stopped at start), alive on a request, silent
    /// with the agent's policy once no request came for the timeout, alive again on the
    /// next request; each change told to the agent's symbol and shown on the board.
    #[test]
    fn the_timer_finds_a_silent_agent_and_a_request_brings_it_back() {
        let agent = AgentId::new("a1").unwrap();
        let symbol = Symbol::new("ETHUSD.s").unwrap();
        let spec = AgentSpec {
            id: agent,
            token: ControlToken::new("agent-token-0123456789").unwrap(),
            symbols: vec![symbol],
            max_intents_per_sec: 100,
            heartbeat_timeout: Duration::from_millis(150),
            on_silence: OnSilence::Flatten,
        };
        let board = LivenessBoard::default();
        let (told_tx, told) = crossbeam_channel::unbounded();
        let (tx, rx) = crossbeam_channel::bounded(1);
        let router_board = board.clone();
        let thread = std::thread::spawn(move || {
            let system = actix_rt::System::new();
            let router = system.block_on(async move {
                let fake = FakeSymbol(told_tx).start();
                let routes = HashMap::from([(symbol, fake.recipient())]);
                AgentRouter::new(&[spec], HashMap::new(), HashMap::new(), IntentLimits::default())
                    .with_liveness(routes, router_board)
                    .start()
            });
            let _ = tx.send((router, System::current()));
            let _ = system.run();
        });
        let (router, system) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let next = || told.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(next(), Liveness::Silent(OnSilence::StopEntries), "never seen: no entries");
        assert_eq!(board.to_json(wall_ns())[0]["liveness"], "silent");
        let (reply, answer) = crossbeam_channel::bounded(1);
        router.do_send(super::super::heartbeat::HeartbeatFromEndpoint { agent, reply });
        assert_eq!(answer.recv_timeout(Duration::from_secs(2)).unwrap().liveness, "alive");
        assert_eq!(next(), Liveness::Alive);
        assert_eq!(board.to_json(wall_ns())[0]["liveness"], "alive");
        // No request: silent within the timeout and a beat, with the agent's policy.
        let started = std::time::Instant::now();
        assert_eq!(next(), Liveness::Silent(OnSilence::Flatten));
        assert!(started.elapsed() >= Duration::from_millis(100), "not before the timeout");
        assert_eq!(board.to_json(wall_ns())[0]["liveness"], "silent");
        assert!(told.recv_timeout(Duration::from_millis(300)).is_err(), "told once");
        // Any authenticated request brings it back.
        assert_eq!(code(&submit(&router, agent, "i-1")), "symbol_unknown");
        assert_eq!(next(), Liveness::Alive);
        system.stop();
        thread.join().unwrap();
    }
}

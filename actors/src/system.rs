//! Wiring: binds the control endpoint first, then the intent endpoint and the execution
//! stream (failing to bind any fails the start), gives each symbol its decision authority
//! (its agent, else its strategy; only agent-driven symbols publish on the stream), then
//! starts metrics, the state store and control, and the shards: by default one per core,
//! each one arbiter (thread) hosting its symbols' actors, its own bridge (with its own
//! DEALER) and its own market-data feed (with its own SUB), so a tick, the order it causes
//! and the report that answers it stay on one thread. Symbols go to shards by a stable
//! hash ([`crate::shard`]). Hands back the handles.
//! Must be called inside a running actix `System`.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use engine::agent::Authority;
use engine::registry::SymbolSpec;
use engine::risk::PortfolioRisk;
use engine::strategy::Strategy;
use engine::symbol_core::{CoreConfig, SymbolCore};
use protocol::{SessionId, Symbol};

use crate::agents::endpoint::{self as agent_endpoint, AgentEndpoint, AgentEndpointError, EndpointRoutes};
use crate::agents::liveness::LivenessBoard;
use crate::agents::requests::StreamRequests;
use crate::agents::router::AgentRouter;
use crate::agents::stream::{self as agent_stream, StreamError, StreamPublisher};
use crate::agents::AgentSettings;
use crate::bridge::{
    BridgeActor, BridgeConfig, BridgeStats, FetchSnapshot, GetBridgeStats, RegisterRoutes, ShutdownBridge, SymbolRoute,
};
use crate::control::{self, ControlActor, ControlEndpoint, ControlError, ControlSettings};
use crate::data_clock::{ClockSource, TickGate};
use crate::market_data::{self, MarketData};
use crate::metrics::MetricsActor;
use crate::operator::OperatorRoutes;
use crate::outbox::ShardOutbox;
use crate::shard::{shard_count, shard_of};
use crate::state_store::StateStore;
use crate::status::StatusBoard;
use crate::symbol_actor::{SymbolActor, SymbolOutputs, SymbolState};

/// What the wiring needs.
pub struct WiringConfig {
    pub bridge: BridgeConfig,
    pub market_data_endpoint: String,
    /// The control endpoint and its token; `None` (control "off") runs without one.
    pub control_bind: Option<ControlSettings>,
    /// Per-symbol core settings.
    pub core: Arc<dyn Fn(Symbol) -> CoreConfig + Send + Sync>,
    /// Durable state file (`None`: nothing persisted) and what was loaded from it.
    pub state_path: Option<std::path::PathBuf>,
    pub restored: std::collections::BTreeMap<Symbol, engine::symbol_core::DurableSymbol>,
    /// The write-ahead journal (`None`: off); each shard writes to it in batches.
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// Shards (threads of the hot path): 0 = one per core; never more than symbols.
    pub shards: usize,
    /// A symbol step longer than this halts the symbol (`step_overrun`).
    pub step_budget: std::time::Duration,
    pub tick_overflow: market_data::Overflow,
    /// The trade ledger's writer (`None`: no ledger); each shard's outbox feeds it.
    pub ledger: Option<trade_ledger::LedgerSender>,
    /// The wall clock, or the ticks' own time (a replay; see [`crate::data_clock`]).
    pub clock: ClockSource,
    /// Decision agents (docs/AGENTS.md): who drives which symbols, and their endpoint.
    pub agents: AgentSettings,
    /// Every name an agent may use for a traded symbol (canonical names and aliases).
    pub symbol_names: HashMap<String, Symbol>,
}

/// Handles to a running engine.
pub struct Engine {
    /// Every shard's bridge, by shard number.
    pub bridges: Vec<Addr<BridgeActor>>,
    /// The shard of every symbol.
    pub shard_of: HashMap<Symbol, usize>,
    pub metrics: Addr<MetricsActor>,
    pub control: Addr<ControlActor>,
    pub symbols: HashMap<Symbol, Addr<SymbolActor>>,
    pub state: Option<Addr<StateStore>>,
    pub board: StatusBoard,
    pub risk: Arc<PortfolioRisk>,
    pub market_data: Option<MarketData>,
    pub control_endpoint: Option<ControlEndpoint>,
    /// The intent endpoint (`None`: no agents, or "off").
    pub agent_endpoint: Option<AgentEndpoint>,
    /// The execution stream's publisher (`None`: no agents, or "off").
    pub stream: Option<StreamPublisher>,
    arbiters: Vec<Arbiter>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("market data {endpoint}: {source}")]
    MarketData { endpoint: String, source: zmq::Error },
    #[error("control: {0}")]
    Control(#[source] ControlError),
    #[error("agents: {0}")]
    Agents(#[source] AgentEndpointError),
    #[error("agents: {0}")]
    Stream(#[source] StreamError),
}

impl Engine {
    /// Stops the feed and the endpoint threads and every actor's arbiter.
    pub fn stop_threads(&mut self) {
        if let Some(mut md) = self.market_data.take() {
            md.stop();
        }
        if let Some(mut ep) = self.control_endpoint.take() {
            ep.stop();
        }
        if let Some(mut ep) = self.agent_endpoint.take() {
            ep.stop();
        }
        for arbiter in self.arbiters.drain(..) {
            arbiter.stop();
        }
        // Last: what the symbols sent before they stopped is still published.
        if let Some(mut stream) = self.stream.take() {
            stream.stop();
        }
    }

    /// Every shard's bridge figures, merged (counters summed, histograms merged).
    pub async fn bridge_stats(&self) -> Result<BridgeStats, MailboxError> {
        let mut total: Option<BridgeStats> = None;
        for bridge in &self.bridges {
            let stats = bridge.send(GetBridgeStats).await?;
            match total.as_mut() {
                Some(t) => t.merge(stats),
                None => total = Some(stats),
            }
        }
        Ok(total.unwrap_or_default())
    }

    /// The gateway's snapshot, asked by shard 0's bridge (the gateway answers for every
    /// symbol, whatever the connection that asks).
    pub async fn fetch_snapshot(&self, timeout: std::time::Duration) -> Option<protocol::PositionSnapshot> {
        let bridge = self.bridges.first()?;
        bridge.send(FetchSnapshot { timeout }).await.ok().flatten()
    }

    /// Releases every bridge's held locks and closes their sockets.
    pub async fn shutdown_bridges(&self) {
        for bridge in &self.bridges {
            let _ = bridge.send(ShutdownBridge).await;
        }
    }
}

/// Starts every actor for `specs`. `strategy` builds each symbol's strategy.
pub fn start(
    config: WiringConfig,
    zmq: &zmq::Context,
    specs: &[SymbolSpec],
    risk: Arc<PortfolioRisk>,
    strategy: &dyn Fn(&SymbolSpec) -> Box<dyn Strategy>,
    session_id: SessionId,
) -> Result<Engine, StartError> {
    // The kill switch first: an engine whose control endpoint cannot be bound does not
    // start (only control "off" runs without one), and nothing has started yet to undo.
    let control_socket =
        config.control_bind.as_ref().map(|c| control::bind(zmq, c)).transpose().map_err(StartError::Control)?;
    // The intent endpoint next, for the same reason (only with agents configured).
    let agent_socket = match (&config.agents.bind, config.agents.agents.is_empty()) {
        (Some(bind), false) => Some(agent_endpoint::bind(zmq, bind, &config.agents).map_err(StartError::Agents)?),
        _ => None,
    };
    // The execution stream next (only with agents configured), bound before anything runs.
    let stream_id = format!("{:016x}", session_id.0);
    let stream = match (&config.agents.stream, config.agents.agents.is_empty()) {
        (Some(bind), false) => Some(
            agent_stream::bind(zmq, bind, stream_id.clone(), config.agents.stream_buffer)
                .and_then(|bound| {
                    let (sender, ring) = (bound.sender(), bound.ring());
                    bound.serve().map(|publisher| (publisher, sender, ring))
                })
                .map_err(StartError::Stream)?,
        ),
        _ => None,
    };
    let (stream, stream_tx, stream_ring) = match stream {
        Some((publisher, sender, ring)) => (Some(publisher), Some(sender), Some(ring)),
        None => (None, None, None),
    };
    // Start the run's monotonic clock now, so lock events count from engine start.
    crate::time::mono_us();
    let board = StatusBoard::default();
    let mut arbiters = Vec::new();

    let metrics_arbiter = Arbiter::new();
    let metrics = MetricsActor::start_in_arbiter(&metrics_arbiter.handle(), |_| MetricsActor::default());
    arbiters.push(metrics_arbiter);

    let state = config.state_path.clone().map(|path| {
        let store_arbiter = Arbiter::new();
        let (restored, symbols) = (config.restored.clone(), specs.len());
        let addr = StateStore::start_in_arbiter(&store_arbiter.handle(), move |_| {
            StateStore::new(path, restored).for_symbols(symbols)
        });
        arbiters.push(store_arbiter);
        addr
    });

    let shards = shard_count(config.shards, specs.len());
    let shard_arbiters: Vec<Arbiter> = (0..shards).map(|_| Arbiter::new()).collect();
    let shard_journals: Vec<Option<Arc<crate::journal::ShardJournal>>> = (0..shards)
        .map(|_| config.journal.as_ref().map(|j| Arc::new(crate::journal::ShardJournal::new(Arc::clone(j)))))
        .collect();
    let mut bridges = Vec::with_capacity(shards);
    for (i, arbiter) in shard_arbiters.iter().enumerate() {
        let mut bridge_config = config.bridge.clone();
        if shards > 1 {
            // One DEALER per shard, each a peer of its own at the gateway (PROTOCOL.md §2.1).
            bridge_config.socket.identity = format!("{}-s{i}", bridge_config.socket.identity);
        }
        let (zmq_for_bridge, risk_for_bridge) = (zmq.clone(), Arc::clone(&risk));
        let journal = shard_journals[i].clone();
        bridges.push(BridgeActor::start_in_arbiter(&arbiter.handle(), move |_| {
            BridgeActor::new(bridge_config, zmq_for_bridge, HashMap::new(), risk_for_bridge, session_id)
                .for_shard(i, shards)
                .with_journal(journal)
        }));
    }
    let outboxes: Vec<Addr<ShardOutbox>> = shard_arbiters
        .iter()
        .map(|arbiter| {
            let (metrics, store) = (metrics.clone().recipient(), state.clone().map(Addr::recipient));
            let ledger = config.ledger.clone();
            ShardOutbox::start_in_arbiter(&arbiter.handle(), move |_| {
                ShardOutbox::new(metrics, store).with_ledger(ledger)
            })
        })
        .collect();
    let mut symbols = HashMap::new();
    let mut shard_of_symbol = HashMap::new();
    let mut gates: HashMap<Symbol, TickGate> = HashMap::new();
    let mut routes: Vec<HashMap<Symbol, SymbolRoute>> = vec![HashMap::new(); shards];
    let mut tick_routes: Vec<HashMap<Symbol, Recipient<crate::messages::TickArrived>>> = vec![HashMap::new(); shards];
    for spec in specs {
        let symbol = spec.model.symbol;
        let shard = shard_of(&symbol, shards);
        let bridge = &bridges[shard];
        let outbox = &outboxes[shard];
        let outputs = SymbolOutputs {
            orders: bridge.clone().recipient(),
            queries: bridge.clone().recipient(),
            pnl: outbox.clone().recipient(),
            state: state.as_ref().map(|_| outbox.clone().recipient()),
            snapshots: bridge.clone().recipient(),
            journal: shard_journals[shard].clone(),
            ledger: config.ledger.as_ref().map(|_| outbox.clone().recipient()),
            stream: stream_tx.clone(),
        };
        let mut core_config = (config.core)(symbol);
        // One decision authority per symbol: the agent that lists it, else the strategy.
        let owner = config.agents.owner(&symbol);
        core_config.authority = owner.map_or(Authority::Strategy, Authority::Agent);
        let mut core = SymbolCore::new(core_config, strategy(spec), &risk);
        if let Some(saved) = config.restored.get(&symbol) {
            core.restore(saved, &risk);
        }
        let (risk, board, budget) = (Arc::clone(&risk), board.clone(), config.step_budget);
        let gate = (config.clock == ClockSource::Data).then(|| gates.entry(symbol).or_default().clone());
        let addr = SymbolActor::start_in_arbiter(&shard_arbiters[shard].handle(), move |_| {
            // Only agent-driven symbols publish on the execution stream.
            let state = SymbolState::new(core, risk, outputs, board).with_step_budget(budget).with_stream_for(owner);
            SymbolActor::host(match gate {
                Some(gate) => state.with_data_clock(gate),
                None => state,
            })
        });
        routes[shard].insert(
            symbol,
            SymbolRoute {
                reports: addr.clone().recipient(),
                timeouts: addr.clone().recipient(),
                reconcile: addr.clone().recipient(),
                journal_failed: addr.clone().recipient(),
            },
        );
        tick_routes[shard].insert(symbol, addr.clone().recipient());
        shard_of_symbol.insert(symbol, shard);
        symbols.insert(symbol, addr);
    }
    // One beat per shard runs its symbols' timers (started after them, on their thread).
    for arbiter in &shard_arbiters {
        crate::shard_beat::ShardBeat::start_in_arbiter(&arbiter.handle(), |_| crate::shard_beat::ShardBeat::default());
    }
    // Only now does each bridge connect: its first snapshot must find every symbol; and
    // the bridge asks for it itself (every 50 ms until it arrives). Every symbol starts
    // Reconciling, so none trades before it.
    let shard_bridges: Vec<Recipient<crate::bridge::ForwardedReport>> =
        bridges.iter().map(|b| b.clone().recipient()).collect();
    for (bridge, routes) in bridges.iter().zip(routes) {
        bridge.do_send(RegisterRoutes { routes, shards: shard_bridges.clone() });
    }

    let flag_routes = symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect();
    let operator_routes = OperatorRoutes {
        snapshots: bridges[0].clone().recipient(),
        symbols: symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect(),
        board: board.clone(),
    };
    let liveness_board = LivenessBoard::default();
    let control = ControlActor::new(Arc::clone(&risk), flag_routes, board.clone())
        .with_operator(operator_routes)
        .with_shards(shard_of_symbol.clone())
        .with_agents(liveness_board.clone())
        .start();
    let agent_routes = symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect();
    let liveness_routes = symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect();
    let router = AgentRouter::new(
        &config.agents.agents,
        config.symbol_names.clone(),
        agent_routes,
        specs.first().map(|s| (config.core)(s.model.symbol).intent_limits).unwrap_or_default(),
    )
    .with_stream(stream_tx)
    .with_liveness(liveness_routes, liveness_board)
    .with_answer_log(config.agents.answers.clone(), config.agents.restored.clone())
    .with_ledger(config.ledger.clone())
    .start();
    let requests = StreamRequests {
        stream_id,
        ring: stream_ring,
        board: board.clone(),
        owner: config.agents.agents.iter().flat_map(|a| a.symbols.iter().map(move |s| (*s, a.id))).collect(),
        router: router.clone().recipient(),
    };
    let agent_endpoint = match agent_socket.map(|s| s.serve(EndpointRoutes::to(&router, requests))).transpose() {
        Ok(endpoint) => endpoint,
        Err(e) => {
            for arbiter in arbiters.iter().chain(&shard_arbiters) {
                arbiter.stop();
            }
            return Err(StartError::Agents(e));
        }
    };
    let control_endpoint = match control_socket.map(|s| s.serve(control.clone().recipient())).transpose() {
        Ok(endpoint) => endpoint,
        Err(e) => {
            for arbiter in &arbiters {
                arbiter.stop();
            }
            return Err(StartError::Control(e));
        }
    };

    let codec = config.bridge.socket.codec;
    let mut market_data = MarketData::new();
    market_data.set_gates(gates);
    for (arbiter, routes) in shard_arbiters.iter().zip(tick_routes) {
        if let Err(source) = market_data.add_shard(
            zmq,
            &config.market_data_endpoint,
            codec,
            routes,
            config.tick_overflow,
            &arbiter.handle(),
        ) {
            for arbiter in arbiters.iter().chain(&shard_arbiters) {
                arbiter.stop();
            }
            return Err(StartError::MarketData { endpoint: config.market_data_endpoint.clone(), source });
        }
    }
    arbiters.extend(shard_arbiters);

    Ok(Engine {
        bridges,
        shard_of: shard_of_symbol,
        metrics,
        control,
        symbols,
        state,
        board,
        risk,
        market_data: Some(market_data),
        control_endpoint,
        agent_endpoint,
        stream,
        arbiters,
    })
}

//! Wiring: binds the control endpoint first (failing to bind it fails the start), then
//! starts the bridge, metrics, state store, control and one actor per symbol (each on its
//! own arbiter thread, or `symbol_threads` threads shared round-robin), connects the
//! market-data feed, and hands back the handles.
//! Must be called inside a running actix `System`.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use engine::registry::SymbolSpec;
use engine::risk::PortfolioRisk;
use engine::strategy::Strategy;
use engine::symbol_core::{CoreConfig, SymbolCore};
use protocol::Symbol;

use crate::bridge::{BridgeActor, BridgeConfig, SymbolRoute};
use crate::control::{self, ControlActor, ControlEndpoint, ControlError, ControlSettings};
use crate::market_data::{self, MarketData};
use crate::metrics::MetricsActor;
use crate::operator::OperatorRoutes;
use crate::state_store::StateStore;
use crate::status::StatusBoard;
use crate::symbol_actor::{SymbolActor, SymbolOutputs};

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
    /// The write-ahead journal every symbol appends to before its next order (`None`: off).
    pub journal: Option<Arc<crate::journal::Journal>>,
    /// Threads for symbol actors: 0 = one per symbol (full isolation); N = symbols share
    /// N threads round-robin (for thousands of symbols).
    pub symbol_threads: usize,
    pub tick_overflow: market_data::Overflow,
}

/// Handles to a running engine.
pub struct Engine {
    pub bridge: Addr<BridgeActor>,
    pub metrics: Addr<MetricsActor>,
    pub control: Addr<ControlActor>,
    pub symbols: HashMap<Symbol, Addr<SymbolActor>>,
    pub state: Option<Addr<StateStore>>,
    pub board: StatusBoard,
    pub risk: Arc<PortfolioRisk>,
    pub market_data: Option<MarketData>,
    pub control_endpoint: Option<ControlEndpoint>,
    arbiters: Vec<Arbiter>,
}

/// Why the engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("market data {endpoint}: {source}")]
    MarketData { endpoint: String, source: zmq::Error },
    #[error("control: {0}")]
    Control(#[source] ControlError),
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
        for arbiter in self.arbiters.drain(..) {
            arbiter.stop();
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
    session_id: u64,
) -> Result<Engine, StartError> {
    // The kill switch first: an engine whose control endpoint cannot be bound does not
    // start (only control "off" runs without one), and nothing has started yet to undo.
    let control_socket =
        config.control_bind.as_ref().map(|c| control::bind(zmq, c)).transpose().map_err(StartError::Control)?;
    // Start the run's monotonic clock now, so lock events count from engine start.
    crate::time::mono_us();
    let board = StatusBoard::default();
    let mut arbiters = Vec::new();

    let metrics_arbiter = Arbiter::new();
    let metrics = MetricsActor::start_in_arbiter(&metrics_arbiter.handle(), |_| MetricsActor::default());
    arbiters.push(metrics_arbiter);

    let bridge_arbiter = Arbiter::new();
    let bridge_config = config.bridge.clone();
    let (zmq_for_bridge, risk_for_bridge) = (zmq.clone(), Arc::clone(&risk));
    let bridge = BridgeActor::start_in_arbiter(&bridge_arbiter.handle(), move |_| {
        BridgeActor::new(bridge_config, zmq_for_bridge, HashMap::new(), risk_for_bridge, session_id)
    });
    arbiters.push(bridge_arbiter);

    let state = config.state_path.clone().map(|path| {
        let store_arbiter = Arbiter::new();
        let restored = config.restored.clone();
        let addr = StateStore::start_in_arbiter(&store_arbiter.handle(), move |_| StateStore::new(path, restored));
        arbiters.push(store_arbiter);
        addr
    });
    let outputs = SymbolOutputs {
        orders: bridge.clone().recipient(),
        queries: bridge.clone().recipient(),
        pnl: metrics.clone().recipient(),
        state: state.clone().map(Addr::recipient),
        snapshots: bridge.clone().recipient(),
        journal: config.journal.clone(),
    };
    let mut symbols = HashMap::new();
    let mut routes = HashMap::new();
    let threads = if config.symbol_threads == 0 { specs.len() } else { config.symbol_threads.min(specs.len()) };
    let symbol_arbiters: Vec<Arbiter> = (0..threads).map(|_| Arbiter::new()).collect();
    for (i, spec) in specs.iter().enumerate() {
        let symbol = spec.model.symbol;
        let mut core = SymbolCore::new((config.core)(symbol), strategy(spec), &risk);
        if let Some(saved) = config.restored.get(&symbol) {
            core.restore(saved, &risk);
        }
        let arbiter = &symbol_arbiters[i % threads.max(1)];
        let (risk, outputs, board) = (Arc::clone(&risk), outputs.clone(), board.clone());
        let addr =
            SymbolActor::start_in_arbiter(&arbiter.handle(), move |_| SymbolActor::new(core, risk, outputs, board));
        routes.insert(
            symbol,
            SymbolRoute {
                reports: addr.clone().recipient(),
                timeouts: addr.clone().recipient(),
                reconcile: addr.clone().recipient(),
            },
        );
        symbols.insert(symbol, addr);
    }
    // Only now does the bridge connect: its first snapshot must find every symbol.
    bridge.do_send(crate::bridge::RegisterRoutes { routes });
    arbiters.extend(symbol_arbiters);
    // The bridge asks for the reconciling snapshot itself (every 50 ms until it arrives);
    // every symbol starts Reconciling, so none trades before it.

    let flag_routes = symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect();
    let operator_routes = OperatorRoutes {
        snapshots: bridge.clone().recipient(),
        symbols: symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect(),
        board: board.clone(),
    };
    let control =
        ControlActor::new(Arc::clone(&risk), flag_routes, board.clone()).with_operator(operator_routes).start();
    let control_endpoint = match control_socket.map(|s| s.serve(control.clone().recipient())).transpose() {
        Ok(endpoint) => endpoint,
        Err(e) => {
            for arbiter in &arbiters {
                arbiter.stop();
            }
            return Err(StartError::Control(e));
        }
    };

    let tick_routes = symbols.iter().map(|(s, a)| (*s, a.clone().recipient())).collect();
    let codec = config.bridge.socket.codec;
    let market_data =
        market_data::subscribe(zmq, &config.market_data_endpoint, codec, tick_routes, config.tick_overflow)
            .map_err(|source| StartError::MarketData { endpoint: config.market_data_endpoint.clone(), source })?;

    Ok(Engine {
        bridge,
        metrics,
        control,
        symbols,
        state,
        board,
        risk,
        market_data: Some(market_data),
        control_endpoint,
        arbiters,
    })
}

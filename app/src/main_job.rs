//! The main job: start (or connect to) a gateway, start the engine's actors for the chosen
//! symbols, print a status line per symbol every second, and on Ctrl-C or after the
//! duration stop cleanly: entries off, feed off, wait for every order in flight, then
//! compare the engine's books with the gateway's ledger and print the summary.

/// `println!` that never panics: a closed stdout (a SIGHUP from a closed terminal) must not
/// turn a clean stop into a panic; the summary is also in engine.jsonl.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::actors::bridge::socket::SocketConfig;
use ::actors::bridge::{BridgeConfig, BridgeStats, Percentiles};
use ::actors::market_data::Overflow;
use ::actors::metrics::{GetMetrics, MetricsSnapshot};
use ::actors::system::{self, WiringConfig};
use actix::prelude::*;
use anyhow::{anyhow, bail, Context as _};
use engine::discrepancy::DiscrepancyCounts;
use engine::feed::InstrumentModel;
use engine::reconcile::VenueView;
use engine::registry::{default_model, default_order_qty, SymbolRegistry, SymbolSpec};
use engine::risk::{ControlFlags, PortfolioRisk};
use engine::strategy::breakout::{Breakout, BreakoutConfig};
use engine::strategy::churn::Churn;
use engine::strategy::zscore::{ZScore, ZScoreConfig};
use engine::strategy::{IntentTemplate, Strategy};
use engine::symbol_core::{CoreConfig, SymbolStatus};
use paper_gateway::replay::ReplayFeed;
use paper_gateway::server::{self, GatewayConfig, GatewayOutcome, ReplayOutcome};
use paper_gateway::venue::VenueConfig;
use protocol::{Money, Symbol};
use tracing::{info, warn};

use crate::config::{RunConfig, StrategyChoice};
use crate::http::live::LiveSources;
use crate::http::{HttpServer, HttpSettings};
use crate::replay_run::{Published, ReplayEnd, ReplayWatch};

/// How to run.
#[derive(Clone, Debug)]
pub struct JobOptions {
    pub config: RunConfig,
    pub duration: Option<Duration>,
    /// Print the status line this often (`None`: quiet).
    pub status_every: Option<Duration>,
    /// Stop once the engine has taken this many ticks (the stress harness's fixed budget).
    pub expected_ticks: Option<u64>,
    /// One compact progress line instead of a line per symbol.
    pub compact_progress: bool,
    /// The run's folder (`logs/<run-id>/`): where the trade ledger goes by default.
    pub run_dir: Option<std::path::PathBuf>,
    /// Stop when this replay is over (set by [`run`] for the embedded gateway's replay; the
    /// stress harness sets it for its gateway process).
    pub replay_end: Option<ReplayEnd>,
    /// The embedded gateway tells this channel of every order it reads off its socket (its
    /// intent id and wall-clock time): `intent-bench` times intents onto the wire with it.
    pub order_observer: Option<crossbeam_channel::Sender<(protocol::IntentId, u64)>>,
}

impl JobOptions {
    pub fn new(config: RunConfig, duration: Option<Duration>) -> JobOptions {
        JobOptions {
            config,
            duration,
            status_every: None,
            expected_ticks: None,
            compact_progress: false,
            run_dir: None,
            replay_end: None,
            order_observer: None,
        }
    }
}

/// What the market-data thread saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct FeedSummary {
    pub received: u64,
    pub dispatched: u64,
    pub dropped: u64,
    pub unknown_symbol: u64,
    pub undecodable: u64,
    pub max_gap_us: u64,
    pub gaps_over_50ms: u64,
    /// From the first to the last tick taken.
    pub active: Duration,
}

/// The circuit breaker at the end of a run.
#[derive(Clone, Copy, Debug, Default)]
pub struct BreakerSummary {
    pub state: &'static str,
    pub trips: u64,
    pub transitions: u64,
}

/// One symbol's final figures.
#[derive(Clone, Debug)]
pub struct SymbolSummary {
    pub status: SymbolStatus,
    pub folded_net: Money,
    /// The venue's net PnL over this session (its ledger less the first-contact baseline).
    pub gateway_net: Option<Money>,
    /// The venue's ledger line for this symbol in the final snapshot.
    pub venue: Option<VenueView>,
}

impl SymbolSummary {
    /// False when the final snapshot shows another position (side, qty or cost basis).
    pub fn position_matches(&self) -> Option<bool> {
        self.venue.map(|v| v.position == self.status.position)
    }
}

/// The venue's session net for a symbol: its all-time net less the baseline at first contact.
fn session_net(all_time_realized: Money, all_time_fees: Money, status: &SymbolStatus) -> Money {
    let base = status.venue_baseline.unwrap_or_default();
    let realized = all_time_realized.checked_sub(base.realized).unwrap_or(Money::ZERO);
    let fees = all_time_fees.checked_sub(base.fees).unwrap_or(Money::ZERO);
    realized.checked_sub(fees).unwrap_or(Money::ZERO)
}

/// The result of a run.
#[derive(Clone, Debug)]
pub struct JobSummary {
    pub symbols: Vec<SymbolSummary>,
    pub metrics: MetricsSnapshot,
    pub bridge: BridgeStats,
    pub gateway_ledger_net: Option<Money>,
    pub gateway: Option<GatewayOutcome>,
    pub efsm_errors: u64,
    /// Discrepancies of every symbol, by code.
    pub discrepancies: DiscrepancyCounts,
    /// The circuit breaker at the end: its state, trips and transitions (each logged).
    pub breaker: BreakerSummary,
    pub feed: FeedSummary,
    /// Tick received → order decided, µs: p50, p90, p99, p999, max, count.
    pub tick_to_intent_us: Percentiles,
    pub tick_to_intent_by_symbol: Vec<(Symbol, Percentiles)>,
    /// An agent's accepted intent, from the intent endpoint reading its frame to the order
    /// handed to the bridge (µs): the agent path's counterpart of tick → intent.
    pub intent_to_order_us: Percentiles,
    /// From the first status tick to the stop signal (the trading window).
    pub trading: Duration,
    pub elapsed: Duration,
    /// What the trade ledger wrote (`None`: no ledger).
    pub ledger: Option<trade_ledger::LedgerReport>,
    /// The replayed span and its round trips (`None`: not a replay, or not known).
    pub replay: Option<ReplayOutcome>,
}

impl JobSummary {
    /// True when the folded total, the sum of symbols and the gateway's ledger (over this
    /// session) agree exactly, every position equals the venue's (side, qty, cost basis),
    /// and no lock is left held. Without the gateway's final ledger nothing can be proved:
    /// false.
    pub fn books_balance(&self) -> bool {
        let ledger_ok = self.gateway_ledger_net.is_some_and(|g| g == self.metrics.total_net);
        self.metrics.total_net == self.metrics.sum_symbol_net
            && ledger_ok
            && self.position_mismatches().is_empty()
            && self.bridge.locks_acquired == self.bridge.locks_released
    }

    /// Symbols whose position differs from the venue's final snapshot (or that have no
    /// snapshot line to compare with).
    pub fn position_mismatches(&self) -> Vec<Symbol> {
        self.symbols.iter().filter(|r| r.position_matches() != Some(true)).map(|r| r.status.symbol).collect()
    }
}

fn strategy_for(choice: StrategyChoice, template: IntentTemplate) -> Box<dyn Strategy> {
    match choice {
        StrategyChoice::ZScore { window, entry_z, exit_z } => {
            Box::new(ZScore::new(ZScoreConfig { window, entry_z, exit_z, template }))
        }
        StrategyChoice::Breakout { window, exit_window } => {
            Box::new(Breakout::new(BreakoutConfig { entry_window: window, exit_window, template }))
        }
        StrategyChoice::Churn => Box::new(Churn::new(template)),
        StrategyChoice::BackToBack => Box::new(Churn::back_to_back(template)),
    }
}

/// Resolves the configured names (and aliases) into a registry. Invalid or repeated names are
/// errors; a name without a built-in model gets the generic one (`default_model`).
pub fn registry(config: &RunConfig) -> anyhow::Result<SymbolRegistry> {
    let mut specs = Vec::new();
    for name in &config.symbols {
        let canonical = config.aliases.get(name).map_or(name.as_str(), String::as_str);
        let symbol = Symbol::new(canonical).map_err(|e| anyhow!("--symbols: {e}"))?;
        if specs.iter().any(|s: &SymbolSpec| s.model.symbol == symbol) {
            bail!("--symbols: {symbol} listed twice");
        }
        let order_qty = config.qty.unwrap_or_else(|| default_order_qty(symbol));
        specs.push(SymbolSpec { model: default_model(symbol), order_qty });
    }
    let mut registry = SymbolRegistry::new(specs);
    for (alias, target) in &config.aliases {
        let symbol = Symbol::new(target).map_err(|e| anyhow!("aliases.{alias:?}: {e}"))?;
        if registry.spec(&symbol).is_some() {
            registry.add_alias(alias, symbol).map_err(|e| anyhow!("aliases.{alias:?}: {e}"))?;
        }
    }
    Ok(registry)
}

/// The embedded paper gateway for these symbols: orders on a free loopback port, ticks on
/// `gateway.market_data_bind` (a free loopback port by default).
pub fn embedded_gateway_config(
    config: &RunConfig,
    models: Vec<InstrumentModel>,
    replay: Option<Arc<ReplayFeed>>,
) -> GatewayConfig {
    GatewayConfig {
        orders_bind: "tcp://127.0.0.1:*".into(),
        market_data_bind: config.embedded_market_data_bind.clone(),
        models,
        seed: config.seed,
        interval: config.interval,
        market_data_codec: config.codec,
        venue: VenueConfig { fee: config.fee, slippage_ppm: config.slippage_ppm },
        faults: paper_gateway::faults::FaultConfig {
            reject_rate: config.reject_rate,
            drop_reply_rate: config.drop_reply_rate,
            extra_latency: config.latency,
            stop_after: None,
            clock_skew_ms: 0,
        },
        heartbeat_interval: config.heartbeat_interval,
        journal: None,
        ticks_per_symbol: None,
        max_rate: false,
        wait_for_subscribers: true,
        publish_for: None,
        replay,
        order_observer: None,
    }
}

/// Opens the agents' durable answer log beside the state file and takes what it holds
/// (docs/AGENTS.md, "Idempotency").
fn open_answer_log(
    agents: &mut ::actors::agents::AgentSettings,
    state_path: &std::path::Path,
    fsync: bool,
) -> anyhow::Result<()> {
    use ::actors::agents::answer_log::{path_for, AnswerLog};
    let path = path_for(state_path);
    let ids: Vec<engine::agent::AgentId> = agents.agents.iter().map(|a| a.id).collect();
    let (log, loaded) = AnswerLog::open(&path, &ids, fsync).map_err(|e| anyhow!("agents' answer log: {e}"))?;
    if loaded.torn_tail {
        warn!(target: "engine", path = %path.display(), "agents' answer log: a torn last record (the process died mid-write) was skipped");
    }
    let kept: usize = loaded.answers.values().map(Vec::len).sum();
    info!(target: "engine", path = %path.display(), records = loaded.records, kept, fsync, "agents' answer log loaded; a retry of a kept intent_id gets its original answer");
    agents.answers = Some(log);
    agents.restored = loaded.answers;
    Ok(())
}

/// Every symbol's durable state as loaded at start.
type RestoredState = std::collections::BTreeMap<Symbol, engine::symbol_core::DurableSymbol>;

/// Loads the durable state (the state file, then the journal's newer records over it) and
/// opens the journal, compacted to what was loaded.
fn load_durable_state(
    path: &std::path::Path,
    fsync: bool,
) -> anyhow::Result<(RestoredState, Option<Arc<::actors::journal::Journal>>)> {
    let mut restored = ::actors::state_store::load(path).map_err(|e| anyhow!("durable state: {e}"))?;
    let wal = ::actors::journal::path_for(path);
    let replayed = ::actors::journal::replay(&wal).map_err(|e| anyhow!("durable journal: {e}"))?;
    if replayed.torn_tail {
        warn!(target: "engine", path = %wal.display(), "durable journal: a torn last record (the process died mid-write) was skipped");
    }
    restored.extend(replayed.states);
    let journal =
        ::actors::journal::Journal::open(&wal, &restored, fsync).map_err(|e| anyhow!("durable journal: {e}"))?;
    let open = restored.values().filter(|s| s.position.is_some()).count();
    let pending = restored.values().filter(|s| s.pending.is_some()).count();
    info!(target: "engine", path = %path.display(), journal = %wal.display(), journal_records = replayed.records, symbols = restored.len(), open_positions = open, orders_on_the_wire = pending, fsync, "durable state loaded; orders left on the wire are asked for, then every symbol reconciles with the gateway before trading");
    Ok((restored, Some(Arc::new(journal))))
}

/// Runs the job to completion.
pub fn run(mut options: JobOptions) -> anyhow::Result<JobSummary> {
    let replay = crate::replay_run::load(&options.config)?;
    if let Some(feed) = &replay {
        // A replay trades the symbols of its files, losslessly at max speed.
        options.config.symbols = feed.symbols().iter().map(Symbol::to_string).collect();
        options.config.lossless_ticks |= feed.speed().is_max();
        let published = Published::Feed(Arc::clone(feed));
        options.replay_end = Some(ReplayEnd { ticks: feed.ticks(), published });
        info!(target: "engine", symbols = ?options.config.symbols, ticks = feed.ticks(), speed = %feed.speed(), clock = ?options.config.clock(), "replaying recorded quotes");
    }
    let config = options.config.clone();
    let registry = registry(&config)?;
    let models: Vec<InstrumentModel> = registry.specs().iter().map(|s| s.model).collect();
    // Before anything starts: a configured ledger that cannot be opened stops the start.
    let ledger = crate::ledger::open(&config, options.run_dir.as_deref())?;
    let (gateway, orders_endpoint, md_endpoint) = match (&config.gateway, &config.market_data) {
        (None, _) => {
            let gateway_config = GatewayConfig {
                order_observer: options.order_observer.clone(),
                ..embedded_gateway_config(&config, models, replay)
            };
            let handle = server::start(gateway_config).context("starting the embedded paper gateway")?;
            let (o, m) = (handle.orders_endpoint.clone(), handle.market_data_endpoint.clone());
            info!(target: "engine", orders = %o, market_data = %m, "embedded paper gateway started");
            (Some(handle), o, m)
        }
        (Some(g), Some(m)) => (None, g.clone(), m.clone()),
        (Some(_), None) => bail!("--market-data: required with --gateway (the gateway's tick PUB endpoint)"),
    };

    let started = Instant::now();
    let sender = ledger.as_ref().map(trade_ledger::LedgerWriter::sender);
    let outcome = actix_rt::System::new().block_on(run_actors(options, registry, orders_endpoint, md_endpoint, sender));
    let mut summary = match outcome {
        Ok(summary) => summary,
        Err(e) => {
            if let Some(ledger) = ledger {
                ledger.finish(Duration::from_secs(5));
            }
            return Err(e);
        }
    };
    if let Some(handle) = gateway {
        // The embedded gateway's own final ledger (it lived for this session only).
        let ledger = handle.stop();
        for row in &mut summary.symbols {
            let line = ledger.ledger.get(&row.status.symbol);
            let (realized, fees) = line.map_or((Money::ZERO, Money::ZERO), |l| (l.realized, l.fees));
            row.gateway_net = Some(session_net(realized, fees, &row.status));
        }
        summary.gateway_ledger_net = Money::checked_sum(summary.symbols.iter().filter_map(|r| r.gateway_net)).ok();
        summary.replay = ledger.replay.clone();
        summary.gateway = Some(ledger);
    }
    summary.ledger = ledger.map(|l| crate::ledger::finish(l, &summary));
    summary.elapsed = started.elapsed();
    Ok(summary)
}

async fn run_actors(
    options: JobOptions,
    registry: SymbolRegistry,
    orders: String,
    market_data: String,
    ledger: Option<trade_ledger::LedgerSender>,
) -> anyhow::Result<JobSummary> {
    // Listen first, so that a stop signal during start-up is also a clean stop.
    let mut stop_signals = crate::signals::StopSignals::listen();
    let config = &options.config;
    let state_path = config.state_path();
    let (restored, journal) = match &state_path {
        Some(path) => load_durable_state(path, config.state_fsync)?,
        None => (Default::default(), None),
    };
    // Every name an agent may use for a traded symbol, and who drives which symbol.
    let mut symbol_names: std::collections::HashMap<String, Symbol> =
        registry.symbols().map(|s| (s.as_str().to_string(), s)).collect();
    for alias in config.aliases.keys() {
        if let Ok(symbol) = registry.resolve(alias) {
            symbol_names.insert(alias.clone(), symbol);
        }
    }
    let mut agents = config.agents.settings(&symbol_names).map_err(|e| anyhow!("{e}"))?;
    if let (Some(path), false) = (&state_path, agents.agents.is_empty()) {
        open_answer_log(&mut agents, path, config.state_fsync)?;
    }
    let zmq = zmq::Context::new();
    let first_intent = crate::run_id::wall_ns() / 1_000; // µs since epoch: never repeats across runs
    let risk = Arc::new(PortfolioRisk::new(config.risk, first_intent));
    let wiring = WiringConfig {
        bridge: BridgeConfig {
            socket: SocketConfig {
                endpoint: orders,
                identity: config.identity.clone(),
                codec: config.codec,
                send_hwm: 100_000,
            },
            request_timeout: config.order_timeout,
            heartbeat_interval: config.heartbeat_interval,
            heartbeats_missed_for_down: config.heartbeats_missed,
        },
        market_data_endpoint: market_data,
        control_bind: config.control.clone(),
        core: {
            let (stale_after, exits, price_band) = (config.stale_after, config.exits, config.price_band);
            Arc::new(move |symbol| CoreConfig {
                stale_after_ns: u64::try_from(stale_after.as_nanos()).unwrap_or(u64::MAX),
                price_band,
                // A position restored at start keeps being managed by the configured exits.
                reconcile_rules: exits,
                ..CoreConfig::new(symbol)
            })
        },
        state_path: state_path.clone(),
        restored,
        journal,
        shards: config.shards,
        step_budget: config.step_budget,
        tick_overflow: if config.lossless_ticks { Overflow::Backpressure } else { Overflow::Drop },
        ledger,
        clock: config.clock(),
        agents,
        symbol_names,
    };
    let (choice, exits) = (config.strategy, config.exits);
    let strategy = move |spec: &SymbolSpec| strategy_for(choice, IntentTemplate { qty: spec.order_qty, exits });
    let mut engine =
        system::start(wiring, &zmq, registry.specs(), Arc::clone(&risk), &strategy, protocol::SessionId::fresh())
            .map_err(|e| anyhow!("{e}"))?;
    if let Some(ep) = &engine.control_endpoint {
        info!(target: "engine", endpoint = %ep.endpoint, "control endpoint listening");
    }
    if let Some(ep) = &engine.agent_endpoint {
        info!(target: "engine", endpoint = %ep.endpoint, "intent endpoint listening (docs/AGENTS.md)");
    }
    if let Some(stream) = &engine.stream {
        info!(target: "engine", endpoint = %stream.endpoint, "execution stream publishing (docs/AGENTS.md)");
    }
    let http = match config.http {
        Some(bind) => match start_http(&engine, config, bind) {
            Ok(server) => Some(server),
            Err(e) => {
                engine.stop_threads();
                System::current().stop();
                bail!("engine.http: cannot serve on {bind}: {e}");
            }
        },
        None => None,
    };
    // Run until Ctrl-C, the duration, or the tick budget.
    let trading_started = Instant::now();
    let deadline = options.duration.map(|d| Instant::now() + d);
    let feed_counters = engine.market_data.as_ref().map(|m| m.counters.clone());
    let mut ticker = tokio::time::interval(options.status_every.unwrap_or(Duration::from_secs(1)));
    let mut replay_watch = options.replay_end.clone().map(ReplayWatch::new);
    let mut replay_beat = tokio::time::interval(Duration::from_millis(50));
    // Ctrl-C, SIGTERM and SIGHUP all stop the same way: out of this loop into the drain.
    loop {
        tokio::select! {
            signal = stop_signals.recv() => {
                info!(target: "engine", signal = signal.name(), "stop signal: stopping");
                break;
            }
            _ = ticker.tick() => {
                let taken = feed_counters.as_ref().map_or(0, |c| c.totals().dispatched);
                if options.status_every.is_some() {
                    let stats = engine.bridge_stats().await.ok();
                    if options.compact_progress {
                        print_progress(trading_started.elapsed(), taken, options.expected_ticks, stats.as_ref());
                    } else {
                        print_status(&engine.board.snapshot(), stats.as_ref());
                    }
                }
                if deadline.is_some_and(|d| Instant::now() >= d) { break; }
                if options.expected_ticks.is_some_and(|n| taken >= n) { break; }
            }
            _ = replay_beat.tick(), if replay_watch.is_some() => {
                if let Some(reason) = replay_watch.as_mut().and_then(|w| w.over(&engine.board.snapshot())) {
                    info!(target: "engine", reason = %reason, "REPLAY_END: stopping");
                    break;
                }
            }
        }
    }
    let trading = trading_started.elapsed();
    if options.compact_progress && std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        say!();
    }
    // Stop: no new entries, no more ticks, then wait for every order in flight.
    risk.set_flags(ControlFlags { entry_enabled: false, ..risk.flags() });
    let feed = engine.market_data.as_ref().map(|m| m.counters.clone());
    if let Some(mut md) = engine.market_data.take() {
        md.stop();
    }
    let drain_until = Instant::now() + config.order_timeout * 3 + Duration::from_millis(500);
    loop {
        let stats = engine.bridge_stats().await.map_err(|e| anyhow!("bridge: {e}"))?;
        let in_flight = engine.board.snapshot().iter().filter(|s| s.order_in_flight.is_some()).count();
        if (stats.locks_held == 0 && in_flight == 0) || Instant::now() >= drain_until {
            if in_flight > 0 {
                warn!(target: "engine", in_flight, "stopping with orders whose outcome is still unknown");
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Nothing more may go out (no time-limit exit after the drain), so what is flushed to the
    // state file is final.
    risk.set_flags(ControlFlags { global_lock: true, ..risk.flags() });
    // Let the last reports reach the symbols and the metrics.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let snapshot = engine.fetch_snapshot(Duration::from_secs(2)).await;
    let metrics = engine.metrics.send(GetMetrics).await.map_err(|e| anyhow!("metrics: {e}"))?;
    let bridge = engine.bridge_stats().await.map_err(|e| anyhow!("bridge: {e}"))?;
    if let Some(store) = &engine.state {
        match store.send(::actors::state_store::FlushState).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => warn!(target: "engine", error = %e, "durable state not saved"),
            Err(e) => warn!(target: "engine", error = %e, "state store gone"),
        }
    }
    engine.shutdown_bridges().await;
    // The board is published on reports and every 250 ms: bring every symbol's up to date
    // (the ticks it stepped since) before it is read for the summary.
    for addr in engine.symbols.values() {
        let _ = addr.send(::actors::symbol_actor::PublishStatus).await;
    }
    let statuses = engine.board.snapshot();
    let mut tick_to_intent = ::actors::bridge::small_histogram();
    let mut tick_to_intent_by_symbol = Vec::new();
    for (symbol, addr) in &engine.symbols {
        if let Ok(Some(h)) = addr.send(::actors::symbol_actor::GetTickToIntent).await {
            let _ = tick_to_intent.add(&h);
            tick_to_intent_by_symbol.push((*symbol, ::actors::bridge::summarize(&h)));
        }
    }
    tick_to_intent_by_symbol.sort_by_key(|a| a.0);
    let mut intent_to_order = ::actors::bridge::small_histogram();
    for addr in engine.symbols.values() {
        if let Ok(Some(h)) = addr.send(::actors::symbol_actor::GetIntentToOrder).await {
            let _ = intent_to_order.add(&h);
        }
    }
    if let Some(server) = http {
        server.stop();
    }
    engine.stop_threads();

    // Like with like: positions absolutely, PnL and fees over this session (the venue's
    // ledger may predate it; docs/PROTOCOL.md §12.2). Symbols this engine does not trade are
    // not part of the comparison.
    let views = snapshot.as_ref().map(engine::reconcile::venue_views);
    let symbols: Vec<SymbolSummary> = statuses
        .iter()
        .map(|status| {
            let folded_net =
                metrics.per_symbol.iter().find(|(s, _)| *s == status.symbol).map_or(Money::ZERO, |(_, p)| p.net());
            let venue = views.as_ref().map(|v| v.get(&status.symbol).copied().unwrap_or_default());
            let gateway_net = venue.map(|v| session_net(v.realized, v.fees, status));
            SymbolSummary { status: *status, folded_net, gateway_net, venue }
        })
        .collect();
    let gateway_ledger_net =
        snapshot.as_ref().and_then(|_| Money::checked_sum(symbols.iter().filter_map(|r| r.gateway_net)).ok());
    let efsm_errors = statuses.iter().map(|s| s.efsm_errors).sum::<u64>();
    let mut discrepancies = DiscrepancyCounts::default();
    for s in &statuses {
        discrepancies.add(&s.discrepancies);
    }
    info!(
        target: "engine",
        total_pnl = %metrics.total_net,
        sum_symbol_pnl = %metrics.sum_symbol_net,
        gateway_ledger_pnl = %gateway_ledger_net.map_or("-".to_string(), |m| m.to_string()),
        efsm_errors,
        discrepancies = discrepancies.total(),
        locks_acquired = bridge.locks_acquired,
        locks_released = bridge.locks_released,
        "RUN_SUMMARY"
    );
    let feed = feed.map(|c| c.totals()).map_or_else(FeedSummary::default, |t| FeedSummary {
        received: t.received,
        dispatched: t.dispatched,
        dropped: t.dropped_full,
        unknown_symbol: t.unknown_symbol,
        undecodable: t.undecodable,
        max_gap_us: t.max_gap_ns / 1_000,
        gaps_over_50ms: t.gaps_over_50ms,
        active: Duration::from_nanos(t.active_ns),
    });

    System::current().stop();
    Ok(JobSummary {
        symbols,
        metrics,
        bridge,
        gateway_ledger_net,
        gateway: None,
        efsm_errors,
        discrepancies,
        breaker: BreakerSummary {
            state: risk.breaker_state().name(),
            trips: risk.breaker_trips(),
            transitions: risk.breaker_transitions(),
        },
        feed,
        tick_to_intent_us: ::actors::bridge::summarize(&tick_to_intent),
        intent_to_order_us: ::actors::bridge::summarize(&intent_to_order),
        tick_to_intent_by_symbol,
        trading,
        elapsed: Duration::ZERO,
        ledger: None,
        replay: None,
    })
}

/// The HTTP server over this engine's live state (off the hot path: it only reads shared
/// state and messages the bridges and the control actor).
fn start_http(engine: &system::Engine, config: &RunConfig, bind: std::net::SocketAddr) -> std::io::Result<HttpServer> {
    let sources = LiveSources {
        board: engine.board.clone(),
        risk: Arc::clone(&engine.risk),
        bridges: engine.bridges.clone(),
        symbols: engine.symbols.iter().map(|(s, a)| (*s, a.clone())).collect(),
        shard_of: engine.shard_of.clone(),
        control: engine.control.clone(),
        state: engine.state.clone(),
        feed: engine.market_data.as_ref().map(|m| m.counters.clone()),
        discrepancies: Default::default(),
    };
    let token = config.control.as_ref().and_then(|c| c.token.clone());
    let server = HttpServer::start(HttpSettings { bind, symbol_labels: config.http_symbol_labels, token }, sources)?;
    say!("status page: http://{}/  (metrics: /metrics)", server.local_addr);
    Ok(server)
}

/// One progress line: live (rewritten in place) on a terminal, plain lines otherwise.
fn print_progress(elapsed: Duration, ticks: u64, expected: Option<u64>, bridge: Option<&BridgeStats>) {
    use std::io::{IsTerminal, Write};
    let (orders, fills, held) = bridge.map_or((0, 0, 0), |b| (b.orders_sent, b.fills_received, b.locks_held));
    let rtt = bridge.map_or_else(|| rtt_text(&Percentiles::default()), |b| rtt_text(&b.round_trip_us));
    let budget = expected.map_or(String::new(), |n| format!("/{n}"));
    let line = format!(
        "[{:>6.1}s] ticks {ticks}{budget}  orders {orders}  fills {fills}  locks held {held}  {rtt}",
        elapsed.as_secs_f64()
    );
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = write!(out, "\r\x1b[2K{line}");
        let _ = out.flush();
    } else {
        let _ = writeln!(out, "{line}");
    }
}

/// Round-trip p50 and p99 for a status line, or `n = 0` when nothing was measured (never a
/// 0 µs percentile).
fn rtt_text(summary: &Percentiles) -> String {
    if summary.count == 0 {
        return "rtt n = 0".to_string();
    }
    format!("rtt p50 {}us p99 {}us", summary.p50, summary.p99)
}

fn print_status(statuses: &[SymbolStatus], bridge: Option<&BridgeStats>) {
    let mut line = String::new();
    for s in statuses {
        let position = s.position.map_or("flat".to_string(), |p| format!("{} {}", p.direction.as_str(), p.qty));
        let net = s.realized.checked_sub(s.fees).unwrap_or(Money::ZERO);
        line.push_str(&format!(
            "{:<10} {:<13} {:<18} pnl {:>12} upnl {:>10} orders {:>5} lock {:<3} | ",
            s.symbol.as_str(),
            s.state,
            position,
            net.to_string(),
            s.unrealized.to_string(),
            s.counters.orders,
            if s.order_in_flight.is_some() { "yes" } else { "no" }
        ));
        if statuses.len() > 3 {
            break;
        }
    }
    if statuses.len() > 3 {
        let held = statuses.iter().filter(|s| s.order_in_flight.is_some()).count();
        let orders: u64 = statuses.iter().map(|s| s.counters.orders).sum();
        line.push_str(&format!("... {} symbols, {} orders, {} locks held | ", statuses.len(), orders, held));
    }
    if let Some(b) = bridge {
        let rtt = rtt_text(&b.round_trip_us);
        line.push_str(&format!("gw {} {rtt}", if b.gateway_up { "up" } else { "DOWN" }));
    }
    say!("{line}");
}

/// The final table: one row per symbol, then the totals and whether the books balance.
pub fn print_summary(summary: &JobSummary) {
    say!();
    say!(
        "{:<10} {:>7} {:>5} {:>5} {:>6} {:>16} {:>16} {:>16}  {:<12}",
        "symbol",
        "orders",
        "wins",
        "loss",
        "fills",
        "engine net",
        "folded net",
        "gateway net",
        "final state"
    );
    for row in &summary.symbols {
        let s = &row.status;
        let net = s.realized.checked_sub(s.fees).unwrap_or(Money::ZERO);
        say!(
            "{:<10} {:>7} {:>5} {:>5} {:>6} {:>16} {:>16} {:>16}  {:<12}",
            s.symbol.as_str(),
            s.counters.orders,
            s.counters.wins,
            s.counters.losses,
            s.counters.fills,
            net.to_fixed_string(),
            row.folded_net.to_fixed_string(),
            row.gateway_net.map_or("-".into(), |g| g.to_fixed_string()),
            s.state
        );
    }
    let m = &summary.metrics;
    say!("total net (folded)      {}", m.total_net.to_fixed_string());
    say!("sum of symbol nets      {}", m.sum_symbol_net.to_fixed_string());
    say!("gateway ledger net      {}", summary.gateway_ledger_net.map_or("-".into(), |g| g.to_fixed_string()));
    if let Some(replay) = &summary.replay {
        say!("{}", crate::replay_run::summary_line(replay, summary.feed.dispatched, m.total_net));
    }
    let b = &summary.bridge;
    say!(
        "orders {}  fills {}  timeouts {}  locks {}/{} (acquired/released)  efsm errors {}  ticks {} (dropped {})  elapsed {:.1}s",
        b.orders_sent,
        b.fills_received,
        b.timeouts,
        b.locks_acquired,
        b.locks_released,
        summary.efsm_errors,
        summary.feed.dispatched,
        summary.feed.dropped,
        summary.elapsed.as_secs_f64()
    );
    say!(
        "gateway link: first contact {}  seq gaps {}  seq repeats {}  unacknowledged spells {}  status-query timeouts {}",
        b.first_contact_ms.map_or("-".to_string(), |ms| format!("{ms:.1} ms")),
        b.seq_gaps,
        b.seq_repeats,
        b.unacknowledged_spells,
        b.query_timeouts
    );
    say!(
        "order round trip µs: p50 {} p90 {} p99 {} p999 {} max {} (n={})",
        b.round_trip_us.p50,
        b.round_trip_us.p90,
        b.round_trip_us.p99,
        b.round_trip_us.p999,
        b.round_trip_us.max,
        b.round_trip_us.count
    );
    let br = &summary.breaker;
    say!("circuit breaker         {} (trips {}, transitions {})", br.state, br.trips, br.transitions);
    let codes: Vec<String> = summary.discrepancies.nonzero().map(|(c, n)| format!("{c} {n}")).collect();
    say!("discrepancies           {}", if codes.is_empty() { "0".to_string() } else { codes.join(", ") });
    let halted: Vec<String> = summary
        .symbols
        .iter()
        .filter_map(|r| r.status.halt_reason.map(|h| format!("{} ({})", r.status.symbol, h.as_str())))
        .collect();
    if !halted.is_empty() {
        say!("halted                  {}", halted.join(", "));
    }
    let mismatches = summary.position_mismatches();
    if mismatches.is_empty() {
        say!("positions vs venue      all {} match (side, qty, cost basis)", summary.symbols.len());
    } else {
        for row in summary.symbols.iter().filter(|r| r.position_matches() != Some(true)) {
            say!(
                "POSITION MISMATCH       {}: engine {} venue {}",
                row.status.symbol,
                engine::Position::describe(row.status.position),
                row.venue.map_or("- (no snapshot)".to_string(), |v| engine::Position::describe(v.position))
            );
        }
    }
    if let Some(ledger) = &summary.ledger {
        say!("{}", crate::ledger::summary_line(ledger));
    }
    say!("BOOKS {}", if summary.books_balance() { "BALANCE" } else { "DO NOT BALANCE" });
}

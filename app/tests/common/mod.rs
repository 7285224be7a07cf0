//! Shared helpers for the end-to-end tests: fast test settings and free loopback ports.
//! Used by `app/tests/` and, through `#[path]`, by `stress/tests/`.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use std::time::Duration;

pub mod agent_client;
pub mod http_client;

use engine::feed::IntervalMs;
use engine::intent::ExitRules;
use engine_app::config::{RunConfig, StrategyChoice};
use engine_app::main_job::{self, JobOptions, JobSummary};
use protocol::Ppm;

/// Settings that trade often within a few seconds.
pub fn fast_config(symbols: &[String]) -> RunConfig {
    RunConfig {
        symbols: symbols.to_vec(),
        control: None,
        http: None,
        state_file: Some("off".into()),
        order_timeout: Duration::from_millis(400),
        heartbeat_interval: Duration::from_millis(200),
        interval: IntervalMs { min: 1, max: 20 },
        strategy: StrategyChoice::ZScore { window: 15, entry_z: 1.2, exit_z: 0.2 },
        exits: ExitRules {
            take_profit: Some(Ppm(500)),
            stop_loss: Some(Ppm(500)),
            trailing: None,
            max_hold_secs: Some(1),
            cooldown_secs: 0,
        },
        ..RunConfig::default()
    }
}

/// A fresh folder for one agent test (`<tmp>/<name>-<pid>`, emptied first) and, in it, the
/// agent's token file holding `token`.
pub fn agent_dir(name: &str, token: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    (dir, token_file)
}

pub fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub fn run(config: RunConfig, secs: f64) -> JobSummary {
    main_job::run(JobOptions::new(config, Some(Duration::from_secs_f64(secs)))).expect("job runs")
}

/// A paper gateway for these symbols: ticks every 1..20 ms (1..10 with `fast_ticks`),
/// heartbeats every 200 ms, no journal, publishing at once.
pub fn paper_gateway(
    orders: &str,
    md: &str,
    symbols: &[String],
    faults: paper_gateway::faults::FaultConfig,
    seed: u64,
) -> paper_gateway::server::GatewayConfig {
    paper_gateway::server::GatewayConfig {
        orders_bind: orders.into(),
        market_data_bind: md.into(),
        models: symbols
            .iter()
            .map(|s| engine::registry::default_model(protocol::Symbol::new(s).expect("symbol")))
            .collect(),
        seed,
        interval: IntervalMs { min: 1, max: 20 },
        market_data_codec: protocol::Codec::Bincode,
        venue: Default::default(),
        faults,
        heartbeat_interval: Duration::from_millis(200),
        journal: None,
        ticks_per_symbol: None,
        max_rate: false,
        wait_for_subscribers: false,
        publish_for: None,
        replay: None,
        order_observer: None,
    }
}

/// An `engine.toml` in `dir` for the tests that run the real `engine` binary: the three
/// default symbols, churn, no control endpoint and no HTTP server, fast timeouts, logs and
/// state in `dir`; `gateway`: an external gateway's (orders, market data) endpoints, else
/// the embedded gateway with ticks every 1..20 ms.
pub fn churn_engine_toml(dir: &std::path::Path, gateway: Option<(&str, &str)>) -> std::path::PathBuf {
    let config = dir.join("engine.toml");
    let endpoints =
        gateway.map_or(String::new(), |(orders, md)| format!("gateway = \"{orders}\"\nmarket_data = \"{md}\"\n"));
    let embedded = if gateway.is_none() { "\n[gateway]\ninterval_ms = \"1..20\"\n" } else { "" };
    let text = format!(
        r#"[engine]
symbols = ["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]
{endpoints}control = "off"
http = "off"
order_timeout_ms = 300
heartbeat_interval_ms = 200
log_dir = "{logs}"
state_file = "{state}"

[strategy]
kind = "churn"
cooldown_sec = 0
{embedded}"#,
        logs = dir.join("logs").display(),
        state = dir.join("state.json").display(),
    );
    std::fs::write(&config, text).expect("write engine.toml");
    config
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// The invariants every run must hold, whatever the faults.
pub fn assert_books_balance(s: &JobSummary) {
    let m = &s.metrics;
    assert_eq!(m.total_net, m.sum_symbol_net, "total equals the sum of symbols");
    assert_eq!(s.gateway_ledger_net, Some(m.total_net), "engine total equals the gateway ledger");
    if let Some(g) = &s.gateway {
        assert_eq!(g.total_net(), m.total_net, "gateway's final ledger equals the engine total");
        let gateway_fills: u64 = g.ledger.values().map(|l| l.fills).sum();
        let engine_fills: u64 = m.per_symbol.iter().map(|(_, p)| p.fills).sum();
        assert_eq!(gateway_fills, engine_fills, "every gateway fill was booked once by the engine");
    }
    for row in &s.symbols {
        assert_eq!(row.gateway_net, Some(row.folded_net), "{}: folded net equals the gateway's", row.status.symbol);
        let book_net = row.status.realized.checked_sub(row.status.fees).unwrap();
        assert_eq!(book_net, row.folded_net, "{}: the book equals the fold", row.status.symbol);
    }
    assert_eq!(s.bridge.locks_acquired, s.bridge.locks_released, "every lock released");
    assert_eq!(s.bridge.locks_held, 0);
    assert_eq!(m.inconsistencies, 0);
    assert_eq!(m.duplicates, 0);
}

/// Wiring for tests that start the actors directly (no main job).
pub fn wiring(orders: String, market_data: String, identity: &str) -> ::actors::system::WiringConfig {
    ::actors::system::WiringConfig {
        bridge: ::actors::bridge::BridgeConfig {
            socket: ::actors::bridge::socket::SocketConfig {
                endpoint: orders,
                identity: identity.into(),
                codec: protocol::Codec::Bincode,
                send_hwm: 1000,
            },
            request_timeout: Duration::from_millis(400),
            heartbeat_interval: Duration::from_millis(100),
            heartbeats_missed_for_down: 3,
        },
        market_data_endpoint: market_data,
        control_bind: None,
        core: std::sync::Arc::new(engine::symbol_core::CoreConfig::new),
        state_path: None,
        restored: Default::default(),
        journal: None,
        shards: 0,
        step_budget: ::actors::symbol_actor::DEFAULT_STEP_BUDGET,
        tick_overflow: ::actors::market_data::Overflow::Drop,
        ledger: None,
        clock: ::actors::data_clock::ClockSource::Wall,
        agents: Default::default(),
        symbol_names: Default::default(),
    }
}

//! A gateway restart mid-run: the engine reconnects by itself, orders whose replies were
//! lost are resolved by status query against the restarted gateway (which replays its
//! journal), nothing is doubled, and the books still balance with the gateway's ledger.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use engine::registry::default_model;
use engine_app::main_job::{self, JobOptions};
use paper_gateway::faults::FaultConfig;
use paper_gateway::server::{self, GatewayConfig};
use protocol::Symbol;

#[test]
fn gateway_restart_mid_run_reconnects_and_resolves_unknown_orders() {
    let dir = std::env::temp_dir().join(format!("restart-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (orders, md) = (format!("tcp://127.0.0.1:{}", free_port()), format!("tcp://127.0.0.1:{}", free_port()));
    let symbols = names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]);
    let mut config = fast_config(&symbols);
    config.gateway = Some(orders.clone());
    config.market_data = Some(md.clone());
    config.order_timeout = Duration::from_millis(200);
    config.risk.breaker.max_consecutive_failures = 1_000;
    let gateway = |seed: u64, drop_reply_rate: f64| GatewayConfig {
        orders_bind: orders.clone(),
        market_data_bind: md.clone(),
        models: symbols.iter().map(|s| default_model(Symbol::new(s).unwrap())).collect(),
        seed,
        interval: engine::feed::IntervalMs { min: 1, max: 20 },
        market_data_codec: protocol::Codec::Bincode,
        venue: Default::default(),
        // The first instance loses some replies, so orders are in Unknown around the restart.
        faults: FaultConfig { drop_reply_rate, ..Default::default() },
        heartbeat_interval: Duration::from_millis(200),
        journal: Some(dir.join("gateway.journal")),
        ticks_per_symbol: None,
        max_rate: false,
        wait_for_subscribers: true,
        publish_for: None,
        replay: None,
        order_observer: None,
    };
    let first = server::start(gateway(1, 0.3)).expect("first gateway");
    let engine = std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(7)))).expect("job runs")
    });
    std::thread::sleep(Duration::from_millis(2_500));
    let before = first.stop();
    std::thread::sleep(Duration::from_millis(1_000));
    let second = server::start(gateway(2, 0.0)).expect("restarted gateway");
    let summary = engine.join().expect("engine thread");
    let after = second.stop();

    assert!(before.counters.fills > 0, "orders flowed before the restart");
    assert!(after.counters.orders > 0, "orders flowed after the restart");
    assert!(summary.bridge.gateway_sessions >= 2, "the engine saw the new gateway session");
    assert_eq!(before.counters.orders_before_snapshot, 0, "no order before reconciling at start");
    assert_eq!(after.counters.orders_before_snapshot, 0, "no order to the restarted gateway before its snapshot");
    assert!(summary.bridge.queries_sent > 0, "unknown orders were queried");
    assert!(summary.symbols.iter().all(|r| r.status.state != "unknown"), "every unknown order resolved");
    // Nothing doubled: no intent arrived twice, and every fill of both instances was booked once.
    assert_eq!(before.counters.duplicate_intents + after.counters.duplicate_intents, 0);
    let gateway_fills: u64 = after.ledger.values().map(|l| l.fills).sum();
    let engine_fills: u64 = summary.metrics.per_symbol.iter().map(|(_, p)| p.fills).sum();
    assert_eq!(gateway_fills, engine_fills);
    assert_eq!(after.total_net(), summary.metrics.total_net, "engine total equals the journaled ledger");
    assert_eq!(summary.gateway_ledger_net, Some(summary.metrics.total_net));
    assert_eq!(summary.metrics.total_net, summary.metrics.sum_symbol_net);
    assert_eq!(summary.bridge.locks_acquired, summary.bridge.locks_released);
    assert_eq!(summary.efsm_errors, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

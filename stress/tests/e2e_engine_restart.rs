//! An engine restart keeps its positions: run 1 ends with positions open, run 2 restores
//! them from the durable state file, reconciles with the gateway (which journaled the same
//! fills), and trades on; the PnL of both runs adds up exactly to the gateway's ledger. A
//! run whose state disagrees with the gateway refuses to trade the disagreeing symbols.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::time::Duration;

use ::actors::control::{client_request, ControlRequest, Flag};
use common::*;
use engine::registry::default_model;
use engine_app::config::StrategyChoice;
use engine_app::main_job::{self, JobOptions, JobSummary};
use paper_gateway::server::{self, GatewayConfig};
use protocol::{Money, Symbol};

fn engine_run(
    orders: &str,
    md: &str,
    state: &std::path::Path,
    secs: u64,
    lock_exits_after: Option<Duration>,
) -> JobSummary {
    let control = format!("tcp://127.0.0.1:{}", free_port());
    let mut config = fast_config(&names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]));
    config.gateway = Some(orders.to_string());
    config.market_data = Some(md.to_string());
    config.state_file = Some(state.display().to_string());
    config.strategy = StrategyChoice::Churn;
    let token = ::actors::control::ControlToken::new("restart-test-token-0123456789").expect("token");
    config.control = Some(::actors::control::ControlSettings { bind: control.clone(), token: Some(token.clone()) });
    let job = std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(secs)))).expect("job runs")
    });
    if let Some(after) = lock_exits_after {
        std::thread::sleep(after);
        let reply = client_request(
            &control,
            &ControlRequest::Set { scope: ::actors::control::Scope::Global, flag: Flag::ExitEnabled, value: false },
            &::actors::control::Credentials { token: Some(token), who: Some("e2e".into()) },
            Duration::from_secs(2),
        );
        assert!(reply.expect("control reply").ok);
    }
    job.join().expect("engine thread")
}

fn open_positions(s: &JobSummary) -> usize {
    s.symbols.iter().filter(|r| r.status.position.is_some()).count()
}

#[test]
fn positions_survive_an_engine_restart_and_a_mismatch_halts() {
    let dir = std::env::temp_dir().join(format!("engine-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (orders, md) = (format!("tcp://127.0.0.1:{}", free_port()), format!("tcp://127.0.0.1:{}", free_port()));
    let gateway = server::start(GatewayConfig {
        orders_bind: orders.clone(),
        market_data_bind: md.clone(),
        models: ["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"].iter().map(|s| default_model(Symbol::new(s).unwrap())).collect(),
        seed: 3,
        interval: engine::feed::IntervalMs { min: 1, max: 20 },
        market_data_codec: protocol::Codec::Bincode,
        venue: Default::default(),
        faults: Default::default(),
        heartbeat_interval: Duration::from_millis(200),
        journal: Some(dir.join("gateway.journal")),
        ticks_per_symbol: None,
        max_rate: false,
        wait_for_subscribers: false,
        publish_for: None,
        replay: None,
        order_observer: None,
    })
    .expect("gateway");
    let state = dir.join("engine-state.json");

    // Run 1: trade, then forbid exits so that every symbol ends holding a position.
    let first = engine_run(&orders, &md, &state, 4, Some(Duration::from_millis(2_000)));
    assert_eq!(open_positions(&first), 3, "run 1 ends with every symbol open");
    assert!(std::fs::read_to_string(&state).expect("state written").contains("BTCUSD.s"));

    // Run 2: the same state; reconciliation agrees, nothing halts, the positions trade on.
    let second = engine_run(&orders, &md, &state, 3, None);
    assert!(second.symbols.iter().all(|r| !r.status.is_halted()), "restored positions match the gateway");
    assert!(second.bridge.orders_sent > 0, "trading resumed");
    assert_eq!(second.efsm_errors, 0);

    // The gateway's ledger outlives one engine session: the comparison is over the same
    // span (the venue's ledger less its baseline at first contact), so each run balances on
    // its own PnL, and the baselines carry the earlier runs.
    assert_eq!(second.gateway_ledger_net, Some(second.metrics.total_net), "{:?}", second.bridge);
    assert!(second.books_balance(), "a restarted engine against a long-lived ledger balances");
    let both = first.metrics.total_net.checked_add(second.metrics.total_net).unwrap();
    let base_net = |s: &engine_app::main_job::JobSummary| {
        Money::checked_sum(s.symbols.iter().map(|r| {
            let b = r.status.venue_baseline.unwrap_or_default();
            b.realized.checked_sub(b.fees).unwrap()
        }))
        .unwrap()
    };
    assert_eq!(base_net(&second), first.metrics.total_net, "run 2's baseline is run 1's PnL");

    // Run 3: a state file that says flat while the gateway holds positions: those symbols halt.
    let held_at_gateway = open_positions(&second);
    std::fs::write(&state, r#"{"version": 1, "symbols": {}}"#).unwrap();
    std::fs::remove_file(::actors::journal::path_for(&state)).expect("the journal beside the state file");
    let third = engine_run(&orders, &md, &state, 2, None);
    let halted = third.symbols.iter().filter(|r| r.status.is_halted()).count();
    assert_eq!(halted, held_at_gateway, "every symbol that disagrees with the gateway is halted");
    for row in third.symbols.iter().filter(|r| r.status.is_halted()) {
        assert_eq!(row.status.counters.orders, 0, "{}: a halted symbol sends no order", row.status.symbol);
        assert_eq!(row.folded_net, Money::ZERO);
    }
    assert_eq!(
        third.gateway_ledger_net,
        Some(third.metrics.total_net),
        "run 3 is judged on its own PnL: {:?}",
        third.bridge
    );
    assert_eq!(base_net(&third), both, "run 3's baseline is the PnL of runs 1 and 2");
    assert_eq!(third.position_mismatches().len(), held_at_gateway, "each position the engine does not hold is named");
    assert_eq!(third.books_balance(), held_at_gateway == 0, "positions the engine does not hold do not balance");

    let _ = gateway.stop();
    let _ = std::fs::remove_dir_all(&dir);
}

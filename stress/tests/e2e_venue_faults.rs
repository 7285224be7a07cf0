//! Venue faults the engine must survive without inventing or losing anything:
//! - clock skew on `expire_at_ns`: a gateway whose clock runs ahead of the engine's by more
//!   than the order deadline rejects every order `expired` (nothing fills, the rejects are
//!   counted, the breaker opens, no position appears); one that runs behind trades normally;
//! - a gateway restart without its journal while the engine holds positions: the new
//!   session's snapshot says flat, so every symbol holding a position halts with a snapshot
//!   mismatch and sends nothing more, and the summary says the books do not balance.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use engine::discrepancy::DiscrepancyCode;
use engine_app::main_job::{self, JobOptions};
use paper_gateway::faults::FaultConfig;
use paper_gateway::server::{self, GatewayConfig};

fn gateway_config(orders: &str, md: &str, symbols: &[String], faults: FaultConfig) -> GatewayConfig {
    paper_gateway(orders, md, symbols, faults, 5)
}

fn skewed_run(skew_ms: i64, symbols: &[String]) -> engine_app::main_job::JobSummary {
    let faults = FaultConfig { clock_skew_ms: skew_ms, ..Default::default() };
    let gateway =
        server::start(gateway_config("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", symbols, faults)).expect("gateway");
    let mut config = fast_config(symbols);
    config.gateway = Some(gateway.orders_endpoint.clone());
    config.market_data = Some(gateway.market_data_endpoint.clone());
    let summary = main_job::run(JobOptions::new(config, Some(Duration::from_secs(3)))).expect("job runs");
    let _ = gateway.stop();
    summary
}

#[test]
fn a_gateway_clock_ahead_of_the_deadline_rejects_everything_and_nothing_is_invented() {
    let symbols = names(&["SKA.s", "SKB.s"]);
    let summary = skewed_run(5_000, &symbols);
    assert!(summary.bridge.orders_sent > 0, "orders went out");
    assert_eq!(summary.bridge.fills_received, 0, "none executed after its expiry");
    let rejects: u64 = summary.symbols.iter().map(|r| r.status.counters.rejects).sum();
    assert!(rejects > 0, "the expired rejects were counted");
    assert!(summary.symbols.iter().all(|r| r.status.position.is_none()), "no position invented");
    assert_eq!(summary.discrepancies.total(), 0, "a reject is an answer, not a discrepancy");
    assert!(summary.breaker.trips >= 1, "the rejects opened the breaker: {:?}", summary.breaker);
    assert!(summary.breaker.transitions >= summary.breaker.trips, "every transition counted");
    assert_eq!(summary.efsm_errors, 0);
    assert!(summary.books_balance(), "flat and zero on both sides");
}

#[test]
fn a_gateway_clock_behind_the_engine_trades_normally() {
    let symbols = names(&["SKC.s", "SKD.s"]);
    let summary = skewed_run(-5_000, &symbols);
    assert!(summary.bridge.fills_received > 0, "orders filled");
    assert_eq!(summary.discrepancies.total(), 0);
    assert_books_balance(&summary);
    assert!(summary.books_balance());
}

#[test]
fn a_gateway_restart_without_its_journal_halts_every_symbol_holding_a_position() {
    let (orders, md) = (format!("tcp://127.0.0.1:{}", free_port()), format!("tcp://127.0.0.1:{}", free_port()));
    let symbols = names(&["NJA.s", "NJB.s", "NJC.s"]);
    let first = server::start(gateway_config(&orders, &md, &symbols, FaultConfig::default())).expect("gateway");
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let token = ::actors::control::ControlToken::new("no-journal-test-token-01234").expect("token");
    let mut config = fast_config(&symbols);
    config.gateway = Some(orders.clone());
    config.market_data = Some(md.clone());
    config.control = Some(::actors::control::ControlSettings { bind: endpoint.clone(), token: Some(token.clone()) });
    let job = std::thread::spawn(move || main_job::run(JobOptions::new(config, Some(Duration::from_secs(6)))));
    let auth = ::actors::control::Credentials { token: Some(token), who: Some("e2e".into()) };
    let request = |r: ::actors::control::ControlRequest| {
        ::actors::control::client_request(&endpoint, &r, &auth, Duration::from_secs(3)).expect("control reply")
    };
    // Let every symbol open a position, then forbid exits so that they keep it.
    std::thread::sleep(Duration::from_millis(500));
    let flag = ::actors::control::Flag::ExitEnabled;
    assert!(
        request(::actors::control::ControlRequest::Set { scope: ::actors::control::Scope::Global, flag, value: false })
            .ok
    );
    let until = Instant::now() + Duration::from_secs(3);
    let holding = loop {
        let status = request(::actors::control::ControlRequest::Status).status.unwrap_or_default();
        let open = status.iter().filter(|r| !r["position"].is_null() && r["lock_held"] == false).count();
        if open == symbols.len() || Instant::now() > until {
            break open;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(holding > 0, "some symbol holds a position before the restart");
    // The gateway dies and comes back with an empty ledger.
    let _ = first.stop();
    std::thread::sleep(Duration::from_millis(300));
    let second = server::start(gateway_config(&orders, &md, &symbols, FaultConfig::default())).expect("gateway again");
    let summary = job.join().expect("job thread").expect("job runs");
    let _ = second.stop();

    let halted: Vec<_> = summary.symbols.iter().filter(|r| r.status.halt_reason.is_some()).collect();
    assert!(halted.len() >= holding, "every symbol that held a position halted ({} of {holding})", halted.len());
    for row in &halted {
        assert_eq!(row.status.halt_reason.map(|h| h.as_str()), Some("reconcile_mismatch"), "{:?}", row.status);
        assert!(row.status.discrepancies.get(DiscrepancyCode::SnapshotMismatch) >= 1);
        assert_eq!(row.venue.and_then(|v| v.position), None, "the venue forgot it");
        assert!(row.status.position.is_some(), "the engine still shows what it holds");
    }
    assert!(!summary.position_mismatches().is_empty(), "the summary names the mismatches");
    assert!(!summary.books_balance(), "a venue that lost its ledger does not balance");
    assert_eq!(summary.efsm_errors, 0);
    assert_eq!(summary.bridge.locks_acquired, summary.bridge.locks_released);
}

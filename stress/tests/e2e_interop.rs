//! Interop: the engine trades, over the JSON codec, against a gateway written in Python
//! with pyzmq from docs/PROTOCOL.md alone (scripts/interop_gateway.py). The engine's totals
//! must equal the Python gateway's own ledger exactly.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use engine_app::main_job::{self, JobOptions};
use protocol::Money;

#[test]
fn engine_trades_against_the_python_gateway_and_books_balance() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let dump = std::env::temp_dir().join(format!("interop-ledger-{}.json", std::process::id()));
    let mut child = Command::new("python3")
        .arg(format!("{root}/scripts/interop_gateway.py"))
        .args([
            "--orders",
            "tcp://127.0.0.1:*",
            "--market-data",
            "tcp://127.0.0.1:*",
            "--symbols",
            "BTCUSD.s,ETHUSD.s,XAUUSD.s",
        ])
        .args(["--duration", "12", "--seed", "7", "--interval-ms", "2..20", "--dump-ledger"])
        .arg(&dump)
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs the interop gateway");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
    let mut ready = String::new();
    while !ready.starts_with("READY") {
        ready.clear();
        assert!(lines.read_line(&mut ready).expect("read") > 0, "gateway exited before READY");
    }
    let field = |name: &str| ready.split_whitespace().find_map(|w| w.strip_prefix(name)).expect("endpoint").to_string();
    let (orders, md) = (field("orders="), field("market_data="));
    std::thread::spawn(move || for _ in lines.lines() {});

    let mut config = fast_config(&names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]));
    config.codec = protocol::Codec::Json;
    config.gateway = Some(orders);
    config.market_data = Some(md);
    let summary = main_job::run(JobOptions::new(config, Some(Duration::from_secs(5)))).expect("job runs");
    let _ = child.kill();
    let _ = child.wait();

    assert!(summary.bridge.orders_sent > 0, "orders flowed to the Python gateway");
    assert_eq!(summary.bridge.undecodable_frames, 0, "every frame from Python decoded");
    assert_eq!(summary.bridge.session_rejects, 0, "Python accepted every frame");
    assert_eq!(summary.efsm_errors, 0);
    assert_eq!(summary.metrics.total_net, summary.metrics.sum_symbol_net);
    let python_ledger = summary.gateway_ledger_net.expect("snapshot from the Python gateway");
    assert_eq!(python_ledger, summary.metrics.total_net, "engine total equals the Python ledger, exactly");
    assert_ne!(python_ledger, Money::ZERO, "fees make the total non-zero");
    assert_eq!(summary.bridge.locks_acquired, summary.bridge.locks_released);
    let _ = std::fs::remove_file(dump);
}

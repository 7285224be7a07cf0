//! The example agent (`scripts/meanrev_agent.py`, on the Python client
//! `scripts/engine_agent_client.py`) against the real engine, over real ZeroMQ on 127.0.0.1
//! with the embedded paper gateway: the agent reads the gateway's ticks, decides entries for
//! ETHUSD.s and XAUUSD.s while the built-in strategy keeps BTCUSD.s, heartbeats, and sums
//! the realized PnL of each `position_closed` from the execution stream. Its per-symbol
//! figures equal the engine's books exactly, it closed at least one trade, and the books
//! balance with the gateway's ledger.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use engine::agent::AgentId;
use engine_app::config_agents::AgentConfig;
use engine_app::main_job::{self, JobOptions};
use protocol::{Money, Symbol};

const TOKEN: &str = "e2e-python-agent-token-8d41c0f7";
const AGENT: &str = "meanrev-e2e";

/// `PNL <symbol> trades=<n> realized=<decimal> fees=<decimal>` lines of the agent's summary.
fn pnl_line(stdout: &str, symbol: &str) -> Option<(u64, Money, Money)> {
    let line = stdout.lines().find(|l| l.starts_with(&format!("PNL {symbol} ")))?;
    let field =
        |name: &str| line.split_whitespace().find_map(|w| w.strip_prefix(&format!("{name}=")).map(str::to_string));
    Some((field("trades")?.parse().ok()?, field("realized")?.parse().ok()?, field("fees")?.parse().ok()?))
}

#[test]
fn the_example_agent_trades_and_its_pnl_equals_the_books() {
    let (dir, token_file) = common::agent_dir("e2e-python-agent", TOKEN);
    let endpoint = format!("tcp://127.0.0.1:{}", common::free_port());
    let stream = format!("tcp://127.0.0.1:{}", common::free_port());
    let market_data = format!("tcp://127.0.0.1:{}", common::free_port());

    let mut config = common::fast_config(&common::names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]));
    config.embedded_market_data_bind = market_data.clone();
    config.agents.endpoint = Some(endpoint.clone());
    config.agents.stream = Some(stream.clone());
    let symbols = vec![Symbol::new("ETHUSD.s").unwrap(), Symbol::new("XAUUSD.s").unwrap()];
    let mut agent = AgentConfig::new(AgentId::new(AGENT).unwrap(), Some(token_file.clone()), symbols);
    agent.max_intents_per_sec = 50;
    config.agents.agents = vec![agent];
    let engine = std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(12)))).expect("job runs")
    });

    // The agent outlives the engine's run by a little, so that it has every close.
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new("python3")
        .current_dir(root)
        .args(["scripts/meanrev_agent.py", "--agent-id", AGENT, "--symbols", "ETHUSD.s,XAUUSD.s"])
        .args(["--endpoint", &endpoint, "--stream", &stream, "--market-data", &market_data])
        .arg("--token-file")
        .arg(&token_file)
        .args(["--duration", "14", "--window", "20", "--entry-z", "1.2", "--time-limit-sec", "1"])
        .args(["--cooldown-sec", "0", "--retry-after-sec", "0.2", "--heartbeat-ms", "300"])
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs the example agent");
    let summary = engine.join().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the agent failed:\n{stdout}\n{stderr}");

    let mut trades = 0;
    for symbol in ["ETHUSD.s", "XAUUSD.s"] {
        let status = summary.symbols.iter().find(|r| r.status.symbol.as_str() == symbol).unwrap().status;
        let (n, realized, fees) = pnl_line(&stdout, symbol).unwrap_or((0, Money::ZERO, Money::ZERO));
        assert_eq!(realized, status.realized, "{symbol}: the agent's realized PnL from the stream\n{stdout}");
        if status.position.is_none() {
            assert_eq!(fees, status.fees, "{symbol}: flat at the end, so every fee is in a close\n{stdout}");
        }
        trades += n;
    }
    assert!(trades >= 1, "the agent closed no trade:\n{stdout}\n{stderr}");
    assert!(stdout.contains("PNL TOTAL"), "{stdout}");
    common::assert_books_balance(&summary);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_summary_line_is_read_exactly() {
    let out = "12:00:00 agent up\nPNL ETHUSD.s trades=3 realized=-1.25 fees=0.03\nPNL TOTAL trades=3 realized=-1.25 fees=0.03\n";
    let (n, realized, fees) = pnl_line(out, "ETHUSD.s").unwrap();
    assert_eq!((n, realized.to_string(), fees.to_string()), (3, "-1.25".to_string(), "0.03".to_string()));
    assert!(pnl_line(out, "XAUUSD.s").is_none());
    assert!(pnl_line("PNL ETHUSD.s trades=x realized=1 fees=0", "ETHUSD.s").is_none());
}

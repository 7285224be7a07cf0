//! Idempotency across an engine restart, over real ZeroMQ against the embedded paper
//! gateway (docs/AGENTS.md, "Idempotency"): an agent's entry is accepted and closed in a
//! first run; the engine is started again with the same state directory, and a retry of
//! the accepted `intent_id` gets the original answer (the same `order_intent_id`) and no
//! second order, a retry with another body is `duplicate_mismatch`, and an id cancelled in
//! the first run is still refused `cancelled`.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::agent_client::AgentClient;
use engine::agent::AgentId;
use engine_app::config::RunConfig;
use engine_app::config_agents::AgentConfig;
use engine_app::main_job::{self, JobOptions, JobSummary};
use protocol::Symbol;
use serde_json::{json, Value};

const TOKEN: &str = "e2e-restart-token-93c0d1a7f4";
const AGENT: &str = "restart-agent";

fn frame(id: &str, action: &str, qty: Option<&str>) -> Value {
    let mut f = json!({"type": "submit_intent", "intent_id": id, "agent_id": AGENT, "token": TOKEN,
                       "symbol": "ETHUSD.s", "action": action});
    if let Some(q) = qty {
        f["qty"] = json!(q);
        f["time_in_trade_limit_sec"] = json!(60);
    }
    f
}

fn config(dir: &Path, endpoint: &str) -> RunConfig {
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let mut config = common::fast_config(&common::names(&["ETHUSD.s"]));
    config.state_file = Some(dir.join("state/engine-state.json").display().to_string());
    config.agents.endpoint = Some(endpoint.to_string());
    let eth = Symbol::new("ETHUSD.s").unwrap();
    config.agents.agents = vec![AgentConfig {
        max_intents_per_sec: 50,
        ..AgentConfig::new(AgentId::new(AGENT).unwrap(), Some(token_file), vec![eth])
    }];
    config
}

fn start(config: RunConfig, secs: u64) -> std::thread::JoinHandle<JobSummary> {
    std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(secs)))).expect("job runs")
    })
}

/// Asks until the answer is not a transient refusal (the symbol reconciling, the feed
/// warming up), each time under a fresh id made by `id(n)`.
fn until_decided(client: &AgentClient, id: impl Fn(u32) -> String, action: &str, qty: Option<&str>) -> (String, Value) {
    let deadline = Instant::now() + Duration::from_secs(6);
    for n in 1.. {
        let key = id(n);
        let answer = client.ask(&frame(&key, action, qty));
        let transient =
            ["symbol_not_trading", "feed_stale", "feed_gap", "venue_reconciling", "gateway_down", "order_in_flight"];
        if !transient.contains(&answer["reason"].as_str().unwrap_or("")) {
            return (key, answer);
        }
        assert!(Instant::now() < deadline, "still {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    unreachable!()
}

#[test]
fn a_retry_after_a_restart_gets_the_original_answer_and_no_second_order() {
    let dir = std::env::temp_dir().join(format!("e2e-agent-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let eth = Symbol::new("ETHUSD.s").unwrap();

    // First run: an entry accepted, then closed by the agent; an id cancelled before use.
    let endpoint = format!("tcp://127.0.0.1:{}", common::free_port());
    let engine = start(config(&dir, &endpoint), 5);
    let client = AgentClient::connect(&endpoint);
    let (entry_id, accepted) = until_decided(&client, |n| format!("enter-{n}"), "enter_long", Some("0.03"));
    assert_eq!(accepted["status"], "accepted", "{accepted}");
    let cancelled =
        client.ask(&json!({"type": "cancel_intent", "agent_id": AGENT, "token": TOKEN, "intent_id": "later-1"}));
    assert_eq!(cancelled["status"], "cancelled");
    std::thread::sleep(Duration::from_millis(300));
    let (_, exit) = until_decided(&client, |n| format!("exit-{n}"), "exit", None);
    assert_eq!(exit["status"], "accepted", "{exit}");
    drop(client);
    let first = engine.join().unwrap();
    let orders = |s: &JobSummary| s.symbols.iter().find(|r| r.status.symbol == eth).unwrap().status.counters.orders;
    assert_eq!(orders(&first), 2);
    assert!(dir.join("state/engine-state.answers").exists(), "the answers live beside the state file");

    // Second run, same state directory.
    let endpoint = format!("tcp://127.0.0.1:{}", common::free_port());
    let engine = start(config(&dir, &endpoint), 4);
    let client = AgentClient::connect(&endpoint);
    // Let the symbol become tradable, so a retry decided afresh would be an order.
    std::thread::sleep(Duration::from_millis(1_500));
    let again = client.ask(&frame(&entry_id, "enter_long", Some("0.03")));
    assert_eq!(again, accepted, "the original answer, byte for byte");
    let mut other = frame(&entry_id, "enter_long", Some("0.03"));
    other["qty"] = json!("0.06");
    assert_eq!(client.ask(&other)["reason"], "duplicate_mismatch");
    let late = client.ask(&frame("later-1", "enter_long", Some("0.03")));
    assert_eq!(late["reason"], "cancelled", "{late}");
    drop(client);
    let second = engine.join().unwrap();
    assert_eq!(orders(&second), 0, "no second order");
    common::assert_books_balance(&second);
    let _ = std::fs::remove_dir_all(&dir);
}

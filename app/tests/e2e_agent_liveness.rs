//! Agent liveness end to end, over real ZeroMQ on 127.0.0.1 against the embedded paper
//! gateway (docs/AGENTS.md, "Liveness"). Two agents open a position each and then fall
//! silent: `engine ctl status` shows both silent; the `stop_entries` agent's position still
//! closes on its own time limit, the `flatten` agent's position is closed with exit reason
//! `flatten`; a heartbeat brings an agent back (`heartbeat_answer`, alive in the status);
//! `cancel_intent` tombstones an unseen id (its submit is refused `cancelled`) and refuses
//! an accepted one (`on_wire`); and the books balance.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use ::actors::control::{client_request, ControlRequest, ControlSettings, Credentials};
use common::agent_client::AgentClient;
use engine::agent::{AgentId, OnSilence};
use engine_app::config::TradeLedger;
use engine_app::config_agents::AgentConfig;
use engine_app::main_job::{self, JobOptions};
use protocol::Symbol;
use rusqlite::Connection;
use serde_json::{json, Value};

const TOKEN: &str = "e2e-liveness-token-0b7e41c2aa";
const STOPS: &str = "quiet-stop";
const FLATTENS: &str = "quiet-flat";

fn entry(agent: &str, id: &str, symbol: &str, qty: &str, time_limit: u64) -> Value {
    json!({
        "type": "submit_intent", "intent_id": id, "agent_id": agent, "token": TOKEN,
        "symbol": symbol, "action": "enter_long", "qty": qty, "tp_pct": "5", "sl_pct": "5",
        "time_in_trade_limit_sec": time_limit, "thesis": "e2e: then I go quiet",
    })
}

/// Sends entries under fresh ids until one is accepted (the symbol trades once it has
/// reconciled and its feed is fresh); returns its answer.
fn enter_when_ready(client: &AgentClient, agent: &str, symbol: &str, qty: &str, time_limit: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(6);
    for attempt in 1.. {
        let answer = client.ask(&entry(agent, &format!("{agent}-enter-{attempt}"), symbol, qty, time_limit));
        if answer["status"] == "accepted" {
            return answer;
        }
        let transient = ["symbol_not_trading", "feed_stale", "feed_gap", "venue_reconciling", "gateway_down"];
        assert!(transient.contains(&answer["reason"].as_str().unwrap_or("")), "{answer}");
        assert!(Instant::now() < deadline, "never accepted: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    unreachable!()
}

fn agents_status(control: &str) -> Vec<Value> {
    let credentials = Credentials { token: None, who: Some("e2e".into()) };
    let reply = client_request(control, &ControlRequest::Status, &credentials, Duration::from_secs(2)).unwrap();
    assert!(reply.ok, "{reply:?}");
    reply.agents.expect("status lists the agents")
}

fn liveness_of(agents: &[Value], agent: &str) -> String {
    let line = agents.iter().find(|a| a["agent_id"] == agent).unwrap_or_else(|| panic!("{agent} in {agents:?}"));
    line["liveness"].as_str().unwrap().to_string()
}

#[test]
fn a_silent_agents_positions_keep_their_exits_or_are_flattened() {
    let (dir, token_file) = common::agent_dir("e2e-liveness", TOKEN);
    let db = dir.join("trades.sqlite");
    let endpoint = format!("tcp://127.0.0.1:{}", common::free_port());
    let control = format!("tcp://127.0.0.1:{}", common::free_port());

    let (btc, eth) = (Symbol::new("BTCUSD.s").unwrap(), Symbol::new("ETHUSD.s").unwrap());
    let mut config = common::fast_config(&common::names(&["BTCUSD.s", "ETHUSD.s"]));
    config.trade_ledger = TradeLedger::At(db.clone());
    config.control = Some(ControlSettings::without_token(control.clone()));
    config.agents.endpoint = Some(endpoint.clone());
    let agent = |id: &str, symbol: Symbol, on_silence: OnSilence| AgentConfig {
        max_intents_per_sec: 50,
        heartbeat_timeout: Duration::from_millis(400),
        on_silence,
        ..AgentConfig::new(AgentId::new(id).unwrap(), Some(token_file.clone()), vec![symbol])
    };
    config.agents.agents = vec![agent(STOPS, eth, OnSilence::StopEntries), agent(FLATTENS, btc, OnSilence::Flatten)];
    let engine = std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(10)))).expect("job runs")
    });
    let client = AgentClient::connect(&endpoint);

    // Before its first request an agent is silent (never seen).
    std::thread::sleep(Duration::from_millis(300));
    let before = agents_status(&control);
    assert_eq!(liveness_of(&before, STOPS), "silent", "{before:?}");

    // A time limit of 2 s for the stop_entries agent; 60 s for the flatten agent (the
    // flatten must come first).
    let eth_entry = enter_when_ready(&client, STOPS, "ETHUSD.s", "0.03", 2);
    let entered_at = Instant::now();
    let btc_entry = enter_when_ready(&client, FLATTENS, "BTCUSD.s", "0.001", 60);
    // A heartbeat: alive.
    let beat = client.ask(&json!({"type": "heartbeat", "agent_id": STOPS, "token": TOKEN}));
    assert_eq!((beat["type"].as_str(), beat["liveness"].as_str()), (Some("heartbeat_answer"), Some("alive")), "{beat}");
    assert!(beat["server_time_ns"].as_u64().is_some_and(|t| t > 0), "{beat}");
    let alive = agents_status(&control);
    assert_eq!((liveness_of(&alive, STOPS), liveness_of(&alive, FLATTENS)), ("alive".into(), "alive".into()));

    // cancel_intent: an unseen id is tombstoned and its submit refused; an accepted one is on the wire.
    let cancel =
        |id: &str| client.ask(&json!({"type": "cancel_intent", "agent_id": STOPS, "token": TOKEN, "intent_id": id}));
    let cancelled = cancel("never-sent-1");
    assert_eq!((cancelled["type"].as_str(), cancelled["status"].as_str()), (Some("cancel_answer"), Some("cancelled")));
    let late = client.ask(&entry(STOPS, "never-sent-1", "ETHUSD.s", "0.03", 2));
    assert_eq!((late["status"].as_str(), late["reason"].as_str()), (Some("refused"), Some("cancelled")), "{late}");
    let eth_id = eth_entry["intent_id"].as_str().unwrap();
    let on_wire = cancel(eth_id);
    assert_eq!(on_wire["reason"], "on_wire", "{on_wire}");
    assert_eq!(on_wire["order_intent_id"], eth_entry["order_intent_id"]);
    // An unknown request type is malformed, naming it.
    let odd = client.ask(&json!({"type": "dance", "agent_id": STOPS, "token": TOKEN}));
    assert_eq!(odd["reason"], "malformed", "{odd}");
    assert!(odd["detail"].as_str().unwrap_or("").contains("dance"), "{odd}");

    // Now both agents go quiet: silent within the timeout and a timer beat.
    std::thread::sleep(Duration::from_millis(800));
    let quiet = agents_status(&control);
    assert_eq!((liveness_of(&quiet, STOPS), liveness_of(&quiet, FLATTENS)), ("silent".into(), "silent".into()));
    let age = quiet.iter().find(|a| a["agent_id"] == STOPS).unwrap()["last_seen_age_ms"].as_u64().unwrap();
    assert!(age >= 400, "last seen {age} ms ago: {quiet:?}");

    // The time limit (2 s) of the stop_entries agent's position fires on its own (on a
    // timer beat, about once a second).
    std::thread::sleep((entered_at + Duration::from_millis(3_600)).saturating_duration_since(Instant::now()));
    // Back alive on a heartbeat.
    let beat = client.ask(&json!({"type": "heartbeat", "agent_id": FLATTENS, "token": TOKEN}));
    assert_eq!(beat["liveness"], "alive");
    assert_eq!(liveness_of(&agents_status(&control), FLATTENS), "alive");

    let summary = engine.join().expect("engine thread");
    common::assert_books_balance(&summary);
    assert_eq!(summary.efsm_errors, 0);
    let status = |s: Symbol| summary.symbols.iter().find(|r| r.status.symbol == s).unwrap().status;
    for s in [eth, btc] {
        assert_eq!(status(s).counters.orders, 2, "{s}: exactly one entry and one exit");
        assert_eq!(status(s).position, None, "{s}");
    }
    let conn = Connection::open(&db).unwrap();
    let rows: Vec<(String, String, Option<String>, i64)> = conn
        .prepare("SELECT symbol, exit_reason, decided_by_name, entry_intent FROM trades ORDER BY symbol")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let btc_row = &rows[0];
    let eth_row = &rows[1];
    assert_eq!((btc_row.0.as_str(), btc_row.1.as_str()), ("BTCUSD.s", "flatten"), "{rows:?}");
    assert_eq!(btc_row.3 as u64, btc_entry["order_intent_id"].as_u64().unwrap());
    assert_eq!((eth_row.0.as_str(), eth_row.1.as_str()), ("ETHUSD.s", "time_limit"), "{rows:?}");
    assert_eq!(eth_row.2.as_deref(), Some(STOPS));
    let _ = std::fs::remove_dir_all(&dir);
}

//! Decision agents end to end, over real ZeroMQ on 127.0.0.1 against the embedded paper
//! gateway: an agent drives ETHUSD.s through the intent endpoint while the built-in z-score
//! strategy drives BTCUSD.s in the same run. An accepted entry is exactly one order and a
//! fill; a retry of its id gets the same answer and no second order; the agent's exit
//! closes the trade (reason `agent`, decided by the agent) in the trade ledger, which keeps
//! the entry's thesis exactly as sent (and `engine trades` shows it); a wrong
//! token, an unknown agent, a strategy's symbol, an out-of-range field, an expired intent,
//! an opposite entry and an id reused with another body are each refused with their code;
//! and the books balance.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::agent_client::AgentClient;
use engine::agent::AgentId;
use engine_app::config::TradeLedger;
use engine_app::config_agents::AgentConfig;
use engine_app::main_job::{self, JobOptions};
use protocol::Symbol;
use rusqlite::Connection;
use serde_json::{json, Value};

const TOKEN: &str = "e2e-agent-token-7c1d9e0b55";
const AGENT: &str = "e2e-agent";
/// Quotes, a comma, a newline and non-ASCII: stored and shown exactly as sent.
const THESIS: &str = "e2e: buy the dip, sell the \"rip\"\nsecond line ✓";

fn intent(id: &str, symbol: &str, action: &str) -> Value {
    json!({
        "type": "submit_intent", "intent_id": id, "agent_id": AGENT, "token": TOKEN,
        "symbol": symbol, "action": action,
    })
}

fn entry(id: &str, symbol: &str, action: &str) -> Value {
    let mut frame = intent(id, symbol, action);
    let extra = json!({"qty": "0.03", "tp_pct": "5", "sl_pct": "5", "time_in_trade_limit_sec": 30,
                       "cooldown_sec": 0, "thesis": THESIS});
    frame.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    frame
}

fn refused_with(answer: &Value, code: &str) {
    assert_eq!(answer["status"], "refused", "{answer}");
    assert_eq!(answer["reason"], code, "{answer}");
}

#[test]
fn an_agent_drives_one_symbol_beside_a_strategy() {
    let (dir, token_file) = common::agent_dir("e2e-agents", TOKEN);
    let db = dir.join("trades.sqlite");
    let endpoint = format!("tcp://127.0.0.1:{}", common::free_port());

    let (btc, eth) = (Symbol::new("BTCUSD.s").unwrap(), Symbol::new("ETHUSD.s").unwrap());
    let mut config = common::fast_config(&common::names(&["BTCUSD.s", "ETHUSD.s"]));
    config.trade_ledger = TradeLedger::At(db.clone());
    config.agents.endpoint = Some(endpoint.clone());
    config.agents.stream = Some(format!("tcp://127.0.0.1:{}", common::free_port()));
    config.agents.agents = vec![AgentConfig {
        max_intents_per_sec: 50,
        ..AgentConfig::new(AgentId::new(AGENT).unwrap(), Some(token_file), vec![eth])
    }];
    let engine = std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(9)))).expect("job runs")
    });
    let client = AgentClient::connect(&endpoint);

    // The symbol takes entries once it has reconciled and its feed is fresh: until then a
    // transient refusal, each under a fresh id (a refused decision stays refused).
    let deadline = Instant::now() + Duration::from_secs(6);
    let mut attempt = 0;
    let (entry_id, accepted) = loop {
        attempt += 1;
        let id = format!("enter-{attempt}");
        let answer = client.ask(&entry(&id, "ETHUSD.s", "enter_long"));
        if answer["status"] == "accepted" {
            break (id, answer);
        }
        let transient = ["symbol_not_trading", "feed_stale", "feed_gap", "venue_reconciling", "gateway_down"];
        assert!(transient.contains(&answer["reason"].as_str().unwrap_or("")), "{answer}");
        assert!(Instant::now() < deadline, "never accepted: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let order = accepted["order_intent_id"].as_u64().expect("the order's intent id");
    assert_eq!(accepted["intent_id"], entry_id.as_str());

    // A retry of the same id with the same body: the original answer, no second order.
    let again = client.ask(&entry(&entry_id, "ETHUSD.s", "enter_long"));
    assert_eq!(again, accepted);
    // The same id with another body.
    let mut changed = entry(&entry_id, "ETHUSD.s", "enter_long");
    changed["qty"] = json!("0.06");
    refused_with(&client.ask(&changed), "duplicate_mismatch");

    // Refusals, each with its code (and the field, for a validation error).
    let mut wrong_token = entry("w-1", "ETHUSD.s", "enter_long");
    wrong_token["token"] = json!("not-the-agents-token-000");
    refused_with(&client.ask(&wrong_token), "bad_token");
    let mut stranger = entry("s-1", "ETHUSD.s", "enter_long");
    stranger["agent_id"] = json!("someone-else");
    refused_with(&client.ask(&stranger), "unknown_agent");
    refused_with(&client.ask(&entry("b-1", "BTCUSD.s", "enter_long")), "not_authority");
    refused_with(&client.ask(&entry("u-1", "DOGEUSD.s", "enter_long")), "symbol_unknown");
    let mut wide = entry("f-1", "ETHUSD.s", "enter_long");
    wide["tp_pct"] = json!("90");
    let answer = client.ask(&wide);
    refused_with(&answer, "invalid_field");
    assert_eq!(answer["field"], "tp_pct", "{answer}");
    let mut late = entry("x-1", "ETHUSD.s", "enter_long");
    late["valid_until_ns"] = json!(1);
    refused_with(&client.ask(&late), "expired");
    // Once the entry has filled: an opposite entry is refused (one-way positions).
    std::thread::sleep(Duration::from_millis(500));
    refused_with(&client.ask(&entry("o-1", "ETHUSD.s", "enter_short")), "position_open_opposite");

    // The agent's exit: one order; its retry gets the same answer and no second order.
    let exit = client.ask(&intent("exit-1", "ETHUSD.s", "exit"));
    assert_eq!(exit["status"], "accepted", "{exit}");
    assert_ne!(exit["order_intent_id"].as_u64(), Some(order));
    assert_eq!(client.ask(&intent("exit-1", "ETHUSD.s", "exit")), exit);
    std::thread::sleep(Duration::from_millis(500));
    refused_with(&client.ask(&intent("exit-2", "ETHUSD.s", "exit")), "no_position");

    // An entry sized as a fraction of equity: the answer shows the qty the core computed,
    // which is the order's (checked in the ledger below); then its exit.
    let mut sized = entry("sized-1", "ETHUSD.s", "enter_long");
    let body = sized.as_object_mut().unwrap();
    body.remove("qty");
    body.insert("equity_fraction".into(), json!("0.0001"));
    let sized = client.ask(&sized);
    assert_eq!(sized["status"], "accepted", "{sized}");
    let sized_order = sized["order_intent_id"].as_u64().unwrap();
    let sized_qty: protocol::Qty = sized["qty"].as_str().expect("the computed qty").parse().unwrap();
    assert!(!sized_qty.is_zero());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(client.ask(&intent("exit-3", "ETHUSD.s", "exit"))["status"], "accepted");
    std::thread::sleep(Duration::from_millis(500));

    let summary = engine.join().expect("engine thread");
    common::assert_books_balance(&summary);
    let ledger = summary.ledger.as_ref().expect("a trade ledger");
    assert!(ledger.complete(), "every row (the agent's intents too) written: {ledger:?}");
    assert_eq!(summary.efsm_errors, 0);
    let status = |s: Symbol| summary.symbols.iter().find(|r| r.status.symbol == s).unwrap().status;
    let (eth_status, btc_status) = (status(eth), status(btc));
    assert_eq!(eth_status.counters.orders, 4, "exactly the agent's two entries and their exits");
    assert_eq!(eth_status.counters.trades, 2);
    assert_eq!(eth_status.position, None);
    assert!(btc_status.counters.orders > 0, "the strategy drove BTCUSD.s in the same run");

    // The trade ledger: who decided and why it closed.
    let conn = Connection::open(&db).unwrap();
    let rows: Vec<(String, String, Option<String>, String, i64)> = conn
        .prepare(
            "SELECT symbol, decided_by, decided_by_name, exit_reason, entry_intent FROM trades ORDER BY symbol, entry_ns",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let agent_rows: Vec<_> = rows.iter().filter(|r| r.0 == "ETHUSD.s").collect();
    assert_eq!(agent_rows.len(), 2, "{rows:?}");
    let (_, by, name, reason, entry_intent) = agent_rows[0];
    assert_eq!((by.as_str(), name.as_deref(), reason.as_str()), ("agent", Some(AGENT), "agent"));
    assert_eq!(*entry_intent as u64, order, "the trade's entry is the accepted intent's order");
    let eth_orders: i64 =
        conn.query_row("SELECT count(*) FROM orders WHERE symbol = 'ETHUSD.s'", [], |r| r.get(0)).unwrap();
    assert_eq!(eth_orders, 4, "one row per order: the entries and the exits");
    // The fraction entry's order has the computed qty; at its fill price it is about 0.01 %
    // of the equity (1,000,000 give or take the run's realized PnL).
    let (qty_raw, price_raw): (i64, i64) = conn
        .query_row(
            "SELECT o.qty_raw, f.price_raw FROM orders o JOIN fills f ON f.intent_id = o.intent_id \
             WHERE o.intent_id = ?1",
            [sized_order as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(qty_raw, sized_qty.raw(), "the order's qty is the answer's");
    let notional = i128::from(qty_raw) * i128::from(price_raw) / i128::from(protocol::fixed::SCALE);
    let wanted = 100 * i128::from(protocol::fixed::SCALE);
    assert!((notional - wanted).abs() * 100 < wanted, "notional {notional} vs {wanted}");
    assert!(
        rows.iter().filter(|r| r.0 == "BTCUSD.s").all(|r| r.1 == "strategy" && r.2.as_deref() == Some("zscore")),
        "{rows:?}"
    );

    // The accepted intents with their thesis (the exit had none), and the trade's thesis.
    let intents: Vec<(i64, String, String, String, Option<String>)> = conn
        .prepare("SELECT order_intent_id, agent_id, client_intent_id, action, thesis FROM agent_intents ORDER BY accepted_ns")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(intents.len(), 4, "the accepted entries and exits, once each (retries add none): {intents:?}");
    assert_eq!(intents[0], (order as i64, AGENT.into(), entry_id.clone(), "enter_long".into(), Some(THESIS.into())));
    let exit_order = exit["order_intent_id"].as_u64().unwrap() as i64;
    assert_eq!(intents[1], (exit_order, AGENT.into(), "exit-1".into(), "exit".into(), None));
    assert_eq!((intents[2].2.as_str(), intents[2].3.as_str()), ("sized-1", "enter_long"), "{intents:?}");
    assert_eq!((intents[3].3.as_str(), intents[3].4.as_deref()), ("exit", None), "{intents:?}");
    let thesis: Option<String> = conn
        .query_row(
            "SELECT a.thesis FROM trades t JOIN agent_intents a ON a.run = t.run AND a.order_intent_id = t.entry_intent
             WHERE t.symbol = 'ETHUSD.s' AND t.entry_intent = ?1",
            [order as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(thesis.as_deref(), Some(THESIS));
    drop(conn);

    // `engine trades --db <file> --format json`: the trade carries the thesis.
    let request = engine_app::trades::TradesRequest {
        db: Some(db.clone()),
        run: None,
        from: None,
        to: None,
        format: trade_ledger::export::Format::Json,
        log_dir: dir.clone(),
        ledger: TradeLedger::Off,
    };
    let out = engine_app::trades::trades(&request).unwrap();
    assert!(!out.differs, "{}", out.text);
    let json: Value = serde_json::from_str(&out.text).unwrap();
    let trades = json["trades"].as_array().unwrap();
    let eth_trade = trades.iter().find(|t| t["symbol"] == "ETHUSD.s").unwrap();
    assert_eq!(eth_trade["thesis"], THESIS, "{eth_trade}");
    assert!(eth_trade["exit_thesis"].is_null(), "{eth_trade}");
    assert!(
        trades.iter().filter(|t| t["symbol"] == "BTCUSD.s").all(|t| t["thesis"].is_null()),
        "a strategy's trade has none"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

//! The execution stream end to end, over real ZeroMQ on 127.0.0.1 against the embedded paper
//! gateway: an agent drives ETHUSD.s and XAUUSD.s while the built-in strategy drives
//! BTCUSD.s in the same run. A subscriber sees every accepted intent become exactly one
//! `order_sent`, its fills, and exactly one `position_closed` with its reason (the agent's
//! exit on ETHUSD.s, the time limit on XAUUSD.s); the strategy's symbol publishes nothing;
//! the sum of `realized` (and `fees`) over the closes of each symbol equals the engine's
//! books exactly. A subscriber that connects late resumes through `replay` without a gap;
//! `query_intent` tells one intent's story; `snapshot` shows every symbol's authority; and
//! once more events than `stream_buffer` have passed, a replay from the start is `too_old`.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::agent_client::AgentClient;
use engine::agent::AgentId;
use engine_app::config_agents::AgentConfig;
use engine_app::main_job::{self, JobOptions};
use protocol::{Money, Qty, Symbol};
use serde_json::{json, Value};

const TOKEN: &str = "e2e-stream-token-4f2a9c61d0";
const AGENT: &str = "e2e-streamer";
const ETH: &str = "ETHUSD.s";
const XAU: &str = "XAUUSD.s";

/// A SUB to every topic, read on its own thread: events in arrival order.
struct Subscriber {
    events: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Subscriber {
    fn connect(endpoint: &str) -> Subscriber {
        let ctx = zmq::Context::new();
        let sub = ctx.socket(zmq::SUB).unwrap();
        sub.set_rcvhwm(0).unwrap();
        sub.set_linger(0).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.connect(endpoint).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (sink, flag) = (Arc::clone(&events), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let _ctx = ctx;
            while !flag.load(Ordering::Acquire) {
                if sub.poll(zmq::POLLIN, 50).unwrap_or(0) == 0 {
                    continue;
                }
                let frames = sub.recv_multipart(0).unwrap();
                assert_eq!(frames.len(), 2, "topic and body");
                let event: Value = serde_json::from_slice(&frames[1]).unwrap();
                let topic = String::from_utf8(frames[0].clone()).unwrap();
                let expected = event["symbol"]
                    .as_str()
                    .map_or_else(|| format!("agent.{}", event["agent_id"].as_str().unwrap()), str::to_string);
                assert_eq!(topic, expected, "the topic frame names the event's symbol or agent: {event}");
                sink.lock().unwrap().push(event);
            }
        });
        Subscriber { events, stop, thread: Some(thread) }
    }

    fn seen(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    fn stop(mut self) -> Vec<Value> {
        self.stop.store(true, Ordering::Release);
        self.thread.take().unwrap().join().unwrap();
        self.seen()
    }
}

fn ask(client: &AgentClient, mut frame: Value) -> Value {
    frame["agent_id"] = json!(AGENT);
    frame["token"] = json!(TOKEN);
    client.ask(&frame)
}

/// Every event from after `after` to the newest, by `replay` pages.
fn replay_all(client: &AgentClient, mut after: u64) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let answer = ask(client, json!({"type": "replay", "after_seq": after, "max": 100}));
        assert_eq!(answer["status"], "ok", "{answer}");
        events.extend(answer["events"].as_array().unwrap().iter().cloned());
        after = answer["next_seq"].as_u64().unwrap() - 1;
        if answer["more"] == false {
            return events;
        }
    }
}

/// Live events merged with a replay from the start, by seq: must be 1..=N without a gap,
/// and each topic's `topic_seq` 1..=n without a gap.
fn gap_free(live: &[Value], replayed: &[Value]) -> Vec<Value> {
    let mut by_seq: BTreeMap<u64, Value> = BTreeMap::new();
    for e in replayed.iter().chain(live) {
        let seq = e["seq"].as_u64().unwrap();
        if let Some(before) = by_seq.insert(seq, e.clone()) {
            assert_eq!(&before, e, "one seq, one event");
        }
    }
    let all: Vec<Value> = by_seq.into_values().collect();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1), "contiguous seq: {e}");
    }
    let mut topic_seqs: HashMap<String, u64> = HashMap::new();
    for e in &all {
        let topic =
            e["symbol"].as_str().map_or_else(|| format!("agent.{}", e["agent_id"].as_str().unwrap()), str::to_string);
        let n = topic_seqs.entry(topic).or_insert(0);
        *n += 1;
        assert_eq!(e["topic_seq"].as_u64(), Some(*n), "contiguous topic_seq: {e}");
    }
    all
}

fn of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

fn entry(id: &str, symbol: &str, action: &str, extra: Value) -> Value {
    let mut frame = json!({"type": "submit_intent", "intent_id": id, "symbol": symbol, "action": action,
                           "qty": if symbol == ETH { "0.03" } else { "0.04" }, "tp_pct": "5", "sl_pct": "5"});
    frame.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    frame
}

/// Enters until accepted (the symbol first reconciles and its feed gets fresh), each try
/// under a fresh id; returns the accepted id and answer.
fn enter(client: &AgentClient, tag: &str, symbol: &str, action: &str, extra: Value) -> (String, Value) {
    let deadline = Instant::now() + Duration::from_secs(6);
    for attempt in 1.. {
        let id = format!("{tag}-{attempt}");
        let answer = ask(client, entry(&id, symbol, action, extra.clone()));
        if answer["status"] == "accepted" {
            return (id, answer);
        }
        let transient = ["symbol_not_trading", "feed_stale", "feed_gap", "venue_reconciling", "gateway_down"];
        assert!(transient.contains(&answer["reason"].as_str().unwrap_or("")), "{answer}");
        assert!(Instant::now() < deadline, "never accepted: {answer}");
        std::thread::sleep(Duration::from_millis(100));
    }
    unreachable!()
}

/// Waits until `events()` holds an event matching `what`.
fn wait_for(sub: &Subscriber, what: impl Fn(&Value) -> bool, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !sub.seen().iter().any(&what) {
        assert!(Instant::now() < deadline, "no {label} on the stream");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn money(v: &Value) -> Money {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn the_stream_tells_every_intent_and_trade_and_replays_without_a_gap() {
    let (dir, token_file) = common::agent_dir("e2e-agent-stream", TOKEN);
    let endpoint = format!("tcp://127.0.0.1:{}", common::free_port());
    let stream = format!("tcp://127.0.0.1:{}", common::free_port());

    let mut config = common::fast_config(&common::names(&["BTCUSD.s", ETH, XAU]));
    config.agents.endpoint = Some(endpoint.clone());
    config.agents.stream = Some(stream.clone());
    config.agents.stream_buffer = 1_024;
    config.agents.agents = vec![AgentConfig {
        id: AgentId::new(AGENT).unwrap(),
        token_file: Some(token_file),
        token: None,
        symbols: vec![Symbol::new(ETH).unwrap(), Symbol::new(XAU).unwrap()],
        max_intents_per_sec: 10_000,
        heartbeat_timeout: Duration::from_secs(60),
        on_silence: engine::agent::OnSilence::StopEntries,
    }];
    let engine = std::thread::spawn(move || {
        main_job::run(JobOptions::new(config, Some(Duration::from_secs(14)))).expect("job runs")
    });
    let live = Subscriber::connect(&stream);
    let client = AgentClient::connect(&endpoint);
    std::thread::sleep(Duration::from_millis(300));

    // Stream requests are authenticated and checked like intents.
    let mut wrong = json!({"type": "snapshot", "agent_id": AGENT, "token": "not-the-token-0123456789"});
    assert_eq!(client.ask(&wrong)["reason"], "bad_token");
    wrong["agent_id"] = json!("nobody");
    assert_eq!(client.ask(&wrong)["reason"], "unknown_agent");
    let extra = ask(&client, json!({"type": "snapshot", "colour": 1}));
    assert_eq!((extra["reason"].as_str(), extra["field"].as_str()), (Some("invalid_field"), Some("colour")));
    let bad_max = ask(&client, json!({"type": "replay", "after_seq": 0, "max": 0}));
    assert_eq!((bad_max["reason"].as_str(), bad_max["field"].as_str()), (Some("invalid_field"), Some("max")));

    // ETHUSD.s: a long the agent exits. XAUUSD.s: a short its time limit closes.
    let (eth_entry, eth_answer) = enter(&client, "eth", ETH, "enter_long", json!({}));
    let (xau_entry, xau_answer) = enter(&client, "xau", XAU, "enter_short", json!({"time_in_trade_limit_sec": 1}));
    let eth_order = eth_answer["order_intent_id"].as_u64().unwrap();
    wait_for(&live, |e| e["event"] == "position_opened" && e["intent_id"] == eth_entry.as_str(), "ETH position_opened");
    let exit = ask(&client, json!({"type": "submit_intent", "intent_id": "eth-exit", "symbol": ETH, "action": "exit"}));
    assert_eq!(exit["status"], "accepted", "{exit}");
    // A refusal decided before the symbol: on the agent's topic.
    let unknown = ask(&client, entry("doge-1", "DOGEUSD.s", "enter_long", json!({})));
    assert_eq!(unknown["reason"], "symbol_unknown");
    wait_for(&live, |e| e["event"] == "position_closed" && e["exit_intent_id"] == "eth-exit", "ETH close");
    wait_for(&live, |e| e["event"] == "position_closed" && e["entry_intent_id"] == xau_entry.as_str(), "XAU close");
    wait_for(&live, |e| e["event"] == "intent_refused" && e["intent_id"] == "doge-1", "the agent-topic refusal");

    // A subscriber that connects now missed the start: it resumes by replay, gap-free.
    let late = Subscriber::connect(&stream);
    std::thread::sleep(Duration::from_millis(300));
    let second = enter(&client, "eth2", ETH, "enter_long", json!({"time_in_trade_limit_sec": 1}));
    wait_for(&late, |e| e["event"] == "position_closed" && e["entry_intent_id"] == second.0.as_str(), "the late close");
    let late_live = late.stop();
    assert!(late_live.first().and_then(|e| e["seq"].as_u64()).unwrap() > 1, "the late subscriber missed the start");
    let resumed = gap_free(&late_live, &replay_all(&client, 0));

    // One intent's story.
    let story = ask(&client, json!({"type": "query_intent", "intent_id": eth_entry}));
    assert_eq!(story["status"], "found", "{story}");
    assert_eq!(story["answer"], eth_answer);
    let kinds: Vec<&str> = story["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"intent_accepted"), "{kinds:?}");
    assert_eq!(kinds.get(1), Some(&"order_sent"), "{kinds:?}");
    assert!(kinds.contains(&"fill") && kinds.contains(&"position_opened"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"position_closed"), "{kinds:?}");
    let never = ask(&client, json!({"type": "query_intent", "intent_id": "never-sent"}));
    assert_eq!((never["status"].as_str(), never["events"].as_array().map(Vec::len)), (Some("unknown"), Some(0)));

    // The snapshot: every symbol, its authority, and the stream seq it covers.
    let snapshot = ask(&client, json!({"type": "snapshot"}));
    assert_eq!(snapshot["type"], "snapshot_answer", "{snapshot}");
    assert_eq!(snapshot["stream_id"], resumed[0]["stream_id"]);
    assert!(snapshot["seq"].as_u64().unwrap() >= resumed.len() as u64);
    let line = |s: &str| snapshot["symbols"].as_array().unwrap().iter().find(|l| l["symbol"] == s).cloned().unwrap();
    assert_eq!((line("BTCUSD.s")["authority"].as_str(), line("BTCUSD.s").get("agent_id")), (Some("strategy"), None));
    assert_eq!((line(ETH)["authority"].as_str(), line(ETH)["agent_id"].as_str()), (Some("agent"), Some(AGENT)));
    assert_eq!(line(ETH)["side"], "flat");

    // More events than the buffer keeps: a replay from the start is too old.
    for n in 0..1_100 {
        let answer = ask(
            &client,
            json!({"type": "submit_intent", "intent_id": format!("flat-{n}"), "symbol": XAU, "action": "exit"}),
        );
        assert_eq!(answer["reason"], "no_position", "{answer}");
    }
    let too_old = ask(&client, json!({"type": "replay", "after_seq": 0}));
    assert_eq!(too_old["status"], "too_old", "{too_old}");
    let oldest = too_old["oldest_seq"].as_u64().unwrap();
    assert!(oldest > 1);
    let from_oldest = ask(&client, json!({"type": "replay", "after_seq": oldest - 1, "max": 1}));
    assert_eq!((from_oldest["status"].as_str(), from_oldest["more"].as_bool()), (Some("ok"), Some(true)));
    assert_eq!(from_oldest["events"][0]["seq"].as_u64(), Some(oldest));
    wait_for(&live, |e| e["intent_id"] == "flat-1099", "the last refusal");

    let summary = engine.join().expect("engine thread");
    let events = gap_free(&live.stop(), &[]);
    common::assert_books_balance(&summary);
    assert!(events.iter().all(|e| e["symbol"] != "BTCUSD.s"), "the strategy's symbol publishes nothing");

    // Every accepted intent: accepted, then one order_sent with its id, then its fills.
    let accepted: Vec<&Value> = of(&events, "intent_accepted");
    assert_eq!(accepted.len(), 4, "three entries and one exit");
    for a in &accepted {
        let id = a["intent_id"].as_str().unwrap();
        let sent: Vec<&Value> = of(&events, "order_sent").into_iter().filter(|e| e["intent_id"] == id).collect();
        assert_eq!(sent.len(), 1, "one order for {id}");
        assert!(sent[0]["seq"].as_u64() > a["seq"].as_u64(), "accepted before sent");
        assert_eq!(sent[0]["order_intent_id"], a["order_intent_id"]);
        let fills: Vec<&Value> =
            of(&events, "fill").into_iter().filter(|f| f["order_intent_id"] == a["order_intent_id"]).collect();
        let filled = fills
            .iter()
            .try_fold(Qty::ZERO, |t, f| t.checked_add(f["qty"].as_str().unwrap().parse().unwrap()))
            .unwrap();
        assert_eq!(filled.to_string(), sent[0]["qty"].as_str().unwrap(), "{id} filled whole");
        assert_eq!(fills.last().unwrap()["partial"], false);
        assert!(fills.iter().all(|f| f["intent_id"] == id));
    }
    assert_eq!(accepted[0]["order_intent_id"].as_u64(), Some(eth_order));
    assert_eq!(xau_answer["status"], "accepted");

    // Exactly one close per trade, with its reason.
    let closes = of(&events, "position_closed");
    let reason_of = |entry_id: &str| {
        let found: Vec<&&Value> = closes.iter().filter(|c| c["entry_intent_id"] == entry_id).collect();
        assert_eq!(found.len(), 1, "one close for {entry_id}");
        found[0]["exit_reason"].as_str().unwrap().to_string()
    };
    assert_eq!(reason_of(&eth_entry), "agent");
    assert_eq!(reason_of(&xau_entry), "time_limit");
    assert_eq!(reason_of(&second.0), "time_limit");
    assert_eq!(closes.len(), 3);
    assert_eq!(of(&events, "order_sent").len(), 6, "three entries, three exits, nothing else");

    // The closes add up to the books exactly.
    for symbol in [ETH, XAU] {
        let status = summary.symbols.iter().find(|r| r.status.symbol.as_str() == symbol).unwrap().status;
        let mine: Vec<&&Value> = closes.iter().filter(|c| c["symbol"] == symbol).collect();
        let realized = Money::checked_sum(mine.iter().map(|c| money(&c["realized"]))).unwrap();
        let fees = Money::checked_sum(mine.iter().map(|c| money(&c["fees"]))).unwrap();
        assert_eq!((realized, fees), (status.realized, status.fees), "{symbol}");
        assert_eq!(status.position, None);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

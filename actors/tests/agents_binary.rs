//! The intent endpoint over real ZeroMQ on 127.0.0.1, in both codecs: the same intent sent
//! in binary and in JSON gets the same answer (a retry in the other codec is the same
//! decision, answered from memory with no second order), a field out of range and a wrong
//! token are refused alike in both, and a garbled binary frame gets a binary `malformed`
//! answer. The symbol is a stand-in that puts every decision it receives "on the wire".
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::actors::agents::binary::{decode_answer, encode_request, is_binary};
use ::actors::agents::endpoint;
use ::actors::agents::router::AgentRouter;
use ::actors::agents::{AgentSettings, AgentSpec};
use ::actors::control::ControlToken;
use ::actors::messages::{AgentIntent, IntentPlaced};
use actix::prelude::*;
use engine::agent::{AgentId, AgentRefusal};
use engine::intent::IntentLimits;
use protocol::{IntentId, Symbol};
use serde_json::{json, Map, Value};

const TOKEN: &str = "binary-agent-token-0123456789";

/// Stands in for the symbol's actor: every decision is an order, numbered from 1.
struct Symbol1(Arc<AtomicU64>);
impl Actor for Symbol1 {
    type Context = Context<Self>;
}
impl Handler<AgentIntent> for Symbol1 {
    type Result = Result<IntentPlaced, AgentRefusal>;
    fn handle(&mut self, _: AgentIntent, _: &mut Context<Self>) -> Self::Result {
        Ok(IntentPlaced { order: IntentId(self.0.fetch_add(1, Ordering::SeqCst) + 1), qty: None })
    }
}

fn entry(id: &str) -> Map<String, Value> {
    let v = json!({
        "type": "submit_intent", "intent_id": id, "agent_id": "a1", "token": TOKEN,
        "symbol": "ETHUSD.s", "action": "enter_long", "qty": "0.03", "tp_pct": "0.5", "sl_pct": "0.3",
        "time_in_trade_limit_sec": 300, "cooldown_sec": 30, "valid_until_ns": 4_000_000_000_000_000_000u64,
        "thesis": "z-score −2.4 on the 1-minute mid"
    });
    v.as_object().unwrap().clone()
}

struct Client {
    _ctx: zmq::Context,
    dealer: zmq::Socket,
}

impl Client {
    fn ask_bytes(&self, frame: &[u8]) -> Vec<u8> {
        self.dealer.send(frame, 0).unwrap();
        assert!(self.dealer.poll(zmq::POLLIN, 5_000).unwrap() > 0, "no answer within 5 s");
        self.dealer.recv_bytes(0).unwrap()
    }

    fn json(&self, request: &Map<String, Value>) -> Value {
        let answer = self.ask_bytes(Value::Object(request.clone()).to_string().as_bytes());
        assert!(!is_binary(&answer), "a JSON request is answered in JSON");
        serde_json::from_slice(&answer).unwrap()
    }

    fn binary(&self, request: &Map<String, Value>) -> Value {
        let answer = self.ask_bytes(&encode_request(request).unwrap());
        assert!(is_binary(&answer), "a binary request is answered in binary");
        decode_answer(&answer).unwrap()
    }
}

#[test]
fn the_same_intent_in_binary_and_in_json_gets_the_same_answer() {
    let eth = Symbol::new("ETHUSD.s").unwrap();
    let agent = AgentId::new("a1").unwrap();
    let spec = AgentSpec {
        id: agent,
        token: ControlToken::new(TOKEN).unwrap(),
        symbols: vec![eth],
        max_intents_per_sec: 100,
        heartbeat_timeout: Duration::from_secs(60),
        on_silence: engine::agent::OnSilence::StopEntries,
    };
    let settings = AgentSettings { bind: None, agents: vec![spec.clone()], ..AgentSettings::default() };
    let ctx = zmq::Context::new();
    let bound = endpoint::bind(&ctx, "tcp://127.0.0.1:*", &settings).unwrap();
    let address = bound.endpoint().to_string();
    let orders = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&orders);
    let (tx, rx) = crossbeam_channel::bounded(1);
    let thread = std::thread::spawn(move || {
        let system = actix_rt::System::new();
        let router = system.block_on(async move {
            let symbol = Symbol1(counted).start();
            let names = HashMap::from([(eth.to_string(), eth)]);
            let routes = HashMap::from([(eth, symbol.recipient())]);
            AgentRouter::new(&[spec], names, routes, IntentLimits::default()).start()
        });
        let _ = tx.send((router, System::current()));
        let _ = system.run();
    });
    let (router, system) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let stream = ::actors::agents::requests::StreamRequests {
        stream_id: "0000000000000001".into(),
        ring: None,
        board: ::actors::status::StatusBoard::default(),
        owner: HashMap::from([(eth, agent)]),
        router: router.clone().recipient(),
    };
    let mut served = bound.serve(::actors::agents::endpoint::EndpointRoutes::to(&router, stream)).unwrap();
    let client_ctx = zmq::Context::new();
    let dealer = client_ctx.socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.connect(&address).unwrap();
    let client = Client { _ctx: client_ctx, dealer };

    // Binary first, then the same intent in JSON: one decision, one order, one answer.
    let first = client.binary(&entry("b-1"));
    assert_eq!(first, json!({"type": "intent_answer", "intent_id": "b-1", "status": "accepted", "order_intent_id": 1}));
    assert_eq!(client.json(&entry("b-1")), first, "the JSON retry is the same decision");
    // JSON first, then binary.
    let second = client.json(&entry("j-1"));
    assert_eq!(second["order_intent_id"], 2);
    assert_eq!(client.binary(&entry("j-1")), second);
    assert_eq!(orders.load(Ordering::SeqCst), 2, "no retry reached the symbol");

    // Refusals are the same in both codecs (but for the id).
    let mut wide = entry("f-b");
    wide.insert("tp_pct".into(), json!("90"));
    let binary = client.binary(&wide);
    wide.insert("intent_id".into(), json!("f-j"));
    let mut in_json = client.json(&wide);
    assert_eq!((binary["reason"].as_str(), binary["field"].as_str()), (Some("invalid_field"), Some("tp_pct")));
    in_json["intent_id"] = json!("f-b");
    assert_eq!(binary, in_json);
    let mut stranger = entry("t-1");
    stranger.insert("token".into(), json!("not-the-agents-token-0000"));
    assert_eq!(client.binary(&stranger), client.json(&stranger));
    assert_eq!(client.binary(&stranger)["reason"], "bad_token");
    // A changed body under a used id, across codecs.
    let mut changed = entry("b-1");
    changed.insert("qty".into(), json!("0.06"));
    assert_eq!(client.binary(&changed)["reason"], "duplicate_mismatch");

    // A garbled binary frame: a binary `malformed` answer naming what was wrong.
    let frame = encode_request(&entry("g-1")).unwrap();
    let answer = decode_answer(&client.ask_bytes(&frame[..frame.len() - 4])).unwrap();
    assert_eq!((answer["reason"].as_str(), answer["intent_id"].as_str()), (Some("malformed"), Some("g-1")));
    assert!(answer["detail"].as_str().unwrap().starts_with("binary frame: truncated: "), "{answer}");
    assert_eq!(orders.load(Ordering::SeqCst), 2);

    served.stop();
    system.stop();
    thread.join().unwrap();
}

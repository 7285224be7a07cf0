//! Malformed frames: the gateway answers them with a session reject and keeps serving; the
//! engine counts undecodable frames from a gateway and keeps running.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use ::actors::system::{self};
use common::*;
use engine::registry::{default_model, default_order_qty, SymbolSpec};
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::strategy::hold::Hold;
use engine::strategy::Strategy;
use paper_gateway::server;
use protocol::*;

fn recv(socket: &zmq::Socket, ms: i64) -> Option<Envelope> {
    if socket.poll(zmq::POLLIN, ms).ok()? == 0 {
        return None;
    }
    let frame = socket.recv_multipart(0).ok()?.pop()?;
    Codec::detect(&frame).decode(&frame).ok()
}

fn next_non_heartbeat(socket: &zmq::Socket) -> Envelope {
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        if let Some(env) = recv(socket, 200) {
            if !matches!(env.body, Message::Heartbeat(_)) {
                return env;
            }
        }
    }
    panic!("no reply from the gateway");
}

#[test]
fn gateway_rejects_malformed_frames_and_keeps_serving() {
    let config = fast_config(&names(&["BTCUSD.s"]));
    let model = default_model(Symbol::new("BTCUSD.s").unwrap());
    let gateway = server::start(engine_app::main_job::embedded_gateway_config(&config, vec![model], None)).unwrap();
    let ctx = zmq::Context::new();
    let dealer = ctx.socket(zmq::DEALER).unwrap();
    dealer.set_identity(b"raw-client").unwrap();
    dealer.connect(&gateway.orders_endpoint).unwrap();
    let sub = ctx.socket(zmq::SUB).unwrap();
    sub.set_subscribe(b"BTCUSD.s").unwrap();
    sub.connect(&gateway.market_data_endpoint).unwrap();
    assert!(recv(&sub, 3_000).is_some(), "a tick arrives");

    let valid = |seq: u64, body: Message, codec: Codec| {
        codec.encode(&Envelope::new(protocol::SessionId(1), seq, 0, 0, body)).unwrap()
    };
    let heartbeat =
        Message::Heartbeat(Heartbeat { session_id: protocol::SessionId(1), last_seq_sent: 0, last_seq_received: 0 });
    let mut wrong_version = valid(1, heartbeat.clone(), Codec::Bincode);
    wrong_version[0] = 9;
    let truncated = valid(2, heartbeat.clone(), Codec::Bincode)[..20].to_vec();
    let bad: Vec<(Vec<u8>, RejectCode)> = vec![
        (b"\x01\x02garbage".to_vec(), RejectCode::MalformedFrame),
        (truncated, RejectCode::MalformedFrame),
        (wrong_version, RejectCode::UnsupportedVersion),
        (
            b"{\"v\":1,\"type\":\"nuke\",\"session_id\":1,\"seq\":1,\"ack_seq\":0,\"ts_ns\":0,\"body\":{}}".to_vec(),
            RejectCode::MalformedFrame,
        ),
        (b"{not json".to_vec(), RejectCode::MalformedFrame),
    ];
    for (frame, code) in bad {
        dealer.send(frame, 0).unwrap();
        match next_non_heartbeat(&dealer).body {
            Message::SessionReject(r) => assert_eq!(r.code, code, "{}", r.text),
            other => panic!("expected a session reject, got {other:?}"),
        }
    }
    // Still serving: a valid order fills.
    let order = Message::NewOrder(NewOrder {
        intent_id: IntentId(77),
        symbol: Symbol::new("BTCUSD.s").unwrap(),
        side: Side::Buy,
        qty: "0.001".parse().unwrap(),
        ord_type: OrdType::Market,
        limit_price: None,
        expire_at_ns: 0,
    });
    dealer.send(valid(10, order, Codec::Json), 0).unwrap();
    match next_non_heartbeat(&dealer).body {
        Message::ExecReport(r) => assert_eq!((r.intent_id, r.ord_status), (IntentId(77), OrdStatus::Filled)),
        other => panic!("expected a fill, got {other:?}"),
    }
    let outcome = gateway.stop();
    assert_eq!(outcome.counters.session_rejects, 5);
    assert_eq!(outcome.counters.fills, 1);
}

#[test]
fn engine_survives_malformed_frames_from_the_gateway() {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER).unwrap();
    router.bind("tcp://127.0.0.1:*").unwrap();
    let orders = router.get_last_endpoint().unwrap().unwrap();
    let publisher = ctx.socket(zmq::PUB).unwrap();
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let md = publisher.get_last_endpoint().unwrap().unwrap();
    let symbol = Symbol::new("BTCUSD.s").unwrap();
    let specs = vec![SymbolSpec { model: default_model(symbol), order_qty: default_order_qty(symbol) }];
    let stats = actix_rt::System::new().block_on(async move {
        let wiring = common::wiring(orders, md, "engine-under-test");
        let strategy = |_: &SymbolSpec| -> Box<dyn Strategy> { Box::new(Hold) };
        let mut engine = system::start(
            wiring,
            &ctx,
            &specs,
            Arc::new(PortfolioRisk::new(RiskConfig::default(), 1)),
            &strategy,
            protocol::SessionId(3),
        )
        .unwrap();
        // The fake gateway learns the engine's identity from its first frame, then sends junk.
        let fake = tokio::task::spawn_blocking(move || {
            let parts = loop {
                if router.poll(zmq::POLLIN, 2_000).unwrap_or(0) > 0 {
                    break router.recv_multipart(0).unwrap();
                }
            };
            let identity = parts[0].clone();
            for junk in [&b"\xff\xff\xff"[..], b"", &[1, 0, 99, 0][..], b"{\"v\":1}"] {
                router.send_multipart([identity.as_slice(), junk], 0).unwrap();
            }
            let hb = Codec::Bincode
                .encode(&Envelope::new(
                    protocol::SessionId(5),
                    1,
                    0,
                    0,
                    Message::Heartbeat(Heartbeat {
                        session_id: protocol::SessionId(5),
                        last_seq_sent: 1,
                        last_seq_received: 0,
                    }),
                ))
                .unwrap();
            router.send_multipart([identity.as_slice(), hb.as_slice()], 0).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            router
        });
        let _router = fake.await.unwrap();
        let stats = engine.bridge_stats().await.unwrap();
        engine.stop_threads();
        actix::System::current().stop();
        stats
    });
    assert_eq!(stats.undecodable_frames, 4);
    assert!(stats.gateway_up, "a valid frame after the junk keeps the gateway up");
    assert_eq!(stats.gateway_sessions, 1);
}

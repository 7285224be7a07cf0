//! The paper gateway replaying the committed fixtures at max speed over real ZeroMQ on
//! 127.0.0.1: every recorded tick arrives once, in order, with its recorded time and a
//! contiguous `md_seq`; a market order fills at the recorded quote in force at its
//! header's `ts_ns` (the engine's decision time on the data clock), however far the
//! publisher has moved on, and its report carries that quote's time.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::registry::default_model;
use paper_gateway::faults::FaultConfig;
use paper_gateway::replay::{ReplayData, ReplayFeed, Speed};
use paper_gateway::server::{self, GatewayConfig};
use paper_gateway::venue::VenueConfig;
use protocol::{Codec, Envelope, IntentId, Message, NewOrder, OrdType, SessionId, Side, Symbol, Tick};

fn replay_config(feed: Arc<ReplayFeed>) -> GatewayConfig {
    GatewayConfig {
        orders_bind: "tcp://127.0.0.1:*".into(),
        market_data_bind: "tcp://127.0.0.1:*".into(),
        models: feed.symbols().iter().map(|s| default_model(*s)).collect(),
        seed: 1,
        interval: Default::default(),
        market_data_codec: Codec::Bincode,
        venue: VenueConfig::default(),
        faults: FaultConfig::default(),
        heartbeat_interval: Duration::from_secs(1),
        journal: None,
        ticks_per_symbol: None,
        max_rate: false,
        wait_for_subscribers: true,
        publish_for: None,
        replay: Some(feed),
        order_observer: None,
    }
}

fn order(intent: u64, symbol: Symbol, side: Side, header_ns: u64) -> Vec<u8> {
    let body = Message::NewOrder(NewOrder {
        intent_id: IntentId(intent),
        symbol,
        side,
        qty: "1".parse().expect("qty"),
        ord_type: OrdType::Market,
        limit_price: None,
        expire_at_ns: 0,
    });
    Codec::Bincode.encode(&Envelope::new(SessionId(7), intent, 0, header_ns, body)).expect("encode")
}

#[test]
fn max_speed_publishes_every_tick_in_order_and_fills_at_the_quote_of_the_order_time() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/replay");
    let data = ReplayData::load(&[dir]).expect("fixtures");
    let feed = Arc::new(ReplayFeed::new(data, Speed::Max));
    let gateway = server::start(replay_config(Arc::clone(&feed))).expect("gateway");
    let ctx = zmq::Context::new();
    let sub = ctx.socket(zmq::SUB).expect("sub");
    sub.set_rcvhwm(1_000_000).expect("hwm");
    for s in feed.symbols() {
        sub.set_subscribe(s.as_str().as_bytes()).expect("subscribe");
    }
    sub.connect(&gateway.market_data_endpoint).expect("connect sub");

    let mut got: HashMap<Symbol, Vec<Tick>> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut total = 0;
    while total < feed.ticks() && Instant::now() < deadline {
        if sub.poll(zmq::POLLIN, 100).expect("poll") == 0 {
            continue;
        }
        let parts = sub.recv_multipart(0).expect("recv");
        let Message::Tick(tick) = Codec::Bincode.decode(&parts[1]).expect("decode").body else { panic!("not a tick") };
        got.entry(tick.symbol).or_default().push(tick);
        total += 1;
    }
    assert_eq!(total, feed.ticks(), "every recorded tick, none lost at max speed");
    for (i, symbol) in feed.symbols().iter().enumerate() {
        let ticks = &got[symbol];
        let recorded = feed.series(i);
        assert_eq!(ticks.len(), recorded.len(), "{symbol}");
        for (k, (t, q)) in ticks.iter().zip(recorded).enumerate() {
            assert_eq!((t.md_seq, t.ts_ns, t.bid, t.ask), (k as u64 + 1, q.ts_ns, q.bid, q.ask), "{symbol} tick {k}");
        }
    }
    assert!(gateway.replay_finished(), "the publisher says it is done");

    // Orders decided on early ticks, sent after the whole replay was published.
    let dealer = ctx.socket(zmq::DEALER).expect("dealer");
    dealer.set_identity(b"replay-test").expect("identity");
    dealer.connect(&gateway.orders_endpoint).expect("connect dealer");
    let eur = Symbol::new("EURUSD").expect("symbol");
    let eur_ticks = &got[&eur];
    let (t100, t500) = (eur_ticks[100], eur_ticks[500]);
    dealer.send(order(1, eur, Side::Buy, t100.ts_ns), 0).expect("send");
    dealer.send(order(2, eur, Side::Sell, t500.ts_ns + 1), 0).expect("send");
    // A wall-clock header time is after every recorded quote: the latest one.
    dealer.send(order(3, eur, Side::Buy, 4_000_000_000_000_000_000), 0).expect("send");
    let mut fills = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fills.len() < 3 && Instant::now() < deadline {
        if dealer.poll(zmq::POLLIN, 100).expect("poll") == 0 {
            continue;
        }
        let frame = dealer.recv_bytes(0).expect("recv");
        if let Message::ExecReport(r) = Codec::Bincode.decode(&frame).expect("decode").body {
            assert!(r.is_fill(), "{r:?}");
            fills.insert(r.intent_id.0, r);
        }
    }
    assert_eq!((fills[&1].last_px, fills[&1].transact_ns), (t100.ask, t100.ts_ns), "buy at tick 100's ask");
    assert_eq!((fills[&2].last_px, fills[&2].transact_ns), (t500.bid, t500.ts_ns), "sell at tick 500's bid");
    let last = eur_ticks.last().expect("ticks");
    assert_eq!((fills[&3].last_px, fills[&3].transact_ns), (last.ask, last.ts_ns), "the latest quote");
    let outcome = gateway.stop();
    let replay = outcome.replay.expect("a replay outcome");
    assert_eq!((replay.span.ticks, replay.span.published, replay.span.bad_rows), (2000, 2000, 3));
    assert_eq!(replay.trades.len(), 1, "buy then sell: one round trip; the last buy stays open");
    assert_eq!((replay.trades[0].entry_ns, replay.trades[0].exit_ns), (t100.ts_ns, t500.ts_ns));
}

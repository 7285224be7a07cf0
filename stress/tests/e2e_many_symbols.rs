//! More than 1,000 symbols on one market-data connection: every subscription reaches the
//! paper gateway (which waits for all of them before publishing) and every tick reaches
//! its symbol. With libzmq's default SUB send HWM (1,000 messages) the 1,001st
//! subscription was dropped, the gateway never started publishing, and the engine ran to
//! the end with no tick at all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::actors::market_data::{MarketData, Overflow};
use ::actors::messages::TickArrived;
use actix::prelude::*;
use engine::registry::default_model;
use paper_gateway::server::{self, GatewayConfig};
use protocol::Symbol;

const SYMBOLS: usize = 1_500;
const TICKS_PER_SYMBOL: u64 = 2;

struct Counter(Arc<AtomicU64>);

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<TickArrived> for Counter {
    type Result = ();
    fn handle(&mut self, _: TickArrived, _: &mut Context<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn fifteen_hundred_symbols_all_get_their_ticks() {
    let symbols: Vec<Symbol> = (1..=SYMBOLS).map(|i| Symbol::new(&format!("SYM{i:04}")).expect("symbol")).collect();
    let gateway = server::start(GatewayConfig {
        orders_bind: "tcp://127.0.0.1:*".into(),
        market_data_bind: "tcp://127.0.0.1:*".into(),
        models: symbols.iter().map(|s| default_model(*s)).collect(),
        seed: 11,
        interval: engine::feed::IntervalMs { min: 1, max: 5 },
        market_data_codec: protocol::Codec::Bincode,
        venue: Default::default(),
        faults: Default::default(),
        heartbeat_interval: Duration::from_millis(500),
        journal: None,
        ticks_per_symbol: Some(TICKS_PER_SYMBOL),
        max_rate: false,
        wait_for_subscribers: true,
        publish_for: None,
        replay: None,
        order_observer: None,
    })
    .expect("gateway");
    let md = gateway.market_data_endpoint.clone();
    let taken = Arc::new(AtomicU64::new(0));
    let expected = SYMBOLS as u64 * TICKS_PER_SYMBOL;
    let counters = actix_rt::System::new().block_on({
        let taken = Arc::clone(&taken);
        async move {
            let counter = Counter(Arc::clone(&taken)).start();
            let routes: HashMap<Symbol, Recipient<TickArrived>> =
                symbols.iter().map(|s| (*s, counter.clone().recipient())).collect();
            let zmq = zmq::Context::new();
            let mut feed = MarketData::new();
            feed.add_shard(
                &zmq,
                &md,
                protocol::Codec::Bincode,
                routes,
                Overflow::Backpressure,
                &actix::Arbiter::current(),
            )
            .expect("subscribe");
            let deadline = Instant::now() + Duration::from_secs(20);
            while taken.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            feed.stop();
            feed.counters.totals()
        }
    });
    let _ = gateway.stop();
    assert_eq!(counters.unknown_symbol, 0);
    assert_eq!(taken.load(Ordering::Relaxed), expected, "every symbol got every tick");
}

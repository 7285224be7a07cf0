//! One bridge round trip: `SubmitOrder` into the real `BridgeActor` → its socket thread →
//! DEALER → loopback TCP → a minimal echo gateway (ROUTER, answers every NewOrder with a
//! fill at once) → back through the socket thread and the bridge (lock released) → the
//! symbol's route. Measures what the bridge adds on top of ZeroMQ; a sleep-polling bridge
//! would show up here as milliseconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ::actors::bridge::socket::SocketConfig;
use ::actors::bridge::{BridgeActor, BridgeConfig, RegisterRoutes, SymbolRoute};
use ::actors::messages::{GatewayReport, JournalWriteFailed, Reconcile, RequestTimedOut, SubmitOrder};
use actix::prelude::*;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::symbol_core::{OrderPurpose, OrderRequest};
use engine::Direction;
use protocol::{
    Codec, Envelope, ExecId, ExecReport, ExecType, IntentId, Message as Wire, Money, OrdStatus, OrdType, OrderId,
    Price, Qty, RejectCode, Side, Symbol,
};

struct Route(crossbeam_channel::Sender<()>);
impl Actor for Route {
    type Context = Context<Self>;
}
impl Handler<GatewayReport> for Route {
    type Result = ();
    fn handle(&mut self, _: GatewayReport, _: &mut Context<Self>) {
        let _ = self.0.send(());
    }
}
impl Handler<RequestTimedOut> for Route {
    type Result = ();
    fn handle(&mut self, _: RequestTimedOut, _: &mut Context<Self>) {}
}
impl Handler<JournalWriteFailed> for Route {
    type Result = ();
    fn handle(&mut self, _: JournalWriteFailed, _: &mut Context<Self>) {}
}
impl Handler<Reconcile> for Route {
    type Result = ();
    fn handle(&mut self, _: Reconcile, _: &mut Context<Self>) {}
}

/// Answers every NewOrder with a fill, at once.
fn echo_gateway(ctx: zmq::Context) -> String {
    let router = ctx.socket(zmq::ROUTER).expect("router");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = router.get_last_endpoint().expect("endpoint").expect("utf8");
    std::thread::spawn(move || {
        let mut seq = 0;
        while let Ok(parts) = router.recv_multipart(0) {
            let (Some(id), Some(frame)) = (parts.first(), parts.last()) else { continue };
            let Ok(env) = Codec::Bincode.decode(frame) else { continue };
            let Wire::NewOrder(o) = env.body else { continue };
            seq += 1;
            let report = ExecReport {
                intent_id: o.intent_id,
                order_id: OrderId(seq),
                exec_id: ExecId(seq),
                symbol: o.symbol,
                side: o.side,
                exec_type: ExecType::Fill,
                ord_status: OrdStatus::Filled,
                last_qty: o.qty,
                last_px: Price::units(100).expect("price"),
                cum_qty: o.qty,
                leaves_qty: Qty::ZERO,
                fee: Money::ZERO,
                reject_code: RejectCode::None,
                reject_text: String::new(),
                poss_dup: false,
                transact_ns: 0,
            };
            let out = Codec::Bincode
                .encode(&Envelope::new(protocol::SessionId(9), seq, env.header.seq, 0, Wire::ExecReport(report)))
                .expect("encode");
            let _ = router.send_multipart([id.as_slice(), out.as_slice()], 0);
        }
    });
    endpoint
}

fn bench(c: &mut Criterion) {
    let zmq = zmq::Context::new();
    let endpoint = echo_gateway(zmq.clone());
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    let (addr_tx, addr_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            let config = BridgeConfig {
                socket: SocketConfig { endpoint, identity: "bench".into(), codec: Codec::Bincode, send_hwm: 1000 },
                request_timeout: Duration::from_secs(5),
                heartbeat_interval: Duration::from_secs(60),
                heartbeats_missed_for_down: 3,
            };
            let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
            let bridge = BridgeActor::new(config, zmq, HashMap::new(), risk, protocol::SessionId(1)).start();
            let route = Route(done_tx).start();
            let symbol = Symbol::new("BENCH").expect("symbol");
            let routes = SymbolRoute {
                reports: route.clone().recipient(),
                timeouts: route.clone().recipient(),
                reconcile: route.clone().recipient(),
                journal_failed: route.recipient(),
            };
            bridge.do_send(RegisterRoutes { routes: HashMap::from([(symbol, routes)]), shards: Vec::new() });
            let _ = addr_tx.send(bridge);
            futures_pending().await;
        });
    });
    let bridge = addr_rx.recv().expect("bridge address");
    std::thread::sleep(Duration::from_millis(300)); // let the DEALER connect
    let symbol = Symbol::new("BENCH").expect("symbol");
    let mut intent = 0u64;
    let mut group = c.benchmark_group("bridge");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30);
    group.bench_function("order_round_trip", |b| {
        b.iter_custom(|iterations| {
            let start = Instant::now();
            for _ in 0..iterations {
                intent += 1;
                bridge.do_send(SubmitOrder {
                    order: OrderRequest {
                        intent_id: IntentId(intent),
                        symbol,
                        side: Side::Buy,
                        qty: Qty::units(1).expect("qty"),
                        ord_type: OrdType::Market,
                        limit_price: None,
                        purpose: OrderPurpose::Entry(Direction::Long),
                        placed_at: 0,
                    },
                    header_ts_ns: None,
                });
                done_rx.recv_timeout(Duration::from_secs(5)).expect("the fill comes back");
            }
            start.elapsed()
        })
    });
    // Baseline in the same run: the same echo gateway, a bare DEALER on this thread (no
    // actor, no socket thread). The difference is what the bridge adds.
    let raw_ctx = zmq::Context::new();
    let raw_gateway = echo_gateway(raw_ctx.clone());
    let dealer = raw_ctx.socket(zmq::DEALER).expect("dealer");
    dealer.connect(&raw_gateway).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let mut seq = 0u64;
    group.bench_function("raw_dealer_round_trip", |b| {
        b.iter(|| {
            seq += 1;
            let order = Wire::NewOrder(protocol::NewOrder {
                intent_id: IntentId(seq),
                symbol,
                side: Side::Buy,
                qty: Qty::units(1).expect("qty"),
                ord_type: OrdType::Market,
                limit_price: None,
                expire_at_ns: 0,
            });
            let frame =
                Codec::Bincode.encode(&Envelope::new(protocol::SessionId(1), seq, 0, 0, order)).expect("encode");
            dealer.send(frame, 0).expect("send");
            let reply = dealer.recv_bytes(0).expect("reply");
            std::hint::black_box(Codec::Bincode.decode(&reply).expect("decode"));
        })
    });
    group.finish();
}

/// Keeps the actor system alive for the whole benchmark.
async fn futures_pending() {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

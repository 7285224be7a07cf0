//! Two shards, one gateway that answers every order on the *other* shard's connection: the
//! report is handed to the shard that trades the symbol, which releases the lock it took
//! and routes the report to the symbol, once.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ::actors::bridge::socket::SocketConfig;
use ::actors::bridge::{BridgeActor, BridgeConfig, GetBridgeStats, RegisterRoutes};
use ::actors::messages::SubmitOrder;
use ::actors::shard::shard_of;
use actix::prelude::*;
use common::Probe;
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::symbol_core::{OrderPurpose, OrderRequest};
use engine::Direction;
use protocol::{
    Codec, Envelope, ExecId, ExecReport, ExecType, IntentId, Message as Wire, Money, OrdStatus, OrdType, OrderId,
    PositionSnapshot, Price, Qty, RejectCode, Side, Symbol,
};

/// Answers snapshot requests to the asker, and fills every order on another identity.
fn crossed_gateway(ctx: &zmq::Context) -> String {
    let router = ctx.socket(zmq::ROUTER).expect("router");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = router.get_last_endpoint().expect("endpoint").expect("utf8");
    std::thread::spawn(move || {
        let mut peers: BTreeSet<Vec<u8>> = BTreeSet::new();
        let mut seq = 0;
        while let Ok(parts) = router.recv_multipart(0) {
            let (Some(id), Some(frame)) = (parts.first(), parts.last()) else { continue };
            peers.insert(id.clone());
            let Ok(env) = Codec::Json.decode(frame) else { continue };
            seq += 1;
            let (to, body) = match env.body {
                Wire::PositionSnapshotRequest(r) => (
                    id.clone(),
                    Wire::PositionSnapshot(PositionSnapshot {
                        request_id: r.request_id,
                        positions: Vec::new(),
                        open_orders: Vec::new(),
                    }),
                ),
                Wire::NewOrder(o) => {
                    let Some(other) = peers.iter().find(|p| *p != id).cloned() else { continue };
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
                    (other, Wire::ExecReport(report))
                }
                _ => continue,
            };
            let out = Codec::Json
                .encode(&Envelope::new(protocol::SessionId(7), seq, env.header.seq, 0, body))
                .expect("encode");
            let _ = router.send_multipart([to.as_slice(), out.as_slice()], 0);
        }
    });
    endpoint
}

#[test]
fn a_report_on_the_wrong_shards_connection_reaches_its_symbol_once_and_frees_the_lock() {
    let zmq = zmq::Context::new();
    let endpoint = crossed_gateway(&zmq);
    let symbol = Symbol::new("FWD.s").expect("symbol");
    let owner = shard_of(&symbol, 2);
    let (reports_tx, reports_rx) = crossbeam_channel::unbounded();
    let stats = actix_rt::System::new().block_on(async move {
        let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
        let bridges: Vec<Addr<BridgeActor>> = (0..2)
            .map(|shard| {
                let config = BridgeConfig {
                    socket: SocketConfig {
                        endpoint: endpoint.clone(),
                        identity: format!("fwd-s{shard}"),
                        codec: Codec::Json,
                        send_hwm: 1000,
                    },
                    request_timeout: Duration::from_secs(5),
                    heartbeat_interval: Duration::from_secs(60),
                    heartbeats_missed_for_down: 3,
                };
                BridgeActor::new(config, zmq.clone(), HashMap::new(), Arc::clone(&risk), protocol::SessionId(1))
                    .for_shard(shard, 2)
                    .start()
            })
            .collect();
        let route = Probe { reports: reports_tx, reconciles: crossbeam_channel::unbounded().0 }.route();
        let shards: Vec<_> = bridges.iter().map(|b| b.clone().recipient()).collect();
        for (shard, bridge) in bridges.iter().enumerate() {
            let routes = if shard == owner { HashMap::from([(symbol, route.clone())]) } else { HashMap::new() };
            bridge.do_send(RegisterRoutes { routes, shards: shards.clone() });
        }
        // Both connections are known to the gateway once their start-up snapshots went out.
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        bridges[owner].do_send(SubmitOrder {
            order: OrderRequest {
                intent_id: IntentId(42),
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
        actix_rt::time::sleep(Duration::from_millis(500)).await;
        let mut stats = Vec::new();
        for bridge in &bridges {
            stats.push(bridge.send(GetBridgeStats).await.expect("stats"));
        }
        System::current().stop();
        stats
    });
    let reports: Vec<ExecReport> = reports_rx.try_iter().collect();
    assert_eq!(reports.len(), 1, "the fill reached its symbol once: {reports:?}");
    assert_eq!(reports[0].intent_id, IntentId(42));
    let (owner_stats, other_stats) = (&stats[owner], &stats[1 - owner]);
    assert_eq!(other_stats.reports_forwarded, 1, "the receiving shard forwarded it: {other_stats:?}");
    assert_eq!(other_stats.unroutable_reports, 0);
    assert_eq!((owner_stats.locks_acquired, owner_stats.locks_released), (1, 1), "the owner's lock was released");
    assert_eq!(owner_stats.fills_received, 1, "counted once, by the owner");
    assert_eq!(other_stats.fills_received, 0);
}

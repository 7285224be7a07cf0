//! The bridge's start-up: the gateway's first snapshot must reach every symbol, however
//! late the symbol routes are handed over. (Before the fix, the bridge connected at once,
//! a fast gateway's snapshot found no routes, and every symbol stayed Reconciling.)

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ::actors::bridge::socket::SocketConfig;
use ::actors::bridge::{BridgeActor, BridgeConfig, RegisterRoutes};
use ::actors::messages::Reconcile;
use actix::prelude::*;
use common::Probe;
use engine::risk::{PortfolioRisk, RiskConfig};
use protocol::{Codec, Envelope, Message as Wire, PositionSnapshot, Symbol};

/// A gateway that answers every snapshot request at once (flat everywhere), and counts them.
fn snapshot_gateway(ctx: &zmq::Context, requests: crossbeam_channel::Sender<u64>) -> String {
    let router = ctx.socket(zmq::ROUTER).expect("router");
    router.bind("tcp://127.0.0.1:*").expect("bind");
    let endpoint = router.get_last_endpoint().expect("endpoint").expect("utf8");
    std::thread::spawn(move || {
        let mut seq = 0;
        while let Ok(parts) = router.recv_multipart(0) {
            let (Some(id), Some(frame)) = (parts.first(), parts.last()) else { continue };
            let Ok(env) = Codec::Json.decode(frame) else { continue };
            let Wire::PositionSnapshotRequest(req) = env.body else { continue };
            let _ = requests.send(req.request_id);
            seq += 1;
            let body = Wire::PositionSnapshot(PositionSnapshot {
                request_id: req.request_id,
                positions: Vec::new(),
                open_orders: Vec::new(),
            });
            let out = Codec::Json
                .encode(&Envelope::new(protocol::SessionId(7), seq, env.header.seq, 0, body))
                .expect("encode");
            let _ = router.send_multipart([id.as_slice(), out.as_slice()], 0);
        }
    });
    endpoint
}

#[test]
fn first_snapshot_reaches_routes_handed_over_after_the_bridge_started() {
    let zmq = zmq::Context::new();
    let (requests_tx, requests_rx) = crossbeam_channel::unbounded();
    let endpoint = snapshot_gateway(&zmq, requests_tx);
    let (reconciled_tx, reconciled_rx) = crossbeam_channel::unbounded();
    let system = actix_rt::System::new();
    system.block_on(async move {
        let config = BridgeConfig {
            socket: SocketConfig { endpoint, identity: "start-test".into(), codec: Codec::Json, send_hwm: 1000 },
            request_timeout: Duration::from_secs(5),
            heartbeat_interval: Duration::from_secs(60),
            heartbeats_missed_for_down: 3,
        };
        let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
        let bridge = BridgeActor::new(config, zmq, HashMap::new(), risk, protocol::SessionId(1)).start();
        // Long enough for a bridge that connected at start to get its snapshot, which then
        // reaches nobody.
        actix_rt::time::sleep(Duration::from_millis(400)).await;
        let route = Probe { reports: crossbeam_channel::unbounded().0, reconciles: reconciled_tx }.route();
        let symbol = Symbol::new("LATE").expect("symbol");
        bridge.do_send(RegisterRoutes { routes: HashMap::from([(symbol, route)]), shards: Vec::new() });
        actix_rt::time::sleep(Duration::from_millis(1500)).await;
        System::current().stop();
    });
    let reconciled: Vec<Reconcile> = reconciled_rx.try_iter().collect();
    assert!(
        !reconciled.is_empty(),
        "the start-up snapshot must reach the late route (snapshot requests: {:?})",
        requests_rx.try_iter().collect::<Vec<_>>()
    );
    assert!(reconciled[0].after_reconnect, "the start-up snapshot is a reconciling one");
}

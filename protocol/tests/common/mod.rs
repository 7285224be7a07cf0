//! Sample messages shared by the protocol integration tests.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use protocol::*;

pub fn sym(s: &str) -> Symbol {
    Symbol::new(s).expect("valid test symbol")
}

pub fn samples() -> Vec<Message> {
    let report = ExecReport {
        intent_id: IntentId(42),
        order_id: OrderId(7),
        exec_id: ExecId(9001),
        symbol: sym("BTCUSD.s"),
        side: Side::Buy,
        exec_type: ExecType::Fill,
        ord_status: OrdStatus::Filled,
        last_qty: "0.001".parse().unwrap(),
        last_px: "100000.12345678".parse().unwrap(),
        cum_qty: "0.001".parse().unwrap(),
        leaves_qty: Qty::ZERO,
        fee: "0.025".parse().unwrap(),
        reject_code: RejectCode::None,
        reject_text: String::new(),
        poss_dup: false,
        transact_ns: 1_763_700_000_000_000_000,
    };
    vec![
        Message::NewOrder(NewOrder {
            intent_id: IntentId(42),
            symbol: sym("BTCUSD.s"),
            side: Side::Buy,
            qty: "0.001".parse().unwrap(),
            ord_type: OrdType::Market,
            limit_price: None,
            expire_at_ns: 1_763_700_000_500_000_000,
        }),
        Message::NewOrder(NewOrder {
            intent_id: IntentId(43),
            symbol: sym("XAUUSD.s"),
            side: Side::Sell,
            qty: "1.5".parse().unwrap(),
            ord_type: OrdType::Ioc,
            limit_price: Some("2650.25".parse().unwrap()),
            expire_at_ns: 0,
        }),
        Message::ExecReport(report.clone()),
        Message::ExecReport(ExecReport {
            exec_type: ExecType::Rejected,
            ord_status: OrdStatus::Rejected,
            last_qty: Qty::ZERO,
            last_px: Price::ZERO,
            cum_qty: Qty::ZERO,
            fee: Money::ZERO,
            reject_code: RejectCode::GatewayRisk,
            reject_text: "injected reject".into(),
            ..report
        }),
        Message::OrderStatusQuery(OrderStatusQuery { intent_id: Some(IntentId(42)), symbol: Some(sym("BTCUSD.s")) }),
        Message::OrderStatusQuery(OrderStatusQuery { intent_id: None, symbol: None }),
        Message::PositionSnapshotRequest(PositionSnapshotRequest { request_id: 5 }),
        Message::PositionSnapshot(PositionSnapshot {
            request_id: 5,
            positions: vec![PositionEntry {
                symbol: sym("ETHUSD.s"),
                side: Side::Sell,
                qty: "0.25".parse().unwrap(),
                cost: "800.5".parse().unwrap(),
                realized_pnl: "-12.34".parse().unwrap(),
                fees: "0.1".parse().unwrap(),
                fills: 3,
            }],
            open_orders: vec![IntentId(44)],
        }),
        Message::Heartbeat(Heartbeat { session_id: protocol::SessionId(77), last_seq_sent: 10, last_seq_received: 9 }),
        Message::Tick(Tick {
            symbol: sym("ETHUSD.s"),
            bid: "3200.1".parse().unwrap(),
            ask: "3200.2".parse().unwrap(),
            ts_ns: 1,
            md_seq: 100,
        }),
        Message::SessionReject(SessionReject {
            ref_seq: 3,
            code: RejectCode::MalformedFrame,
            text: "truncated".into(),
        }),
    ]
}

pub fn envelope(body: Message) -> Envelope {
    Envelope::new(protocol::SessionId(0xDEAD_BEEF), 12, 11, 1_763_700_000_000_000_000, body)
}

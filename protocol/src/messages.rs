//! Message bodies exchanged between engine and gateway, and the `Message` sum type.
//!
//! Field order here is the bincode field order on the wire (see docs/PROTOCOL.md).
//! `validate` holds the semantic rules a decoded message must pass beyond its types.

use serde::{Deserialize, Serialize};

use crate::enums::{ExecType, OrdStatus, OrdType, RejectCode, Side};
use crate::error::DecodeError;
use crate::ids::{ExecId, IntentId, OrderId, SessionId};
use crate::symbol::Symbol;
use crate::values::{Money, Price, Qty};

/// engine → gateway: place an order (FIX NewOrderSingle).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Client order id; a retry reuses it.
    pub intent_id: IntentId,
    pub symbol: Symbol,
    pub side: Side,
    /// > 0.
    pub qty: Qty,
    pub ord_type: OrdType,
    /// Required (> 0) for `Ioc`; must be absent for `Market`.
    pub limit_price: Option<Price>,
    /// Gateway time (ns since the Unix epoch) after which the order must not execute;
    /// the gateway rejects it with `RejectCode::Expired`. 0 = no expiry.
    pub expire_at_ns: u64,
}

/// gateway → engine: what happened to an order (FIX ExecutionReport).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecReport {
    pub intent_id: IntentId,
    /// Gateway order id; 0 when the order was rejected before it got one.
    pub order_id: OrderId,
    /// Unique per execution; a replayed report keeps its original id.
    pub exec_id: ExecId,
    pub symbol: Symbol,
    pub side: Side,
    pub exec_type: ExecType,
    pub ord_status: OrdStatus,
    /// Quantity and price of this execution; zero unless `exec_type` is a fill.
    pub last_qty: Qty,
    pub last_px: Price,
    /// Total filled so far, and what is still working.
    pub cum_qty: Qty,
    pub leaves_qty: Qty,
    /// Fee charged on this execution (positive = paid).
    pub fee: Money,
    pub reject_code: RejectCode,
    pub reject_text: String,
    /// True when this report was sent before (a repeated intent or a status replay).
    pub poss_dup: bool,
    /// Gateway time of the execution, ns since the Unix epoch.
    pub transact_ns: u64,
}

impl ExecReport {
    /// True when this report carries a new execution (a fill or partial fill).
    pub fn is_fill(&self) -> bool {
        matches!(self.exec_type, ExecType::Fill | ExecType::PartialFill)
    }
}

/// engine → gateway: ask for the state of one order, or of every open order (FIX
/// OrderStatusRequest / OrderMassStatusRequest).
/// The gateway answers with every `ExecReport` it holds for the order(s), replayed with
/// `poss_dup = true` and their original `exec_id`s, then a final `ExecType::OrderStatus`
/// report. An unknown intent gets one `OrderStatus` report with `OrdStatus::Rejected`,
/// `RejectCode::UnknownOrder` and the queried symbol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusQuery {
    /// `None` asks for all open orders (of `symbol`, or of every symbol).
    pub intent_id: Option<IntentId>,
    /// Required with `intent_id`; with `intent_id: None` it narrows the query to one symbol.
    pub symbol: Option<Symbol>,
}

/// engine → gateway: ask for positions, open orders and realized PnL (reconciliation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionSnapshotRequest {
    pub request_id: u64,
}

/// One symbol's line in a position snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionEntry {
    pub symbol: Symbol,
    /// `Buy` = long, `Sell` = short; meaningless when `qty` is zero.
    pub side: Side,
    pub qty: Qty,
    /// Cost basis of the open quantity (sum of entry notionals, proportionally reduced).
    pub cost: Money,
    /// Gross realized PnL and fees since the gateway's ledger began.
    pub realized_pnl: Money,
    pub fees: Money,
    pub fills: u64,
}

/// gateway → engine: reply to `PositionSnapshotRequest`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionSnapshot {
    pub request_id: u64,
    pub positions: Vec<PositionEntry>,
    /// Intents still working at the gateway.
    pub open_orders: Vec<IntentId>,
}

/// Both directions: liveness. `session_id` changes when the sender restarts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub session_id: SessionId,
    /// The last sequence number the sender sent before this heartbeat.
    pub last_seq_sent: u64,
    /// The last sequence number the sender received from its peer.
    pub last_seq_received: u64,
}

/// gateway → engine (PUB, topic = symbol): top of book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    pub symbol: Symbol,
    pub bid: Price,
    pub ask: Price,
    /// Gateway time, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Per-symbol market-data sequence, +1 per tick; a gap means ticks were lost.
    pub md_seq: u64,
}

/// Either direction: a frame could not be processed (FIX Reject).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReject {
    /// Sequence number of the refused frame, when its header could be read; else 0.
    pub ref_seq: u64,
    pub code: RejectCode,
    pub text: String,
}

/// The message type code carried in every envelope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgType {
    NewOrder,
    ExecReport,
    OrderStatusQuery,
    PositionSnapshotRequest,
    PositionSnapshot,
    Heartbeat,
    Tick,
    SessionReject,
}

impl MsgType {
    /// Every type, in code order.
    pub const ALL: [MsgType; 8] = [
        MsgType::NewOrder,
        MsgType::ExecReport,
        MsgType::OrderStatusQuery,
        MsgType::PositionSnapshotRequest,
        MsgType::PositionSnapshot,
        MsgType::Heartbeat,
        MsgType::Tick,
        MsgType::SessionReject,
    ];

    /// The `u16` code in the binary header.
    pub const fn code(self) -> u16 {
        match self {
            MsgType::NewOrder => 1,
            MsgType::ExecReport => 2,
            MsgType::OrderStatusQuery => 3,
            MsgType::PositionSnapshotRequest => 4,
            MsgType::PositionSnapshot => 5,
            MsgType::Heartbeat => 6,
            MsgType::Tick => 7,
            MsgType::SessionReject => 8,
        }
    }

    /// The `"type"` string in the JSON envelope.
    pub const fn as_str(self) -> &'static str {
        match self {
            MsgType::NewOrder => "new_order",
            MsgType::ExecReport => "exec_report",
            MsgType::OrderStatusQuery => "order_status_query",
            MsgType::PositionSnapshotRequest => "position_snapshot_request",
            MsgType::PositionSnapshot => "position_snapshot",
            MsgType::Heartbeat => "heartbeat",
            MsgType::Tick => "tick",
            MsgType::SessionReject => "session_reject",
        }
    }

    pub fn from_code(code: u16) -> Option<MsgType> {
        MsgType::ALL.into_iter().find(|t| t.code() == code)
    }

    pub fn from_name(name: &str) -> Option<MsgType> {
        MsgType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Any message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    NewOrder(NewOrder),
    ExecReport(ExecReport),
    OrderStatusQuery(OrderStatusQuery),
    PositionSnapshotRequest(PositionSnapshotRequest),
    PositionSnapshot(PositionSnapshot),
    Heartbeat(Heartbeat),
    Tick(Tick),
    SessionReject(SessionReject),
}

impl Message {
    pub fn msg_type(&self) -> MsgType {
        match self {
            Message::NewOrder(_) => MsgType::NewOrder,
            Message::ExecReport(_) => MsgType::ExecReport,
            Message::OrderStatusQuery(_) => MsgType::OrderStatusQuery,
            Message::PositionSnapshotRequest(_) => MsgType::PositionSnapshotRequest,
            Message::PositionSnapshot(_) => MsgType::PositionSnapshot,
            Message::Heartbeat(_) => MsgType::Heartbeat,
            Message::Tick(_) => MsgType::Tick,
            Message::SessionReject(_) => MsgType::SessionReject,
        }
    }

    /// Semantic checks every decoded message must pass (types alone cannot say them).
    pub fn validate(&self) -> Result<(), DecodeError> {
        let invalid =
            |field: &str, reason: &str| Err(DecodeError::InvalidValue { field: field.into(), reason: reason.into() });
        match self {
            Message::NewOrder(o) => {
                if o.qty.is_zero() {
                    return invalid("qty", "must be > 0");
                }
                match (o.ord_type, o.limit_price) {
                    (OrdType::Ioc, None) => return invalid("limit_price", "required for ioc"),
                    (OrdType::Ioc, Some(p)) if p.is_zero() => return invalid("limit_price", "must be > 0"),
                    (OrdType::Market, Some(_)) => return invalid("limit_price", "must be absent for market"),
                    _ => {}
                }
            }
            Message::ExecReport(r) => {
                if r.is_fill() && (r.last_qty.is_zero() || r.last_px.is_zero()) {
                    return invalid("last_qty", "a fill needs last_qty > 0 and last_px > 0");
                }
                if r.last_qty > r.cum_qty {
                    return invalid("cum_qty", "must be >= last_qty");
                }
                if r.reject_text.len() > MAX_TEXT_LEN {
                    return invalid("reject_text", "too long");
                }
            }
            Message::Tick(t) => {
                if t.bid.is_zero() {
                    return invalid("bid", "must be > 0");
                }
                if t.ask.is_zero() {
                    return invalid("ask", "must be > 0");
                }
                if t.bid > t.ask {
                    return invalid("bid", "crossed book: bid > ask");
                }
            }
            Message::PositionSnapshot(s) => {
                if s.positions.len() > MAX_LIST_LEN {
                    return invalid("positions", "too many entries");
                }
                if s.open_orders.len() > MAX_LIST_LEN {
                    return invalid("open_orders", "too many entries");
                }
            }
            Message::SessionReject(r) => {
                if r.text.len() > MAX_TEXT_LEN {
                    return invalid("text", "too long");
                }
            }
            Message::OrderStatusQuery(q) => {
                if q.intent_id.is_some() && q.symbol.is_none() {
                    return invalid("symbol", "required when intent_id is set");
                }
            }
            Message::PositionSnapshotRequest(_) | Message::Heartbeat(_) => {}
        }
        Ok(())
    }
}

/// Longest free-text field (reject texts), in bytes.
pub const MAX_TEXT_LEN: usize = 256;
/// Most entries in one list (positions, open orders).
pub const MAX_LIST_LEN: usize = 10_000;

//! The JSON codec: one object per frame,
//! `{"v":1,"type":"tick","session_id":..,"seq":..,"ack_seq":..,"ts_ns":..,"body":{..}}`.
//! Fixed-point values are exact decimal strings; enums are snake_case names.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, Header, PROTOCOL_VERSION};
use crate::error::{from_serde_message, DecodeError, EncodeError};
use crate::ids::SessionId;
use crate::messages::{Message, MsgType};

#[derive(Serialize)]
struct FrameOut<'a, T> {
    v: u16,
    #[serde(rename = "type")]
    msg_type: &'static str,
    session_id: SessionId,
    seq: u64,
    ack_seq: u64,
    ts_ns: u64,
    body: &'a T,
}

/// The body stays raw text until its type is known, and is then read straight into the
/// typed message: a key given twice is refused there (as `serde_json::Value` would keep the
/// last one silently, a peer could hide a second `qty` or `side` behind the first).
#[derive(Deserialize)]
struct FrameIn<'a> {
    v: u16,
    #[serde(rename = "type")]
    msg_type: String,
    session_id: SessionId,
    seq: u64,
    ack_seq: u64,
    ts_ns: u64,
    #[serde(borrow)]
    body: &'a serde_json::value::RawValue,
}

pub(super) fn encode_into(envelope: &Envelope, frame: &mut Vec<u8>) -> Result<(), EncodeError> {
    match &envelope.body {
        Message::NewOrder(b) => write(envelope, b, frame),
        Message::ExecReport(b) => write(envelope, b, frame),
        Message::OrderStatusQuery(b) => write(envelope, b, frame),
        Message::PositionSnapshotRequest(b) => write(envelope, b, frame),
        Message::PositionSnapshot(b) => write(envelope, b, frame),
        Message::Heartbeat(b) => write(envelope, b, frame),
        Message::Tick(b) => write(envelope, b, frame),
        Message::SessionReject(b) => write(envelope, b, frame),
    }
}

fn write<T: Serialize>(envelope: &Envelope, body: &T, frame: &mut Vec<u8>) -> Result<(), EncodeError> {
    let h = &envelope.header;
    let out = FrameOut {
        v: h.version,
        msg_type: envelope.body.msg_type().as_str(),
        session_id: h.session_id,
        seq: h.seq,
        ack_seq: h.ack_seq,
        ts_ns: h.ts_ns,
        body,
    };
    serde_json::to_writer(frame, &out).map_err(|e| EncodeError::Serialize(e.to_string()))
}

pub(super) fn decode(frame: &[u8]) -> Result<Envelope, DecodeError> {
    let parsed: FrameIn = serde_json::from_slice(frame).map_err(|e| {
        if e.is_eof() {
            DecodeError::Truncated(e.to_string())
        } else {
            from_serde_message(&e.to_string())
        }
    })?;
    if parsed.v != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion { got: parsed.v, supported: PROTOCOL_VERSION });
    }
    let msg_type = MsgType::from_name(&parsed.msg_type)
        .ok_or_else(|| DecodeError::UnknownMessageType(parsed.msg_type.chars().take(32).collect()))?;
    let header = Header {
        version: parsed.v,
        session_id: parsed.session_id,
        seq: parsed.seq,
        ack_seq: parsed.ack_seq,
        ts_ns: parsed.ts_ns,
    };
    let body = parsed.body;
    let message = match msg_type {
        MsgType::NewOrder => Message::NewOrder(read(body)?),
        MsgType::ExecReport => Message::ExecReport(read(body)?),
        MsgType::OrderStatusQuery => Message::OrderStatusQuery(read(body)?),
        MsgType::PositionSnapshotRequest => Message::PositionSnapshotRequest(read(body)?),
        MsgType::PositionSnapshot => Message::PositionSnapshot(read(body)?),
        MsgType::Heartbeat => Message::Heartbeat(read(body)?),
        MsgType::Tick => Message::Tick(read(body)?),
        MsgType::SessionReject => Message::SessionReject(read(body)?),
    };
    Ok(Envelope { header, body: message })
}

/// The envelope's `seq`, read without decoding the body: there when the frame is a JSON
/// object whose `seq` is a u64, whatever else is wrong with it.
pub(super) fn peek_seq(frame: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(frame).ok()?.get("seq")?.as_u64()
}

fn read<T: DeserializeOwned>(body: &serde_json::value::RawValue) -> Result<T, DecodeError> {
    serde_json::from_str(body.get()).map_err(|e| from_serde_message(&e.to_string()))
}

//! The binary codec: a fixed little-endian header, then the body in bincode 2 with
//! fixed-width little-endian integers.

use bincode::config::{self, Configuration, Fixint, Limit, LittleEndian};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::MAX_FRAME_BYTES;
use crate::envelope::{Envelope, Header, PROTOCOL_VERSION};
use crate::error::{from_serde_message, DecodeError, EncodeError};
use crate::ids::SessionId;
use crate::messages::{Message, MsgType};

pub(super) const HEADER_LEN: usize = 2 + 2 + 8 + 8 + 8 + 8;
/// Where the header's `seq` (u64 LE) starts: after version u16, msg_type u16, session_id u64.
const SEQ_AT: usize = 2 + 2 + 8;

type BodyConfig = Configuration<LittleEndian, Fixint, Limit<MAX_FRAME_BYTES>>;

const fn body_config() -> BodyConfig {
    config::standard().with_little_endian().with_fixed_int_encoding().with_limit::<MAX_FRAME_BYTES>()
}

pub(super) fn encode_into(envelope: &Envelope, frame: &mut Vec<u8>) -> Result<(), EncodeError> {
    let h = &envelope.header;
    frame.extend_from_slice(&h.version.to_le_bytes());
    frame.extend_from_slice(&envelope.body.msg_type().code().to_le_bytes());
    frame.extend_from_slice(&h.session_id.0.to_le_bytes());
    frame.extend_from_slice(&h.seq.to_le_bytes());
    frame.extend_from_slice(&h.ack_seq.to_le_bytes());
    frame.extend_from_slice(&h.ts_ns.to_le_bytes());
    match &envelope.body {
        Message::NewOrder(b) => write_body(b, frame),
        Message::ExecReport(b) => write_body(b, frame),
        Message::OrderStatusQuery(b) => write_body(b, frame),
        Message::PositionSnapshotRequest(b) => write_body(b, frame),
        Message::PositionSnapshot(b) => write_body(b, frame),
        Message::Heartbeat(b) => write_body(b, frame),
        Message::Tick(b) => write_body(b, frame),
        Message::SessionReject(b) => write_body(b, frame),
    }
}

fn write_body<T: Serialize>(body: &T, frame: &mut Vec<u8>) -> Result<(), EncodeError> {
    bincode::serde::encode_into_std_write(body, frame, body_config())
        .map(|_| ())
        .map_err(|e| EncodeError::Serialize(e.to_string()))
}

pub(super) fn decode(frame: &[u8]) -> Result<Envelope, DecodeError> {
    if frame.len() < HEADER_LEN {
        return Err(DecodeError::Truncated(format!("{} bytes, the header alone is {HEADER_LEN}", frame.len())));
    }
    let u16_at = |at: usize| u16::from_le_bytes([frame[at], frame[at + 1]]);
    let u64_at = |at: usize| {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&frame[at..at + 8]);
        u64::from_le_bytes(bytes)
    };
    let version = u16_at(0);
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion { got: version, supported: PROTOCOL_VERSION });
    }
    let type_code = u16_at(2);
    let msg_type =
        MsgType::from_code(type_code).ok_or_else(|| DecodeError::UnknownMessageType(type_code.to_string()))?;
    let header = Header {
        version,
        session_id: SessionId(u64_at(4)),
        seq: u64_at(SEQ_AT),
        ack_seq: u64_at(20),
        ts_ns: u64_at(28),
    };
    let body = &frame[HEADER_LEN..];
    let message = match msg_type {
        MsgType::NewOrder => Message::NewOrder(read_body(body)?),
        MsgType::ExecReport => Message::ExecReport(read_body(body)?),
        MsgType::OrderStatusQuery => Message::OrderStatusQuery(read_body(body)?),
        MsgType::PositionSnapshotRequest => Message::PositionSnapshotRequest(read_body(body)?),
        MsgType::PositionSnapshot => Message::PositionSnapshot(read_body(body)?),
        MsgType::Heartbeat => Message::Heartbeat(read_body(body)?),
        MsgType::Tick => Message::Tick(read_body(body)?),
        MsgType::SessionReject => Message::SessionReject(read_body(body)?),
    };
    Ok(Envelope { header, body: message })
}

/// The header's `seq`, read without decoding the rest: there when the frame has the bytes
/// that hold it (at least 20), whatever follows.
pub(super) fn peek_seq(frame: &[u8]) -> Option<u64> {
    frame.get(SEQ_AT..SEQ_AT + 8).and_then(|bytes| bytes.try_into().ok()).map(u64::from_le_bytes)
}

fn read_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, DecodeError> {
    let (value, used) = bincode::serde::decode_from_slice::<T, _>(body, body_config()).map_err(map_error)?;
    if used != body.len() {
        return Err(DecodeError::TrailingBytes(body.len() - used));
    }
    Ok(value)
}

fn map_error(err: bincode::error::DecodeError) -> DecodeError {
    use bincode::error::DecodeError as B;
    match err {
        B::UnexpectedEnd { additional } => DecodeError::Truncated(format!("body needs {additional} more bytes")),
        B::LimitExceeded => DecodeError::Oversize { len: usize::MAX, max: MAX_FRAME_BYTES },
        B::OtherString(message) => from_serde_message(&message),
        B::InvalidBooleanValue(v) => {
            DecodeError::InvalidValue { field: "bool".into(), reason: format!("byte {v} is not 0 or 1") }
        }
        B::Utf8 { .. } => DecodeError::InvalidValue { field: "string".into(), reason: "not UTF-8".into() },
        other => DecodeError::Malformed(other.to_string()),
    }
}

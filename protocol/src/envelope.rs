//! The envelope: a header every message travels in, plus the body.

use crate::ids::SessionId;
use crate::messages::Message;

/// The protocol version this build speaks. A frame with another version is refused.
pub const PROTOCOL_VERSION: u16 = 1;

/// Per-frame header. `seq` counts frames per direction and session, starting at 1;
/// `ack_seq` is the last `seq` received from the peer (0 before any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub version: u16,
    pub session_id: SessionId,
    pub seq: u64,
    pub ack_seq: u64,
    /// Sender's clock, ns since the Unix epoch.
    pub ts_ns: u64,
}

/// A message with its header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub header: Header,
    pub body: Message,
}

impl Envelope {
    /// Wraps a body with the current protocol version.
    pub fn new(session_id: SessionId, seq: u64, ack_seq: u64, ts_ns: u64, body: Message) -> Envelope {
        Envelope { header: Header { version: PROTOCOL_VERSION, session_id, seq, ack_seq, ts_ns }, body }
    }
}

//! Codecs: turn an [`Envelope`] into one ZeroMQ frame and back.
//!
//! Two encodings, chosen per connection: [`Codec::Bincode`] (fixed 36-byte little-endian
//! header + bincode 2 fixed-int LE body; the default, for speed) and [`Codec::Json`] (one
//! UTF-8 JSON object; for gateways written in other languages). Decoding never panics:
//! every bad input is a [`DecodeError`].

mod binary;
mod json;

use std::fmt;
use std::str::FromStr;

use crate::envelope::Envelope;
use crate::error::{DecodeError, EncodeError};

/// Largest frame either codec accepts or produces, in bytes.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Size of the binary header: version u16, msg_type u16, session_id u64, seq u64,
/// ack_seq u64, ts_ns u64.
pub const BINARY_HEADER_LEN: usize = binary::HEADER_LEN;

/// A wire encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Codec {
    #[default]
    Bincode,
    Json,
}

impl Codec {
    /// Encodes a message into a new frame.
    pub fn encode(self, envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
        let mut frame = Vec::with_capacity(128);
        self.encode_into(envelope, &mut frame)?;
        Ok(frame)
    }

    /// Encodes a message, replacing the contents of `frame` (reuse it to avoid allocating).
    pub fn encode_into(self, envelope: &Envelope, frame: &mut Vec<u8>) -> Result<(), EncodeError> {
        frame.clear();
        match self {
            Codec::Bincode => binary::encode_into(envelope, frame)?,
            Codec::Json => json::encode_into(envelope, frame)?,
        }
        if frame.len() > MAX_FRAME_BYTES {
            return Err(EncodeError::Oversize { len: frame.len(), max: MAX_FRAME_BYTES });
        }
        Ok(())
    }

    /// Decodes and validates one frame.
    pub fn decode(self, frame: &[u8]) -> Result<Envelope, DecodeError> {
        if frame.is_empty() {
            return Err(DecodeError::Empty);
        }
        if frame.len() > MAX_FRAME_BYTES {
            return Err(DecodeError::Oversize { len: frame.len(), max: MAX_FRAME_BYTES });
        }
        let envelope = match self {
            Codec::Bincode => binary::decode(frame)?,
            Codec::Json => json::decode(frame)?,
        };
        envelope.body.validate()?;
        Ok(envelope)
    }

    /// The header's `seq` of a frame in this codec, read without decoding the rest; `None`
    /// when it cannot be read. For the `ref_seq` of a `SessionReject` answering a frame that
    /// failed to decode (docs/PROTOCOL.md §8.2): binary, when the frame has the 20 bytes up to
    /// and including `seq`; JSON, when the frame is an object with a u64 `seq`.
    pub fn peek_seq(self, frame: &[u8]) -> Option<u64> {
        match self {
            Codec::Bincode => binary::peek_seq(frame),
            Codec::Json => json::peek_seq(frame),
        }
    }

    /// Guesses the codec of a frame from its first byte: `{` is JSON, anything else binary.
    /// A gateway may use this to answer each peer in the codec it speaks.
    pub fn detect(frame: &[u8]) -> Codec {
        match frame.first() {
            Some(b'{') => Codec::Json,
            _ => Codec::Bincode,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Codec::Bincode => "bincode",
            Codec::Json => "json",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text named no codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown codec {0:?}: expected bincode or json")]
pub struct UnknownCodec(pub String);

impl FromStr for Codec {
    type Err = UnknownCodec;
    fn from_str(text: &str) -> Result<Codec, UnknownCodec> {
        match text {
            "bincode" => Ok(Codec::Bincode),
            "json" => Ok(Codec::Json),
            other => Err(UnknownCodec(other.chars().take(32).collect())),
        }
    }
}

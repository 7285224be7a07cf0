//! The wire between the engine and an execution gateway, and nothing else.
//!
//! This is the only crate that knows how messages are encoded. Everything that crosses a
//! process boundary is defined here, once, so both ends share one definition.
//!
//! Layout:
//! - [`fixed`]: decimal parsing/formatting and the one rounding rule (half-to-even).
//! - [`values`]: fixed-point `Price`, `Qty`, `Money`, and the `Ppm` rate.
//! - [`symbol`]: the inline, validated `Symbol` name.
//! - [`ids`]: `IntentId` (client order id) and the other identifiers.
//! - [`enums`]: wire enums (`Side`, `OrdType`, `ExecType`, `OrdStatus`, `RejectCode`).
//! - [`messages`]: message bodies (`NewOrder`, `ExecReport`, `Tick`, ...) and `Message`.
//! - [`envelope`]: the header every message travels in.
//! - [`codec`]: the bincode (fixed-int LE) and JSON encodings.
//! - [`error`]: typed encode/decode errors (`EncodeError`, `DecodeError`).
//!
//! `docs/PROTOCOL.md` at the repo root specifies all of it for implementers in other languages.

pub mod codec;
pub mod enums;
pub mod envelope;
pub mod error;
pub mod fixed;
pub mod ids;
pub mod messages;
pub mod symbol;
pub mod values;

pub use codec::Codec;
pub use enums::{ExecType, OrdStatus, OrdType, RejectCode, Side};
pub use envelope::{Envelope, Header, PROTOCOL_VERSION};
pub use error::{DecodeError, EncodeError};
pub use fixed::FixedError;
pub use ids::{ExecId, IntentId, OrderId, SessionId};
pub use messages::{
    ExecReport, Heartbeat, Message, MsgType, NewOrder, OrderStatusQuery, PositionEntry, PositionSnapshot,
    PositionSnapshotRequest, SessionReject, Tick,
};
pub use symbol::Symbol;
pub use values::{Money, Ppm, Price, Qty};

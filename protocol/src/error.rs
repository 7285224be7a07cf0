//! Typed encode/decode errors, and the fault markers that carry them through serde.
//!
//! serde only lets a `Deserialize` impl report a string, so value checks (a negative
//! quantity, an unknown enum code, a bad symbol) format a [`Fault`] into a marker that the
//! codec turns back into the matching [`DecodeError`] variant.

use crate::fixed::FixedError;

/// Why a frame could not be decoded. Every variant is reachable from untrusted bytes; none
/// of them is a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("empty frame")]
    Empty,
    #[error("frame truncated: {0}")]
    Truncated(String),
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversize { len: usize, max: usize },
    #[error("protocol version {got} not supported (this side speaks {supported})")]
    UnsupportedVersion { got: u16, supported: u16 },
    #[error("unknown message type {0}")]
    UnknownMessageType(String),
    #[error("{ty} has no value {value}")]
    UnknownEnumValue { ty: String, value: String },
    #[error("negative quantity {0}")]
    NegativeQuantity(String),
    #[error("invalid {field}: {reason}")]
    InvalidValue { field: String, reason: String },
    #[error("invalid symbol {0:?}")]
    InvalidSymbol(String),
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    #[error("malformed frame: {0}")]
    Malformed(String),
}

impl DecodeError {
    /// Short stable name, used as a metrics label and in session rejects.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::Empty => "empty",
            DecodeError::Truncated(_) => "truncated",
            DecodeError::Oversize { .. } => "oversize",
            DecodeError::UnsupportedVersion { .. } => "unsupported_version",
            DecodeError::UnknownMessageType(_) => "unknown_message_type",
            DecodeError::UnknownEnumValue { .. } => "unknown_enum_value",
            DecodeError::NegativeQuantity(_) => "negative_quantity",
            DecodeError::InvalidValue { .. } => "invalid_value",
            DecodeError::InvalidSymbol(_) => "invalid_symbol",
            DecodeError::TrailingBytes(_) => "trailing_bytes",
            DecodeError::Malformed(_) => "malformed",
        }
    }
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("encoded frame of {len} bytes exceeds the {max}-byte limit")]
    Oversize { len: usize, max: usize },
    #[error("serialization failed: {0}")]
    Serialize(String),
}

/// A value-level fault found while deserializing, carried through serde as a marker string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    UnknownEnum { ty: &'static str, value: String },
    NegativeQty(String),
    Invalid { field: &'static str, reason: String },
    Symbol(String),
}

const OPEN: &str = "\u{27E6}fault|";
const CLOSE: char = '\u{27E7}';

impl Fault {
    /// The marker text handed to `serde::de::Error::custom`.
    pub(crate) fn marker(&self) -> String {
        let (kind, a, b) = match self {
            Fault::UnknownEnum { ty, value } => ("enum", ty.to_string(), value.clone()),
            Fault::NegativeQty(v) => ("negqty", v.clone(), String::new()),
            Fault::Invalid { field, reason } => ("invalid", field.to_string(), reason.clone()),
            Fault::Symbol(s) => ("symbol", s.clone(), String::new()),
        };
        // The payload is escaped so that a hostile value cannot forge the separators.
        format!("{OPEN}{kind}|{}|{}{CLOSE}", escape(&a), escape(&b))
    }

    pub(crate) fn from_fixed(field: &'static str, err: &FixedError) -> Fault {
        match err {
            FixedError::Negative(v) if field == "qty" => Fault::NegativeQty(v.clone()),
            other => Fault::Invalid { field, reason: other.to_string() },
        }
    }
}

fn escape(s: &str) -> String {
    s.chars().filter(|c| *c != '|' && *c != CLOSE).take(64).collect()
}

/// Turns a serde error message from either codec into a typed error, recognising fault
/// markers; anything else is `Malformed` with the original message.
pub(crate) fn from_serde_message(msg: &str) -> DecodeError {
    if let Some(start) = msg.find(OPEN) {
        let rest = &msg[start + OPEN.len()..];
        if let Some(end) = rest.find(CLOSE) {
            let mut parts = rest[..end].splitn(3, '|');
            let kind = parts.next().unwrap_or("");
            let a = parts.next().unwrap_or("").to_string();
            let b = parts.next().unwrap_or("").to_string();
            return match kind {
                "enum" => DecodeError::UnknownEnumValue { ty: a, value: b },
                "negqty" => DecodeError::NegativeQuantity(a),
                "invalid" => DecodeError::InvalidValue { field: a, reason: b },
                "symbol" => DecodeError::InvalidSymbol(a),
                _ => DecodeError::Malformed(msg.to_string()),
            };
        }
    }
    DecodeError::Malformed(msg.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_to_typed_errors() {
        let cases = [
            (
                Fault::UnknownEnum { ty: "Side", value: "9".into() },
                DecodeError::UnknownEnumValue { ty: "Side".into(), value: "9".into() },
            ),
            (Fault::NegativeQty("-1".into()), DecodeError::NegativeQuantity("-1".into())),
            (
                Fault::Invalid { field: "price", reason: "NaN".into() },
                DecodeError::InvalidValue { field: "price".into(), reason: "NaN".into() },
            ),
            (Fault::Symbol("a b".into()), DecodeError::InvalidSymbol("a b".into())),
        ];
        for (fault, expected) in cases {
            let wrapped = format!("prefix {} at line 1 column 7", fault.marker());
            assert_eq!(from_serde_message(&wrapped), expected);
        }
    }

    #[test]
    fn hostile_payload_cannot_forge_separators() {
        let fault = Fault::Symbol(format!("x|negqty|{CLOSE}"));
        assert_eq!(from_serde_message(&fault.marker()), DecodeError::InvalidSymbol("xnegqty".into()));
    }

    #[test]
    fn plain_messages_are_malformed() {
        assert!(matches!(from_serde_message("expected value"), DecodeError::Malformed(_)));
    }
}

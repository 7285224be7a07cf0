//! Wire enums. bincode carries each as a `u8` code; JSON carries its snake_case name.
//! An unknown code or name is a typed `UnknownEnumValue` error, never a panic.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Fault;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $code:literal => $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every variant, in code order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire code (bincode).
            pub const fn code(self) -> u8 {
                match self { $($name::$variant => $code,)+ }
            }

            /// The wire name (JSON).
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)+ }
            }

            /// The variant with this code, if any.
            pub fn from_code(code: u8) -> Option<$name> {
                match code { $($code => Some($name::$variant),)+ _ => None }
            }

            /// The variant with this name, if any.
            pub fn from_name(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(self.as_str())
                } else {
                    s.serialize_u8(self.code())
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                /// `human`: JSON (names only) or binary (u8 codes only).
                struct V { human: bool }
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " name or code"))
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        $name::from_name(text).ok_or_else(|| E::custom(Fault::UnknownEnum {
                            ty: stringify!($name),
                            value: text.chars().take(32).collect(),
                        }.marker()))
                    }
                    fn visit_u64<E: de::Error>(self, code: u64) -> Result<$name, E> {
                        if self.human {
                            return Err(E::custom(Fault::UnknownEnum { ty: stringify!($name), value: code.to_string() }.marker()));
                        }
                        u8::try_from(code).ok().and_then($name::from_code).ok_or_else(|| {
                            E::custom(Fault::UnknownEnum { ty: stringify!($name), value: code.to_string() }.marker())
                        })
                    }
                    fn visit_i64<E: de::Error>(self, code: i64) -> Result<$name, E> {
                        Err(E::custom(Fault::UnknownEnum { ty: stringify!($name), value: code.to_string() }.marker()))
                    }
                }
                if d.is_human_readable() {
                    d.deserialize_any(V { human: true })
                } else {
                    d.deserialize_u8(V { human: false })
                }
            }
        }
    };
}

wire_enum!(
    /// Order side (FIX Side): Buy opens a long or closes a short; Sell the reverse.
    Side {
        Buy = 1 => "buy",
        Sell = 2 => "sell",
    }
);

impl Side {
    /// The other side.
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

wire_enum!(
    /// Order type (FIX OrdType + TimeInForce). `Market` fills at the touch; `Ioc` is a limit
    /// order, immediate-or-cancel, that needs `limit_price`.
    OrdType {
        Market = 1 => "market",
        Ioc = 2 => "ioc",
    }
);

wire_enum!(
    /// What one execution report says happened (FIX ExecType).
    ExecType {
        New = 0 => "new",
        PartialFill = 1 => "partial_fill",
        Fill = 2 => "fill",
        Canceled = 4 => "canceled",
        Rejected = 8 => "rejected",
        Expired = 12 => "expired",
        /// A reply to an `OrderStatusQuery` (FIX ExecType I): no new execution.
        OrderStatus = 13 => "order_status",
    }
);

wire_enum!(
    /// The state of the order after this report (FIX OrdStatus).
    OrdStatus {
        New = 0 => "new",
        PartiallyFilled = 1 => "partially_filled",
        Filled = 2 => "filled",
        Canceled = 4 => "canceled",
        Rejected = 8 => "rejected",
        Expired = 12 => "expired",
    }
);

impl OrdStatus {
    /// True when the order can receive no further executions.
    pub const fn is_terminal(self) -> bool {
        matches!(self, OrdStatus::Filled | OrdStatus::Canceled | OrdStatus::Rejected | OrdStatus::Expired)
    }
}

wire_enum!(
    /// Why an order or a frame was refused. `None` on reports that are not rejects.
    RejectCode {
        None = 0 => "none",
        UnknownSymbol = 1 => "unknown_symbol",
        InvalidQty = 2 => "invalid_qty",
        InvalidPrice = 3 => "invalid_price",
        /// The intent id was seen before with a different order body.
        DuplicateIntentMismatch = 4 => "duplicate_intent_mismatch",
        /// `expire_at_ns` had passed when the gateway received the order.
        Expired = 5 => "expired",
        /// The gateway's own risk or fault injection refused the order.
        GatewayRisk = 6 => "gateway_risk",
        /// No market data yet for the symbol.
        NoMarket = 7 => "no_market",
        /// A status query named an intent the gateway never saw.
        UnknownOrder = 8 => "unknown_order",
        /// Session level: the frame could not be decoded.
        MalformedFrame = 9 => "malformed_frame",
        /// Session level: wrong protocol version.
        UnsupportedVersion = 10 => "unsupported_version",
        Other = 99 => "other",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_unique_and_round_trip() {
        fn check<T: Copy + PartialEq + std::fmt::Debug>(
            all: &[T],
            code: fn(T) -> u8,
            name: fn(T) -> &'static str,
            from_code: fn(u8) -> Option<T>,
            from_name: fn(&str) -> Option<T>,
        ) {
            for (i, a) in all.iter().enumerate() {
                assert_eq!(from_code(code(*a)), Some(*a));
                assert_eq!(from_name(name(*a)), Some(*a));
                for b in &all[i + 1..] {
                    assert_ne!(code(*a), code(*b));
                    assert_ne!(name(*a), name(*b));
                }
            }
        }
        check(Side::ALL, Side::code, Side::as_str, Side::from_code, Side::from_name);
        check(OrdType::ALL, OrdType::code, OrdType::as_str, OrdType::from_code, OrdType::from_name);
        check(ExecType::ALL, ExecType::code, ExecType::as_str, ExecType::from_code, ExecType::from_name);
        check(OrdStatus::ALL, OrdStatus::code, OrdStatus::as_str, OrdStatus::from_code, OrdStatus::from_name);
        check(RejectCode::ALL, RejectCode::code, RejectCode::as_str, RejectCode::from_code, RejectCode::from_name);
    }

    #[test]
    fn terminal_statuses() {
        assert!(!OrdStatus::New.is_terminal());
        assert!(!OrdStatus::PartiallyFilled.is_terminal());
        assert!(OrdStatus::Filled.is_terminal());
        assert!(OrdStatus::Expired.is_terminal());
    }
}

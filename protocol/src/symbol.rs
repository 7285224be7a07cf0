//! `Symbol`: an instrument name stored inline (no allocation, `Copy`), validated once.
//!
//! Allowed: 1 to 23 ASCII characters from `A-Z a-z 0-9 . _ -`. Venue spellings such as
//! `BTC/USDT:USDT` are not symbols; the engine's symbol registry maps such aliases to one
//! canonical name at the edge.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Fault;

/// Longest symbol name, in bytes.
pub const MAX_SYMBOL_LEN: usize = 23;

/// A validated instrument name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol {
    len: u8,
    bytes: [u8; MAX_SYMBOL_LEN],
}

/// Why a text is not a symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid symbol {0:?}: 1 to 23 characters from A-Z a-z 0-9 . _ -")]
pub struct SymbolError(pub String);

impl Symbol {
    /// Validates and stores a symbol name.
    pub fn new(text: &str) -> Result<Symbol, SymbolError> {
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if text.is_empty() || text.len() > MAX_SYMBOL_LEN || !text.bytes().all(valid_char) {
            return Err(SymbolError(text.chars().take(64).collect()));
        }
        let mut bytes = [0u8; MAX_SYMBOL_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(Symbol { len: text.len() as u8, bytes })
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored, so this cannot fail; an empty string is the fallback.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl FromStr for Symbol {
    type Err = SymbolError;
    fn from_str(text: &str) -> Result<Symbol, SymbolError> {
        Symbol::new(text)
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({})", self.as_str())
    }
}

impl Serialize for Symbol {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Symbol {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Symbol, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Symbol;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a symbol string")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Symbol, E> {
                Symbol::new(text).map_err(|e| E::custom(Fault::Symbol(e.0).marker()))
            }
        }
        d.deserialize_str(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("BTCUSD.s")]
    #[case("XAUUSD.s")]
    #[case("SYM_0001")]
    #[case("ES-Z6")]
    #[case("ABCDEFGHIJKLMNOPQRSTUVW")]
    fn accepts_valid_names(#[case] text: &str) {
        assert_eq!(Symbol::new(text).unwrap().as_str(), text);
    }

    #[rstest]
    #[case("")]
    #[case("BTC/USDT:USDT")]
    #[case("BTC USD")]
    #[case("ABCDEFGHIJKLMNOPQRSTUVWX")]
    #[case("BTC\u{e9}")]
    fn refuses_invalid_names(#[case] text: &str) {
        assert!(Symbol::new(text).is_err());
    }

    #[test]
    fn equal_names_are_equal_symbols() {
        assert_eq!(Symbol::new("A").unwrap(), "A".parse::<Symbol>().unwrap());
        assert_ne!(Symbol::new("A").unwrap(), Symbol::new("AB").unwrap());
    }
}

//! Known symbols, their market models, and aliases. Symbol names are normalized here, at
//! the edge, once: an alias maps to its canonical symbol and an unknown name is refused.

use std::collections::HashMap;

use protocol::{Price, Qty, Symbol};

use crate::feed::InstrumentModel;

/// A name that is neither a known symbol nor an alias.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown symbol {0:?}")]
pub struct UnknownSymbol(pub String);

/// Trading settings of one symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SymbolSpec {
    pub model: InstrumentModel,
    /// Order size used by the built-in strategies.
    pub order_qty: Qty,
}

/// The symbols this engine trades.
#[derive(Clone, Debug, Default)]
pub struct SymbolRegistry {
    specs: Vec<SymbolSpec>,
    index: HashMap<Symbol, usize>,
    aliases: HashMap<String, Symbol>,
}

impl SymbolRegistry {
    pub fn new(specs: Vec<SymbolSpec>) -> SymbolRegistry {
        let index = specs.iter().enumerate().map(|(i, s)| (s.model.symbol, i)).collect();
        SymbolRegistry { specs, index, aliases: HashMap::new() }
    }

    /// Registers `alias` (e.g. a venue spelling) for a known symbol.
    pub fn add_alias(&mut self, alias: &str, symbol: Symbol) -> Result<(), UnknownSymbol> {
        if !self.index.contains_key(&symbol) {
            return Err(UnknownSymbol(symbol.to_string()));
        }
        self.aliases.insert(alias.to_string(), symbol);
        Ok(())
    }

    /// The canonical symbol for a name or alias.
    pub fn resolve(&self, name: &str) -> Result<Symbol, UnknownSymbol> {
        if let Some(symbol) = self.aliases.get(name) {
            return Ok(*symbol);
        }
        match Symbol::new(name) {
            Ok(symbol) if self.index.contains_key(&symbol) => Ok(symbol),
            _ => Err(UnknownSymbol(name.chars().take(64).collect())),
        }
    }

    pub fn spec(&self, symbol: &Symbol) -> Option<&SymbolSpec> {
        self.index.get(symbol).map(|i| &self.specs[*i])
    }
    pub fn specs(&self) -> &[SymbolSpec] {
        &self.specs
    }
    pub fn symbols(&self) -> impl Iterator<Item = Symbol> + '_ {
        self.specs.iter().map(|s| s.model.symbol)
    }
    pub fn len(&self) -> usize {
        self.specs.len()
    }
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }
}

fn price(units: i64) -> Price {
    Price::units(units).unwrap_or(Price::ZERO)
}

/// The market model for a symbol: realistic for the three default instruments, a generic
/// 100.00 instrument for generated names (`SYM0001`, ...).
pub fn default_model(symbol: Symbol) -> InstrumentModel {
    match symbol.as_str() {
        "BTCUSD.s" => InstrumentModel {
            symbol,
            base_price: price(100_000),
            tick_size_raw: 1_000_000,
            spread_ticks: 100,
            step_ppm: 300,
        },
        "ETHUSD.s" => InstrumentModel {
            symbol,
            base_price: price(3_500),
            tick_size_raw: 1_000_000,
            spread_ticks: 20,
            step_ppm: 400,
        },
        "XAUUSD.s" => InstrumentModel {
            symbol,
            base_price: price(2_650),
            tick_size_raw: 1_000_000,
            spread_ticks: 30,
            step_ppm: 150,
        },
        _ => {
            InstrumentModel { symbol, base_price: price(100), tick_size_raw: 1_000_000, spread_ticks: 2, step_ppm: 400 }
        }
    }
}

/// A sensible order size (about 100 quote units of notional, on the instrument's lot).
pub fn default_order_qty(symbol: Symbol) -> Qty {
    let raw = match symbol.as_str() {
        "BTCUSD.s" => 100_000,   // 0.001
        "ETHUSD.s" => 3_000_000, // 0.03
        "XAUUSD.s" => 4_000_000, // 0.04
        _ => 100_000_000,        // 1
    };
    Qty::from_raw(raw).unwrap_or(Qty::ZERO)
}

/// A registry with default models and sizes for the given names.
pub fn registry_for(symbols: &[Symbol]) -> SymbolRegistry {
    SymbolRegistry::new(
        symbols.iter().map(|s| SymbolSpec { model: default_model(*s), order_qty: default_order_qty(*s) }).collect(),
    )
}

/// `n` generated symbol names: `SYM0001`, `SYM0002`, ...
pub fn generated_symbols(n: usize) -> Vec<Symbol> {
    (1..=n).filter_map(|i| Symbol::new(&format!("SYM{i:04}")).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_and_aliases_and_refuses_the_rest() {
        let btc = Symbol::new("BTCUSD.s").unwrap();
        let mut r = registry_for(&[btc]);
        r.add_alias("BTC/USDT:USDT", btc).unwrap();
        r.add_alias("BTC/USDT", btc).unwrap();
        assert_eq!(r.resolve("BTCUSD.s"), Ok(btc));
        assert_eq!(r.resolve("BTC/USDT:USDT"), Ok(btc));
        assert_eq!(r.resolve("BTC/USDT"), Ok(btc));
        assert!(r.resolve("ETHUSD.s").is_err());
        assert!(r.resolve("").is_err());
        assert!(r.add_alias("x", Symbol::new("NOPE").unwrap()).is_err());
    }

    #[test]
    fn generated_names_are_valid_and_distinct() {
        let names = generated_symbols(1000);
        assert_eq!(names.len(), 1000);
        assert_eq!(names[999].as_str(), "SYM1000");
    }
}

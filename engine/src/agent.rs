//! External decision makers ("agents"): who they are, what they may ask of a symbol, and
//! why the core refuses it. The core takes an agent's decision through the same guards as a
//! built-in strategy's (`SymbolCore::on_agent_intent`); this file holds only the types.
//!
//! One decision authority per symbol: a symbol is driven either by its built-in strategy
//! ([`Authority::Strategy`]) or by one agent ([`Authority::Agent`]), never both.

use std::fmt;

use protocol::{Money, Ppm, Price, Qty};

use crate::clock::TimeNs;
use crate::efsm::Direction;
use crate::intent::{ExitRules, Intent};
use crate::risk::Refusal;

/// Longest agent id, in bytes.
pub const MAX_AGENT_ID_LEN: usize = 32;

/// An agent's id: 1 to 32 characters from `A-Z a-z 0-9 . _ -`, stored inline (`Copy`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId {
    len: u8,
    bytes: [u8; MAX_AGENT_ID_LEN],
}

/// Why a text is not an agent id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid agent id {0:?}: 1 to 32 characters from A-Z a-z 0-9 . _ -")]
pub struct AgentIdError(pub String);

impl AgentId {
    pub fn new(text: &str) -> Result<AgentId, AgentIdError> {
        let valid_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if text.is_empty() || text.len() > MAX_AGENT_ID_LEN || !text.bytes().all(valid_char) {
            return Err(AgentIdError(text.chars().take(64).collect()));
        }
        let mut bytes = [0u8; MAX_AGENT_ID_LEN];
        bytes[..text.len()].copy_from_slice(text.as_bytes());
        Ok(AgentId { len: text.len() as u8, bytes })
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever stored; the empty fallback cannot happen.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentId({})", self.as_str())
    }
}

impl std::str::FromStr for AgentId {
    type Err = AgentIdError;
    fn from_str(text: &str) -> Result<AgentId, AgentIdError> {
        AgentId::new(text)
    }
}

/// Who decides a symbol's entries and strategy exits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Authority {
    /// The built-in strategy the symbol was started with.
    #[default]
    Strategy,
    /// This agent, through the intent endpoint; the built-in strategy is never asked.
    Agent(AgentId),
}

/// What an agent asks of a symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentCommand {
    /// Open a position (only when flat), with the intent's exit rules.
    Enter(Intent),
    /// Open a position sized as a fraction of the account equity: the core computes the qty
    /// from the last quote ([`qty_for_fraction`]), then takes it as an [`AgentCommand::Enter`].
    EnterFraction(FractionEntry),
    /// Close the open position.
    Exit,
}

impl AgentCommand {
    /// The entry's direction (`None`: an exit).
    pub const fn entry_direction(&self) -> Option<Direction> {
        match self {
            AgentCommand::Enter(intent) => Some(intent.direction),
            AgentCommand::EnterFraction(entry) => Some(entry.direction),
            AgentCommand::Exit => None,
        }
    }
}

/// An entry sized as `fraction` of the account equity (`equity_fraction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FractionEntry {
    pub direction: Direction,
    /// The fraction of equity, in parts per million: `1..=1_000_000` (0 < f <= 1, 6 decimals).
    pub fraction: Ppm,
    pub exits: ExitRules,
}

impl FractionEntry {
    /// The entry with this qty.
    pub const fn with_qty(&self, qty: Qty) -> Intent {
        Intent { direction: self.direction, qty, exits: self.exits }
    }
}

/// `fraction × equity / price`, rounded down to the qty's precision (8 decimals), in exact
/// integer arithmetic: qty_raw = ⌊ppm × equity_raw × 100 / price_raw⌋ (equity and price raw
/// are ×10^8, ppm ×10^6). `None`: no usable price (<= 0). A negative equity gives 0; a
/// result beyond the `Qty` range saturates (`i64::MAX` raw), which every size guard refuses.
pub fn qty_for_fraction(fraction: Ppm, equity: Money, price: Price) -> Option<Qty> {
    let price = i128::from(price.raw());
    if price <= 0 {
        return None;
    }
    let numerator = i128::from(fraction.0) * i128::from(equity.raw().max(0)) * 100;
    let raw = i64::try_from(numerator / price).unwrap_or(i64::MAX);
    Qty::from_raw(raw).ok()
}

/// An agent's decision as the core takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentDecision {
    pub agent: AgentId,
    pub command: AgentCommand,
    /// Refused as expired at or after this time (the core's clock); `None`: no deadline.
    pub valid_until: Option<TimeNs>,
}

/// What a silent agent's symbols do (`on_silence` in `[[agents.agent]]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnSilence {
    /// No entries; open positions keep their protective exits.
    #[default]
    StopEntries,
    /// No entries, and every open position is closed (exit reason `flatten`).
    Flatten,
}

impl OnSilence {
    pub const fn as_str(self) -> &'static str {
        match self {
            OnSilence::StopEntries => "stop_entries",
            OnSilence::Flatten => "flatten",
        }
    }
}

impl std::str::FromStr for OnSilence {
    type Err = String;
    fn from_str(text: &str) -> Result<OnSilence, String> {
        match text {
            "stop_entries" => Ok(OnSilence::StopEntries),
            "flatten" => Ok(OnSilence::Flatten),
            other => Err(format!("{other:?} is not \"stop_entries\" or \"flatten\"")),
        }
    }
}

/// Whether an agent-driven symbol's agent is heard from, as the symbol's core knows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Liveness {
    /// Heard from within its heartbeat timeout (also a strategy symbol's fixed state).
    #[default]
    Alive,
    /// Silent: entries refused (`agent_silent`), and with `Flatten` every open position is
    /// closed.
    Silent(OnSilence),
}

impl Liveness {
    pub const fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Silent(_) => "silent",
        }
    }
}

/// Why the core refused an agent's decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentRefusal {
    /// A guard every decision goes through (control, risk, breaker, cooldown, validation).
    Guard(Refusal),
    /// This agent is not the symbol's decision authority.
    NotAuthority,
    /// `valid_until` had passed when the decision reached the symbol.
    Expired,
    /// An entry opposite to the open position (one-way positions, no reversal).
    PositionOpenOpposite,
    /// An entry in the direction of the open position (one entry per trade).
    PositionOpen,
    /// An order of this symbol is on the wire (one order in flight).
    OrderInFlight,
    /// An exit is already on the wire (a protective exit, or an earlier one): one exit.
    ExitInFlight,
    /// An exit with no open position.
    NoPosition,
    /// The symbol is halted or reconciling with the venue.
    NotTrading,
    /// The agent is silent (no authenticated request within its heartbeat timeout, or
    /// never seen): its symbols take no entries; protective exits keep running.
    AgentSilent,
}

impl AgentRefusal {
    /// The stable reason code (docs/AGENTS.md).
    pub const fn code(self) -> &'static str {
        match self {
            AgentRefusal::Guard(Refusal::InvalidIntent(_)) => "invalid_field",
            AgentRefusal::Guard(refusal) => refusal.code(),
            AgentRefusal::NotAuthority => "not_authority",
            AgentRefusal::Expired => "expired",
            AgentRefusal::PositionOpenOpposite => "position_open_opposite",
            AgentRefusal::PositionOpen => "position_open",
            AgentRefusal::OrderInFlight => "order_in_flight",
            AgentRefusal::ExitInFlight => "exit_in_flight",
            AgentRefusal::NoPosition => "no_position",
            AgentRefusal::NotTrading => "symbol_not_trading",
            AgentRefusal::AgentSilent => "agent_silent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_ids_are_validated() {
        assert_eq!(AgentId::new("mean-rev_1.a").map(|a| a.to_string()), Ok("mean-rev_1.a".to_string()));
        for bad in ["", "has space", "slash/", &"x".repeat(33), "é"] {
            assert!(AgentId::new(bad).is_err(), "{bad:?}");
        }
        assert!(AgentId::new(&"x".repeat(32)).is_ok());
    }

    fn fraction_qty(ppm: u32, equity: &str, price: &str) -> Option<Qty> {
        qty_for_fraction(Ppm(ppm), equity.parse().unwrap(), price.parse().unwrap())
    }

    #[test]
    fn a_fraction_of_equity_is_rounded_down_to_8_decimals() {
        // 10 % of 1,000,000 at 3,000 = 33.333333333... → 33.33333333 (never rounded up).
        assert_eq!(fraction_qty(100_000, "1000000", "3000"), Some("33.33333333".parse().unwrap()));
        // Exact results stay exact.
        assert_eq!(fraction_qty(250_000, "1000", "50"), Some("5".parse().unwrap()));
        assert_eq!(fraction_qty(1_000_000, "100000", "100000.5"), Some("0.99999500".parse().unwrap()));
        // 0.000001 of 1 at 100,000: 1e-11 → 0.
        assert_eq!(fraction_qty(1, "1", "100000"), Some(Qty::ZERO));
        // A negative equity sizes nothing; no price, no size.
        assert_eq!(fraction_qty(500_000, "-10", "100"), Some(Qty::ZERO));
        assert_eq!(fraction_qty(500_000, "10", "0"), None);
    }

    proptest::proptest! {
        #[test]
        fn the_fraction_qty_is_the_exact_floor(
            ppm in 1u32..=1_000_000,
            equity in 0i64..1_000_000_000_000_000,
            price in 100_000i64..10_000_000_000_000,
        ) {
            let qty = qty_for_fraction(Ppm(ppm), Money::from_raw_signed(equity), Price::from_raw(price).unwrap())
                .unwrap();
            // qty × price <= fraction × equity < (qty + 1e-8) × price, all ×10^16 (×10^6 ppm).
            let wanted = i128::from(ppm) * i128::from(equity) * 100;
            let q = i128::from(qty.raw());
            proptest::prop_assert!(q * i128::from(price) <= wanted);
            proptest::prop_assert!((q + 1) * i128::from(price) > wanted);
        }
    }

    #[test]
    fn on_silence_is_one_of_two_policies() {
        assert_eq!("stop_entries".parse(), Ok(OnSilence::StopEntries));
        assert_eq!("flatten".parse(), Ok(OnSilence::Flatten));
        assert!("close".parse::<OnSilence>().is_err());
        assert_eq!(OnSilence::Flatten.as_str(), "flatten");
        assert_eq!(AgentRefusal::AgentSilent.code(), "agent_silent");
    }
}

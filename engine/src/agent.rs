//! External decision makers ("agents"): who they are, what they may ask of a symbol, and
//! why the core refuses it. The core takes an agent's decision through the same guards as a
//! built-in strategy's (`SymbolCore::on_agent_intent`); this file holds only the types.
//!
//! One decision authority per symbol: a symbol is driven either by its built-in strategy
//! ([`Authority::Strategy`]) or by one agent ([`Authority::Agent`]), never both.

use std::fmt;

use crate::clock::TimeNs;
use crate::intent::Intent;
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
    /// Close the open position.
    Exit,
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

    #[test]
    fn on_silence_is_one_of_two_policies() {
        assert_eq!("stop_entries".parse(), Ok(OnSilence::StopEntries));
        assert_eq!("flatten".parse(), Ok(OnSilence::Flatten));
        assert!("close".parse::<OnSilence>().is_err());
        assert_eq!(OnSilence::Flatten.as_str(), "flatten");
        assert_eq!(AgentRefusal::AgentSilent.code(), "agent_silent");
    }
}

//! Intents (what a strategy wants to do) and their exit rules, validated — never clamped.
//!
//! An out-of-range value is refused with the field named, so what is traded is always
//! exactly what was asked for.

use protocol::{Ppm, Qty};

use crate::clock::NS_PER_SEC;
use crate::efsm::Direction;

/// Trailing stop: arms once the trade's best return reaches `activation`, then exits when
/// price gives back `distance` from its best level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Trailing {
    pub activation: Ppm,
    pub distance: Ppm,
}

/// Exit rules carried by an intent and enforced by the core while the trade is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ExitRules {
    pub take_profit: Option<Ppm>,
    pub stop_loss: Option<Ppm>,
    pub trailing: Option<Trailing>,
    /// Longest time in trade, in seconds.
    pub max_hold_secs: Option<u32>,
    /// After a close, no new entry in the same direction for this many seconds.
    pub cooldown_secs: u32,
}

impl ExitRules {
    pub fn max_hold_ns(&self) -> Option<u64> {
        self.max_hold_secs.map(|s| u64::from(s) * NS_PER_SEC)
    }
    pub fn cooldown_ns(&self) -> u64 {
        u64::from(self.cooldown_secs) * NS_PER_SEC
    }
}

/// A request to open a position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intent {
    pub direction: Direction,
    pub qty: Qty,
    pub exits: ExitRules,
}

/// The accepted ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntentLimits {
    pub max_qty: Qty,
    /// Largest take-profit, stop-loss, trailing activation or distance.
    pub max_pct: Ppm,
    pub max_hold_secs: u32,
    pub max_cooldown_secs: u32,
}

impl Default for IntentLimits {
    fn default() -> Self {
        IntentLimits {
            max_qty: Qty::from_raw(1_000_000 * protocol::fixed::SCALE).unwrap_or(Qty::ZERO),
            max_pct: Ppm(500_000), // 50 %
            max_hold_secs: 7 * 24 * 3600,
            max_cooldown_secs: 24 * 3600,
        }
    }
}

/// An intent field outside its accepted range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("intent field {field} = {value} is out of range ({allowed})")]
pub struct IntentError {
    pub field: &'static str,
    pub value: String,
    pub allowed: String,
}

impl Intent {
    /// Accepts the intent as given, or names the first field that is out of range.
    pub fn validate(&self, limits: &IntentLimits) -> Result<(), IntentError> {
        // Error texts are built only on failure: this runs on the entry path.
        fn fail(field: &'static str, value: String, allowed: String) -> Result<(), IntentError> {
            Err(IntentError { field, value, allowed })
        }
        if self.qty.is_zero() || self.qty > limits.max_qty {
            return fail("qty", self.qty.to_string(), format!("> 0 and <= {}", limits.max_qty));
        }
        self.exits.validate(limits)
    }
}

impl ExitRules {
    /// Accepts the exit rules as given, or names the first field that is out of range.
    pub fn validate(&self, limits: &IntentLimits) -> Result<(), IntentError> {
        fn fail(field: &'static str, value: String, allowed: String) -> Result<(), IntentError> {
            Err(IntentError { field, value, allowed })
        }
        let check_pct = |field: &'static str, v: Ppm, allow_zero: bool| {
            if (v.0 == 0 && !allow_zero) || v > limits.max_pct {
                let allowed = format!("> 0% and <= {}%", limits.max_pct.to_percent_string());
                return fail(field, format!("{}%", v.to_percent_string()), allowed);
            }
            Ok(())
        };
        if let Some(tp) = self.take_profit {
            check_pct("tp_pct", tp, false)?;
        }
        if let Some(sl) = self.stop_loss {
            check_pct("sl_pct", sl, false)?;
        }
        if let Some(t) = self.trailing {
            check_pct("trailing_activation_pct", t.activation, true)?;
            check_pct("trailing_distance_pct", t.distance, false)?;
        }
        if let Some(secs) = self.max_hold_secs {
            if secs == 0 || secs > limits.max_hold_secs {
                return fail("max_hold_secs", secs.to_string(), format!("1..={}", limits.max_hold_secs));
            }
        }
        if self.cooldown_secs > limits.max_cooldown_secs {
            return fail("cooldown_sec", self.cooldown_secs.to_string(), format!("0..={}", limits.max_cooldown_secs));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn intent() -> Intent {
        Intent {
            direction: Direction::Long,
            qty: "0.01".parse().unwrap(),
            exits: ExitRules {
                take_profit: Some(Ppm(5_000)),
                stop_loss: Some(Ppm(3_000)),
                trailing: Some(Trailing { activation: Ppm(2_000), distance: Ppm(1_000) }),
                max_hold_secs: Some(60),
                cooldown_secs: 5,
            },
        }
    }

    #[test]
    fn a_valid_intent_is_accepted_unchanged() {
        let i = intent();
        assert_eq!(i.validate(&IntentLimits::default()), Ok(()));
        assert_eq!(i, intent());
    }

    #[rstest]
    #[case::zero_qty(|i: &mut Intent| i.qty = Qty::ZERO, "qty")]
    #[case::huge_qty(|i: &mut Intent| i.qty = "2000000".parse().unwrap(), "qty")]
    #[case::zero_tp(|i: &mut Intent| i.exits.take_profit = Some(Ppm(0)), "tp_pct")]
    #[case::huge_tp(|i: &mut Intent| i.exits.take_profit = Some(Ppm(600_000)), "tp_pct")]
    #[case::huge_sl(|i: &mut Intent| i.exits.stop_loss = Some(Ppm(500_001)), "sl_pct")]
    #[case::zero_trail(|i: &mut Intent| i.exits.trailing = Some(Trailing { activation: Ppm(0), distance: Ppm(0) }), "trailing_distance_pct")]
    #[case::huge_activation(|i: &mut Intent| i.exits.trailing = Some(Trailing { activation: Ppm(900_000), distance: Ppm(1) }), "trailing_activation_pct")]
    #[case::zero_hold(|i: &mut Intent| i.exits.max_hold_secs = Some(0), "max_hold_secs")]
    #[case::long_hold(|i: &mut Intent| i.exits.max_hold_secs = Some(8 * 24 * 3600), "max_hold_secs")]
    #[case::long_cooldown(|i: &mut Intent| i.exits.cooldown_secs = 100_000, "cooldown_sec")]
    fn out_of_range_fields_are_refused_by_name(#[case] mutate: fn(&mut Intent), #[case] field: &str) {
        let mut i = intent();
        mutate(&mut i);
        let before = i;
        assert_eq!(i.validate(&IntentLimits::default()).unwrap_err().field, field);
        assert_eq!(i, before, "validation never changes the intent");
    }
}

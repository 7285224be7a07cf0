//! Fixed-point value types: `Price`, `Qty`, `Money` (raw `i64`, scale 10^8) and `Ppm`.
//!
//! Scale: 8 decimal places, so BTC near 100,000.00000000 (raw 10^13) and lots of 0.001
//! (raw 100,000) are exact; the largest value is 92,233,720,368.54775807.
//! Arithmetic is checked (overflow is an error, never a wrap). A product such as
//! price × qty is computed in `i128` and rounded half-to-even back to the scale.
//! On the wire: bincode carries the raw `i64`; JSON carries an exact decimal string.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Fault;
use crate::fixed::{self, FixedError, SCALE, SCALE_DIGITS};

macro_rules! fixed_point_type {
    ($(#[$meta:meta])* $name:ident, field = $field:literal, non_negative = $nonneg:expr) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(i64);

        impl $name {
            /// Zero.
            pub const ZERO: $name = $name(0);
            /// Decimal places of the raw representation.
            pub const SCALE_DIGITS: u32 = SCALE_DIGITS;

            /// Builds from the raw scaled integer (`value × 10^8`), checking the sign rule.
            pub fn from_raw(raw: i64) -> Result<Self, FixedError> {
                if $nonneg && raw < 0 {
                    return Err(FixedError::Negative(fixed::format_scaled(raw, SCALE_DIGITS)));
                }
                Ok($name(raw))
            }

            /// The raw scaled integer.
            pub const fn raw(self) -> i64 {
                self.0
            }

            /// Whole units, for literals in tests and config defaults (`Price::units(100_000)`).
            pub fn units(whole: i64) -> Result<Self, FixedError> {
                Self::from_raw(whole.checked_mul(SCALE).ok_or(FixedError::Overflow)?)
            }

            /// True when the value is exactly zero.
            pub const fn is_zero(self) -> bool {
                self.0 == 0
            }

            /// `self + other`, or `Overflow`.
            pub fn checked_add(self, other: Self) -> Result<Self, FixedError> {
                Self::from_raw(self.0.checked_add(other.0).ok_or(FixedError::Overflow)?)
            }

            /// `self - other`, or `Overflow` (or `Negative` for a non-negative type).
            pub fn checked_sub(self, other: Self) -> Result<Self, FixedError> {
                Self::from_raw(self.0.checked_sub(other.0).ok_or(FixedError::Overflow)?)
            }
        }

        impl FromStr for $name {
            type Err = FixedError;
            fn from_str(text: &str) -> Result<Self, FixedError> {
                Self::from_raw(fixed::parse_scaled(text, SCALE_DIGITS)?)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&fixed::format_scaled(self.0, SCALE_DIGITS))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&self.to_string())
                } else {
                    s.serialize_i64(self.0)
                }
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                /// `human`: JSON (decimal strings only) or binary (raw i64 only).
                struct V { human: bool }
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str(concat!("an exact decimal string for ", $field))
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<$name, E> {
                        text.parse::<$name>()
                            .map_err(|e| E::custom(Fault::from_fixed($field, &e).marker()))
                    }
                    fn visit_i64<E: de::Error>(self, raw: i64) -> Result<$name, E> {
                        if self.human {
                            return Err(E::custom(Fault::Invalid {
                                field: $field,
                                reason: "a bare JSON number; send an exact decimal string".into(),
                            }.marker()));
                        }
                        $name::from_raw(raw)
                            .map_err(|e| E::custom(Fault::from_fixed($field, &e).marker()))
                    }
                    fn visit_u64<E: de::Error>(self, _: u64) -> Result<$name, E> {
                        Err(E::custom(Fault::Invalid {
                            field: $field,
                            reason: "a bare JSON number; send an exact decimal string".into(),
                        }.marker()))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        Err(E::custom(Fault::Invalid {
                            field: $field,
                            reason: format!("floating-point {v}; send an exact decimal string"),
                        }.marker()))
                    }
                }
                if d.is_human_readable() {
                    d.deserialize_any(V { human: true })
                } else {
                    d.deserialize_i64(V { human: false })
                }
            }
        }
    };
}

fixed_point_type!(
    /// A price per unit, ≥ 0, scale 10^8.
    Price, field = "price", non_negative = true
);
fixed_point_type!(
    /// A quantity (order size, fill size, position size), ≥ 0, scale 10^8.
    Qty, field = "qty", non_negative = true
);
fixed_point_type!(
    /// An amount of quote currency (PnL, fee, notional, equity), signed, scale 10^8.
    Money, field = "money", non_negative = false
);

impl Price {
    /// `price × qty` as money: computed in `i128`, rounded half-to-even to 10^-8.
    pub fn notional(self, qty: Qty) -> Result<Money, FixedError> {
        let product = i128::from(self.0) * i128::from(qty.0);
        let rounded = fixed::div_round_half_even(product, i128::from(SCALE))?;
        Ok(Money(fixed::narrow(rounded)?))
    }

    /// The midpoint of two prices, rounded half-to-even.
    pub fn mid(self, other: Price) -> Price {
        let sum = i128::from(self.0) + i128::from(other.0);
        // Two non-negative i64 halves always fit back into i64.
        let half = fixed::div_round_half_even(sum, 2).unwrap_or(0);
        Price(i64::try_from(half).unwrap_or(i64::MAX))
    }

    /// `self` moved by `ppm` parts per million (positive up, negative down), rounded
    /// half-to-even; used for slippage.
    pub fn offset_ppm(self, ppm: i64) -> Result<Price, FixedError> {
        let moved = i128::from(self.0) * (1_000_000 + i128::from(ppm));
        Price::from_raw(fixed::narrow(fixed::div_round_half_even(moved, 1_000_000)?)?)
    }
}

impl Qty {
    /// The smaller of two quantities.
    pub fn min(self, other: Qty) -> Qty {
        if self <= other {
            self
        } else {
            other
        }
    }
}

impl Money {
    /// Builds from a raw value; every `i64` is a valid amount.
    pub const fn from_raw_signed(raw: i64) -> Money {
        Money(raw)
    }

    /// `-self`, or `Overflow` for the most negative value.
    pub fn checked_neg(self) -> Result<Money, FixedError> {
        Ok(Money(self.0.checked_neg().ok_or(FixedError::Overflow)?))
    }

    /// `self × ppm / 10^6`, rounded half-to-even (fees, limits as a fraction of equity).
    pub fn mul_ppm(self, ppm: Ppm) -> Result<Money, FixedError> {
        let product = i128::from(self.0) * i128::from(ppm.0);
        Ok(Money(fixed::narrow(fixed::div_round_half_even(product, 1_000_000)?)?))
    }

    /// Absolute value, or `Overflow` for the most negative value.
    pub fn checked_abs(self) -> Result<Money, FixedError> {
        Ok(Money(self.0.checked_abs().ok_or(FixedError::Overflow)?))
    }

    /// Sums amounts exactly, or reports overflow.
    pub fn checked_sum<I: IntoIterator<Item = Money>>(items: I) -> Result<Money, FixedError> {
        items.into_iter().try_fold(Money::ZERO, Money::checked_add)
    }

    /// The decimal with exactly 8 fractional digits, for reports (`-12.50000000`).
    pub fn to_fixed_string(self) -> String {
        let text = fixed::format_scaled(self.0, SCALE_DIGITS);
        let (int_part, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
        format!("{int_part}.{frac:0<8}")
    }
}

/// A non-negative rate in parts per million (1% = 10,000 ppm; 1 bp = 100 ppm).
/// Used for fees, slippage, exit thresholds and limits expressed as a fraction.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Ppm(pub u32);

impl Ppm {
    /// Parses a percentage with up to 4 decimals (`"0.5"` → 5,000 ppm).
    pub fn from_percent_str(text: &str) -> Result<Ppm, FixedError> {
        let raw = fixed::parse_scaled(text, 4)?;
        if raw < 0 {
            return Err(FixedError::Negative(text.to_string()));
        }
        u32::try_from(raw).map(Ppm).map_err(|_| FixedError::Overflow)
    }

    /// From basis points (1 bp = 100 ppm).
    pub fn from_bps(bps: u32) -> Result<Ppm, FixedError> {
        bps.checked_mul(100).map(Ppm).ok_or(FixedError::Overflow)
    }

    /// The rate as a percentage string (`5000` → `"0.5"`).
    pub fn to_percent_string(self) -> String {
        fixed::format_scaled(i64::from(self.0), 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    fn p(s: &str) -> Price {
        s.parse().unwrap()
    }
    fn q(s: &str) -> Qty {
        s.parse().unwrap()
    }
    fn m(s: &str) -> Money {
        s.parse().unwrap()
    }

    #[rstest]
    #[case("100000.12345678", "0.001", "100.00012346")] // 100.00012345678 rounds up
    #[case("2650.5", "0.1", "265.05")]
    #[case("0.00000001", "0.5", "0")] // 0.000000005 ties to even 0
    #[case("0.00000003", "0.5", "0.00000002")] // 0.000000015 ties to even 2
    #[case("1", "0", "0")]
    fn notional_rounds_half_even(#[case] price: &str, #[case] qty: &str, #[case] expected: &str) {
        assert_eq!(p(price).notional(q(qty)).unwrap(), m(expected));
    }

    #[test]
    fn notional_overflow_is_an_error() {
        let big = Price::from_raw(i64::MAX).unwrap();
        assert_eq!(big.notional(Qty::units(1000).unwrap()), Err(FixedError::Overflow));
    }

    #[rstest]
    #[case("-1")]
    #[case("-0.00000001")]
    fn quantities_and_prices_refuse_negatives(#[case] text: &str) {
        assert!(matches!(text.parse::<Qty>(), Err(FixedError::Negative(_))));
        assert!(matches!(text.parse::<Price>(), Err(FixedError::Negative(_))));
        assert!(text.parse::<Money>().is_ok());
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        let max = Money::from_raw_signed(i64::MAX);
        assert_eq!(max.checked_add(Money::from_raw_signed(1)), Err(FixedError::Overflow));
        assert_eq!(Money::from_raw_signed(i64::MIN).checked_neg(), Err(FixedError::Overflow));
        assert!(matches!(q("1").checked_sub(q("2")), Err(FixedError::Negative(_))));
    }

    #[rstest]
    #[case("1000", 250, "0.25")] // 2.5 bp fee on 1000
    #[case("-1000", 250, "-0.25")]
    #[case("0.00000001", 500_000, "0")] // 0.000000005 ties to even
    fn mul_ppm_rounds_half_even(#[case] amount: &str, #[case] ppm: u32, #[case] expected: &str) {
        assert_eq!(m(amount).mul_ppm(Ppm(ppm)).unwrap(), m(expected));
    }

    #[test]
    fn ppm_parses_percentages() {
        assert_eq!(Ppm::from_percent_str("0.5"), Ok(Ppm(5_000)));
        assert_eq!(Ppm::from_percent_str("100"), Ok(Ppm(1_000_000)));
        assert!(Ppm::from_percent_str("-1").is_err());
        assert!(Ppm::from_percent_str("0.00001").is_err());
        assert_eq!(Ppm(5_000).to_percent_string(), "0.5");
    }

    #[test]
    fn money_fixed_string_has_eight_decimals() {
        assert_eq!(m("-12.5").to_fixed_string(), "-12.50000000");
        assert_eq!(m("3").to_fixed_string(), "3.00000000");
    }

    #[test]
    fn offset_ppm_moves_price() {
        assert_eq!(p("100").offset_ppm(1_000).unwrap(), p("100.1"));
        assert_eq!(p("100").offset_ppm(-1_000).unwrap(), p("99.9"));
    }

    proptest! {
        #[test]
        fn sum_of_parts_is_exact(parts in proptest::collection::vec(-1_000_000_000_000i64..1_000_000_000_000, 0..50)) {
            let total = Money::checked_sum(parts.iter().map(|r| Money::from_raw_signed(*r))).unwrap();
            prop_assert_eq!(total.raw() as i128, parts.iter().map(|r| *r as i128).sum::<i128>());
        }

        #[test]
        fn notional_is_within_half_a_unit(price in 0i64..10_000_000_000_000, qty in 0i64..100_000_000_000) {
            let n = Price::from_raw(price).unwrap().notional(Qty::from_raw(qty).unwrap()).unwrap();
            let exact = price as i128 * qty as i128;
            prop_assert!((n.raw() as i128 * SCALE as i128 - exact).abs() * 2 <= SCALE as i128);
        }
    }
}

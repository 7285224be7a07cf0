//! Exact decimal text <-> scaled integer conversion, and the single rounding rule.
//!
//! Every fixed-point type in this crate stores an `i64` holding `value * 10^SCALE_DIGITS`.
//! Text is parsed exactly: more fractional digits than the scale holds is an error, never a
//! silent rounding. Products are computed in `i128` and rounded with [`div_round_half_even`].

/// Number of decimal places of `Price`, `Qty` and `Money` (raw = value × 10^8).
pub const SCALE_DIGITS: u32 = 8;
/// `10^SCALE_DIGITS`.
pub const SCALE: i64 = 100_000_000;

/// Why a fixed-point value could not be built or computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixedError {
    #[error("not a decimal number: {0:?}")]
    NotADecimal(String),
    #[error("{text:?} has more than {max} decimal places")]
    TooPrecise { text: String, max: u32 },
    #[error("arithmetic overflow")]
    Overflow,
    #[error("division by zero")]
    DivisionByZero,
    #[error("negative value {0} where only non-negative values are allowed")]
    Negative(String),
}

/// Parses an exact decimal (`-12.5`, `0.001`, `100000`) into `value * 10^scale`.
///
/// Accepted: an optional leading `-`, at least one digit, an optional `.` followed by at least
/// one digit. Refused: empty text, `+`, exponents, `NaN`, `inf`, whitespace, more than `scale`
/// fractional digits, values outside `i64`.
pub fn parse_scaled(text: &str, scale: u32) -> Result<i64, FixedError> {
    let bad = || FixedError::NotADecimal(text.to_string());
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let frac = frac_part.unwrap_or("");
    if frac_part.is_some() && (frac.is_empty() || !frac.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad());
    }
    if frac.len() > scale as usize {
        return Err(FixedError::TooPrecise { text: text.to_string(), max: scale });
    }
    let mut acc: i128 = 0;
    for b in int_part.bytes() {
        acc = acc * 10 + i128::from(b - b'0');
        if acc > i128::from(i64::MAX) {
            return Err(FixedError::Overflow);
        }
    }
    for _ in 0..scale {
        acc *= 10;
    }
    let mut frac_value: i128 = 0;
    for b in frac.bytes() {
        frac_value = frac_value * 10 + i128::from(b - b'0');
    }
    for _ in frac.len()..scale as usize {
        frac_value *= 10;
    }
    acc += frac_value;
    if negative {
        acc = -acc;
    }
    i64::try_from(acc).map_err(|_| FixedError::Overflow)
}

/// Formats `raw / 10^scale` exactly, without trailing fractional zeros (`1.5`, `-0.001`, `7`).
pub fn format_scaled(raw: i64, scale: u32) -> String {
    let divisor = 10u128.pow(scale);
    let magnitude = u128::from(raw.unsigned_abs());
    let int_part = magnitude / divisor;
    let frac_part = magnitude % divisor;
    let sign = if raw < 0 { "-" } else { "" };
    if frac_part == 0 {
        return format!("{sign}{int_part}");
    }
    let frac = format!("{frac_part:0width$}", width = scale as usize);
    format!("{sign}{int_part}.{}", frac.trim_end_matches('0'))
}

/// Divides `numerator` by a positive `denominator`, rounding to the nearest integer and
/// halves to the even neighbour (banker's rounding, the IEEE 754 and Python `Decimal` default).
/// This is the one rounding rule of the money path.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> Result<i128, FixedError> {
    if denominator == 0 {
        return Err(FixedError::DivisionByZero);
    }
    let (num, den) = if denominator < 0 {
        (numerator.checked_neg().ok_or(FixedError::Overflow)?, -denominator)
    } else {
        (numerator, denominator)
    };
    let quotient = num.div_euclid(den); // floor, since den > 0
    let remainder = num.rem_euclid(den); // 0 <= remainder < den
    let twice = remainder * 2;
    let rounded = if twice > den || (twice == den && quotient % 2 != 0) { quotient + 1 } else { quotient };
    Ok(rounded)
}

/// Narrows an `i128` intermediate back to `i64`, reporting overflow.
pub fn narrow(value: i128) -> Result<i64, FixedError> {
    i64::try_from(value).map_err(|_| FixedError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("0", 0)]
    #[case("1", 100_000_000)]
    #[case("-1", -100_000_000)]
    #[case("0.001", 100_000)]
    #[case("100000.12345678", 10_000_012_345_678)]
    #[case("-0.00000001", -1)]
    #[case("92233720368.54775807", i64::MAX)]
    #[case("007.50", 750_000_000)]
    fn parses_exact_decimals(#[case] text: &str, #[case] raw: i64) {
        assert_eq!(parse_scaled(text, SCALE_DIGITS), Ok(raw));
    }

    #[rstest]
    #[case("")]
    #[case("-")]
    #[case(".5")]
    #[case("5.")]
    #[case("+5")]
    #[case("1e5")]
    #[case("NaN")]
    #[case("inf")]
    #[case(" 1")]
    #[case("1 ")]
    #[case("1.2.3")]
    #[case("--1")]
    #[case("0x10")]
    fn refuses_non_decimals(#[case] text: &str) {
        assert!(matches!(parse_scaled(text, SCALE_DIGITS), Err(FixedError::NotADecimal(_))));
    }

    #[test]
    fn refuses_excess_precision_instead_of_rounding() {
        assert!(matches!(parse_scaled("0.123456789", SCALE_DIGITS), Err(FixedError::TooPrecise { max: 8, .. })));
    }

    #[rstest]
    #[case("92233720368.54775808")]
    #[case("99999999999999999999999999")]
    fn refuses_overflow(#[case] text: &str) {
        assert_eq!(parse_scaled(text, SCALE_DIGITS), Err(FixedError::Overflow));
    }

    #[rstest]
    #[case(0, "0")]
    #[case(1, "0.00000001")]
    #[case(-150_000_000, "-1.5")]
    #[case(10_000_012_345_678, "100000.12345678")]
    #[case(i64::MIN, "-92233720368.54775808")]
    fn formats_exactly(#[case] raw: i64, #[case] text: &str) {
        assert_eq!(format_scaled(raw, SCALE_DIGITS), text);
    }

    #[rstest]
    #[case(5, 2, 2)] // 2.5 -> 2 (even)
    #[case(7, 2, 4)] // 3.5 -> 4 (even)
    #[case(-5, 2, -2)] // -2.5 -> -2
    #[case(-7, 2, -4)] // -3.5 -> -4
    #[case(10, 3, 3)] // 3.33 -> 3
    #[case(11, 3, 4)] // 3.67 -> 4
    #[case(-11, 3, -4)]
    #[case(5, -2, -2)]
    fn rounds_half_to_even(#[case] num: i128, #[case] den: i128, #[case] expected: i128) {
        assert_eq!(div_round_half_even(num, den), Ok(expected));
    }

    #[test]
    fn division_by_zero_is_an_error() {
        assert_eq!(div_round_half_even(1, 0), Err(FixedError::DivisionByZero));
    }

    proptest::proptest! {
        #[test]
        fn format_then_parse_round_trips(raw in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(parse_scaled(&format_scaled(raw, SCALE_DIGITS), SCALE_DIGITS), Ok(raw));
        }

        #[test]
        fn rounding_error_is_at_most_half(num in -1_000_000_000_000i128..1_000_000_000_000, den in 1i128..1_000_000) {
            let q = div_round_half_even(num, den).unwrap();
            let err = (q * den - num).abs() * 2;
            proptest::prop_assert!(err <= den);
        }
    }
}

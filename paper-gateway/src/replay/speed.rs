//! The replay speed: `--speed 1` is real time (ticks paced by their recorded timestamps),
//! `--speed N` is N times faster (up to three decimals, so `0.5` and `2.5` work too),
//! `--speed max` publishes as fast as the engine takes ticks, losslessly. No floating
//! point: a paced speed is kept in thousandths.

use std::num::NonZeroU64;
use std::str::FromStr;
use std::time::Duration;

use super::ReplayError;

/// The fastest paced speed (beyond it, use `max`).
const MAX_PACED_PER_MILLE: u64 = 1_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// Paced: `per_mille / 1000` times real time.
    Paced { per_mille: NonZeroU64 },
    /// As fast as the subscriber takes ticks (the publisher waits instead of dropping).
    Max,
}

impl Speed {
    pub const REAL_TIME: Speed = Speed::Paced { per_mille: NonZeroU64::MIN.saturating_add(999) };

    /// Wall time from the first tick to a tick `data_offset_ns` later in the data; `None`
    /// at `Max` (no pacing).
    pub fn wall_offset(self, data_offset_ns: u64) -> Option<Duration> {
        match self {
            Speed::Max => None,
            Speed::Paced { per_mille } => {
                let ns = u128::from(data_offset_ns) * 1000 / u128::from(per_mille.get());
                Some(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
            }
        }
    }

    pub fn is_max(self) -> bool {
        self == Speed::Max
    }
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Speed::Max => f.write_str("max"),
            Speed::Paced { per_mille } => {
                let (whole, part) = (per_mille.get() / 1000, per_mille.get() % 1000);
                if part == 0 {
                    write!(f, "{whole}")
                } else {
                    write!(f, "{whole}.{}", format!("{part:03}").trim_end_matches('0'))
                }
            }
        }
    }
}

impl FromStr for Speed {
    type Err = ReplayError;
    fn from_str(text: &str) -> Result<Speed, ReplayError> {
        let bad = |reason: &str| ReplayError::Speed { text: text.to_string(), reason: reason.to_string() };
        let t = text.trim();
        if t.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        let scaled = protocol::fixed::parse_scaled(t, 3)
            .map_err(|_| bad("expected max, or a multiple of real time such as 1, 10 or 0.5 (up to 3 decimals)"))?;
        let per_mille = u64::try_from(scaled).ok().and_then(NonZeroU64::new).ok_or_else(|| bad("must be above 0"))?;
        if per_mille.get() > MAX_PACED_PER_MILLE {
            return Err(bad("above 1000000 (use max)"));
        }
        Ok(Speed::Paced { per_mille })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_and_print() {
        assert_eq!("max".parse::<Speed>().unwrap(), Speed::Max);
        assert_eq!("1".parse::<Speed>().unwrap(), Speed::REAL_TIME);
        for text in ["1", "10", "0.5", "2.25", "max"] {
            assert_eq!(text.parse::<Speed>().unwrap().to_string(), text);
        }
        for text in ["0", "-1", "fast", "1e3", "0.0001", "NaN", "2000000", ""] {
            assert!(text.parse::<Speed>().is_err(), "{text} accepted");
        }
    }

    #[test]
    fn pacing_divides_the_data_time() {
        let s = |t: &str| t.parse::<Speed>().unwrap();
        assert_eq!(s("1").wall_offset(3_000_000_000), Some(Duration::from_secs(3)));
        assert_eq!(s("10").wall_offset(3_000_000_000), Some(Duration::from_millis(300)));
        assert_eq!(s("0.5").wall_offset(1_000_000_000), Some(Duration::from_secs(2)));
        assert_eq!(s("max").wall_offset(1), None);
    }
}

//! A seeded synthetic market: per-symbol random walks with realistic base prices and
//! spreads, and jittered inter-tick intervals. Same seed, same ticks.

use protocol::{Price, Symbol, Tick};

use crate::clock::{TimeNs, NS_PER_MS};

/// SplitMix64: a small, fast, well-distributed PRNG; enough for simulation, not crypto.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi` (inclusive; `lo <= hi`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// How one instrument moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentModel {
    pub symbol: Symbol,
    pub base_price: Price,
    /// Minimum price increment (raw units of 10^-8).
    pub tick_size_raw: i64,
    /// Spread in ticks.
    pub spread_ticks: i64,
    /// Largest single-step move of the mid, in ppm of price.
    pub step_ppm: i64,
}

/// One symbol's walk.
#[derive(Clone, Debug)]
struct Walk {
    model: InstrumentModel,
    mid_raw: i64,
    md_seq: u64,
    rng: Rng,
}

/// Interval between ticks of one symbol, in milliseconds (inclusive range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IntervalMs {
    pub min: u64,
    pub max: u64,
}

impl Default for IntervalMs {
    fn default() -> Self {
        IntervalMs { min: 1, max: 49 }
    }
}

/// The synthetic market for many symbols.
#[derive(Clone, Debug)]
pub struct SyntheticFeed {
    walks: Vec<Walk>,
    interval: IntervalMs,
}

impl SyntheticFeed {
    pub fn new(models: &[InstrumentModel], seed: u64, interval: IntervalMs) -> SyntheticFeed {
        let walks = models
            .iter()
            .enumerate()
            .map(|(i, m)| Walk {
                model: *m,
                mid_raw: m.base_price.raw(),
                md_seq: 0,
                rng: Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xA24B_AED4_963E_E407)),
            })
            .collect();
        SyntheticFeed { walks, interval }
    }

    pub fn len(&self) -> usize {
        self.walks.len()
    }
    pub fn is_empty(&self) -> bool {
        self.walks.is_empty()
    }

    /// Next tick of symbol number `index`, stamped `ts_ns`, and the delay before the one after.
    pub fn next_tick(&mut self, index: usize, ts_ns: TimeNs) -> Option<(Tick, u64)> {
        let interval = self.interval;
        let walk = self.walks.get_mut(index)?;
        let m = walk.model;
        let step = walk.rng.range(0, (2 * m.step_ppm) as u64) as i64 - m.step_ppm;
        let moved = i128::from(walk.mid_raw) * i128::from(1_000_000 + step) / 1_000_000;
        let tick_size = m.tick_size_raw.max(1);
        // Mean-revert gently towards the base price so long runs stay realistic.
        let pull = (i128::from(m.base_price.raw()) - moved) / 2_000;
        let mid = ((moved + pull) as i64 / tick_size).max(m.spread_ticks + 1) * tick_size;
        walk.mid_raw = mid;
        walk.md_seq += 1;
        let half = (m.spread_ticks * tick_size) / 2;
        let bid = Price::from_raw(mid - half).ok()?;
        let ask = Price::from_raw(mid - half + m.spread_ticks * tick_size).ok()?;
        let tick = Tick { symbol: m.symbol, bid, ask, ts_ns, md_seq: walk.md_seq };
        let delay = walk.rng.range(interval.min, interval.max) * NS_PER_MS;
        Some((tick, delay))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::default_model;

    fn feed(seed: u64) -> SyntheticFeed {
        let models: Vec<_> =
            ["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"].iter().map(|s| default_model(Symbol::new(s).unwrap())).collect();
        SyntheticFeed::new(&models, seed, IntervalMs::default())
    }

    #[test]
    fn same_seed_same_ticks() {
        let (mut a, mut b) = (feed(7), feed(7));
        for i in 0..300 {
            assert_eq!(a.next_tick(i % 3, i as u64), b.next_tick(i % 3, i as u64));
        }
        let mut c = feed(8);
        let differs = (0..50).any(|i| feed(7).next_tick(0, i) != c.next_tick(0, i));
        assert!(differs);
    }

    #[test]
    fn ticks_are_sane_and_sequenced_and_intervals_under_50ms() {
        let mut f = feed(1);
        for n in 1..=2_000u64 {
            let (t, delay) = f.next_tick(0, n).unwrap();
            assert!(t.bid < t.ask, "positive spread");
            assert_eq!(t.md_seq, n);
            assert!((NS_PER_MS..50 * NS_PER_MS).contains(&delay));
            let mid = t.bid.mid(t.ask).raw();
            assert!(mid > 50_000 * 100_000_000 && mid < 200_000 * 100_000_000, "BTC stays near 100k: {mid}");
        }
    }

    #[test]
    fn unknown_index_is_none() {
        assert!(feed(1).next_tick(3, 0).is_none());
    }
}

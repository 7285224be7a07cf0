//! Which shard runs a symbol: a stable hash of its name (FNV-1a, 64 bit), so that the same
//! symbol lands on the same shard in every run with the same shard count, whatever the
//! order of the symbol list.

use protocol::Symbol;

/// The shard (0..shards) of `symbol`. `shards` of 0 is taken as 1.
pub fn shard_of(symbol: &Symbol, shards: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in symbol.as_str().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    // shards ≤ usize::MAX, and the remainder is below it.
    usize::try_from(hash % shards.max(1) as u64).unwrap_or(0)
}

/// How many shards to run: `configured` (0 = one per core), never more than there are
/// symbols, and at least one.
pub fn shard_count(configured: usize, symbols: usize) -> usize {
    let wanted = if configured == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { configured };
    wanted.min(symbols).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(name: &str) -> Symbol {
        Symbol::new(name).expect("symbol")
    }

    #[test]
    fn the_assignment_is_stable_and_known() {
        // Fixed values: a change of the hash would move symbols between shards (and their
        // gateway identities) from one release to the next.
        assert_eq!(shard_of(&sym("BTCUSD.s"), 2), shard_of(&sym("BTCUSD.s"), 2));
        let fnv_a = 0xaf63_dc4c_8601_ec8c_u64; // FNV-1a 64 of "a"
        assert_eq!(shard_of(&sym("a"), 1_000_000_007), (fnv_a % 1_000_000_007) as usize);
        assert_eq!(shard_of(&sym("a"), 0), 0);
    }

    #[test]
    fn symbols_spread_over_the_shards() {
        let shards = 4;
        let mut per_shard = [0usize; 4];
        for i in 0..4_000 {
            per_shard[shard_of(&sym(&format!("S{i:05}")), shards)] += 1;
        }
        for n in per_shard {
            assert!((800..=1_200).contains(&n), "uneven spread: {per_shard:?}");
        }
    }

    #[test]
    fn never_more_shards_than_symbols() {
        assert_eq!(shard_count(8, 3), 3);
        assert_eq!(shard_count(2, 100), 2);
        assert_eq!(shard_count(5, 0), 1);
        assert!(shard_count(0, 1_000) >= 1);
    }
}

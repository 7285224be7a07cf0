//! The latest bid/ask of every symbol, written by the tick publisher (one writer) and read by
//! the order loop, with no lock: each symbol's slot is a sequence lock. The writer never
//! waits, so the order loop being descheduled in the middle of a read can never hold the
//! publisher up (with a mutex it did: a reader preempted while holding it delayed every
//! symbol's ticks by tens of milliseconds on a busy machine). A reader that meets a write
//! in progress reads again.

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicI64, AtomicU64, Ordering};

use protocol::{Price, Symbol};

/// One symbol's quote: `seq` is odd while the writer is changing it, 0 before the first.
#[derive(Default)]
struct Slot {
    seq: AtomicU64,
    bid: AtomicI64,
    ask: AtomicI64,
}

/// Every symbol's latest quote (see the module doc). Symbols are fixed at construction.
pub struct QuoteBoard {
    index: HashMap<Symbol, usize>,
    slots: Vec<Slot>,
}

impl QuoteBoard {
    pub fn new(symbols: impl IntoIterator<Item = Symbol>) -> QuoteBoard {
        let mut index = HashMap::new();
        for symbol in symbols {
            let next = index.len();
            index.entry(symbol).or_insert(next);
        }
        let slots = (0..index.len()).map(|_| Slot::default()).collect();
        QuoteBoard { index, slots }
    }

    /// The slot of `symbol`, for [`Self::set_slot`] (a writer that knows its symbols looks
    /// each up once, not once per tick).
    pub fn slot_of(&self, symbol: Symbol) -> Option<usize> {
        self.index.get(&symbol).copied()
    }

    /// Sets `symbol`'s quote (a symbol the board does not list is ignored). Only one thread
    /// may write (the publisher).
    pub fn set(&self, symbol: Symbol, bid: Price, ask: Price) {
        if let Some(slot) = self.slot_of(symbol) {
            self.set_slot(slot, bid, ask);
        }
    }

    /// Sets the quote in `slot` (from [`Self::slot_of`]; another number is ignored). Only
    /// one thread may write.
    pub fn set_slot(&self, slot: usize, bid: Price, ask: Price) {
        let Some(slot) = self.slots.get(slot) else { return };
        let seq = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        slot.bid.store(bid.raw(), Ordering::Relaxed);
        slot.ask.store(ask.raw(), Ordering::Relaxed);
        slot.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// `symbol`'s latest quote, `None` before its first.
    pub fn get(&self, symbol: Symbol) -> Option<(Price, Price)> {
        let slot = self.slots.get(*self.index.get(&symbol)?)?;
        loop {
            let before = slot.seq.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let (bid, ask) = (slot.bid.load(Ordering::Relaxed), slot.ask.load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if slot.seq.load(Ordering::Relaxed) == before {
                return Some((Price::from_raw(bid).ok()?, Price::from_raw(ask).ok()?));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    fn p(raw: i64) -> Price {
        Price::from_raw(raw).unwrap()
    }

    #[test]
    fn a_symbol_has_no_quote_until_set_then_the_latest_one() {
        let (btc, eth) = (Symbol::new("BTCUSD.s").unwrap(), Symbol::new("ETHUSD.s").unwrap());
        let board = QuoteBoard::new([btc, eth]);
        assert_eq!(board.get(btc), None);
        board.set(btc, p(100), p(101));
        let slot = board.slot_of(btc).unwrap();
        board.set_slot(slot, p(102), p(103));
        assert_eq!(board.get(btc), Some((p(102), p(103))));
        assert_eq!(board.get(eth), None);
        let unknown = Symbol::new("XAUUSD.s").unwrap();
        board.set(unknown, p(1), p(2));
        assert_eq!(board.get(unknown), None, "a symbol not listed is ignored");
    }

    /// A reader racing the writer never sees a torn quote: every quote written has
    /// ask = bid + 1, so a bid from one write and an ask from another would show.
    #[test]
    fn a_reader_racing_the_writer_never_sees_half_a_quote() {
        let sym = Symbol::new("BTCUSD.s").unwrap();
        let board = Arc::new(QuoteBoard::new([sym]));
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (board, done) = (Arc::clone(&board), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut seen = 0u64;
                while !done.load(Ordering::Acquire) {
                    if let Some((bid, ask)) = board.get(sym) {
                        assert_eq!(ask.raw(), bid.raw() + 1, "torn quote");
                        seen += 1;
                    }
                }
                seen
            })
        };
        for i in 1..200_000i64 {
            board.set(sym, p(i * 2), p(i * 2 + 1));
        }
        done.store(true, Ordering::Release);
        assert!(reader.join().unwrap() > 0);
    }
}

//! A loaded replay as the gateway runs it: the publisher walks it in time order over every
//! symbol ([`Cursor`]) and marks what it has published; the order loop asks for the quote
//! in force at an order's time ([`ReplayFeed::quote_at`]), looking only at quotes already
//! published (an engine can only have decided on those). Shared between the two threads
//! through atomics; the quotes themselves never change after loading.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use protocol::Symbol;

use super::source::{FileReport, ReplayData};
use super::{Quote, Speed};

/// The replayed span and what was read, for summaries and reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReplaySpan {
    /// First and last recorded timestamp (ns since the epoch, UTC) over every symbol.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Ticks in the files (after bad rows were skipped) and ticks published so far.
    pub ticks: u64,
    pub published: u64,
    pub bad_rows: u64,
    pub files: usize,
    pub speed: String,
}

pub struct ReplayFeed {
    symbols: Vec<Symbol>,
    index: HashMap<Symbol, usize>,
    series: Vec<Vec<Quote>>,
    files: Vec<FileReport>,
    speed: Speed,
    published: Vec<AtomicUsize>,
    finished: AtomicBool,
}

impl std::fmt::Debug for ReplayFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayFeed").field("symbols", &self.symbols).field("speed", &self.speed).finish()
    }
}

impl ReplayFeed {
    pub fn new(data: ReplayData, speed: Speed) -> ReplayFeed {
        let files = data.files().to_vec();
        let (symbols, series): (Vec<Symbol>, Vec<Vec<Quote>>) = data.series().map(|(s, q)| (*s, q.to_vec())).unzip();
        ReplayFeed {
            index: symbols.iter().enumerate().map(|(i, s)| (*s, i)).collect(),
            published: symbols.iter().map(|_| AtomicUsize::new(0)).collect(),
            symbols,
            series,
            files,
            speed,
            finished: AtomicBool::new(false),
        }
    }

    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    pub fn speed(&self) -> Speed {
        self.speed
    }

    pub fn files(&self) -> &[FileReport] {
        &self.files
    }

    pub fn series(&self, index: usize) -> &[Quote] {
        self.series.get(index).map_or(&[], Vec::as_slice)
    }

    /// The first `count` quotes of symbol `index` are published (or about to be: marked
    /// before the send, so an order decided on a tick always finds it).
    pub fn mark_published(&self, index: usize, count: usize) {
        if let Some(p) = self.published.get(index) {
            p.fetch_max(count, Ordering::AcqRel);
        }
    }

    /// Every tick has been published.
    pub fn finish(&self) {
        self.finished.store(true, Ordering::Release);
    }

    pub fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    pub fn ticks(&self) -> u64 {
        self.series.iter().map(|s| s.len() as u64).sum()
    }

    pub fn published_ticks(&self) -> u64 {
        self.published.iter().map(|p| p.load(Ordering::Acquire) as u64).sum()
    }

    /// The published quote of `symbol` in force at `at_ns` (the last one at or before it);
    /// `None` for an unknown symbol or a time before its first published quote.
    pub fn quote_at(&self, symbol: Symbol, at_ns: u64) -> Option<Quote> {
        let i = *self.index.get(&symbol)?;
        let published = self.published.get(i)?.load(Ordering::Acquire);
        let quotes = self.series.get(i)?.get(..published)?;
        let k = quotes.partition_point(|q| q.ts_ns <= at_ns);
        k.checked_sub(1).and_then(|k| quotes.get(k)).copied()
    }

    pub fn span(&self) -> ReplaySpan {
        let first_ns = self.series.iter().filter_map(|q| q.first()).map(|q| q.ts_ns).min().unwrap_or(0);
        let last_ns = self.series.iter().filter_map(|q| q.last()).map(|q| q.ts_ns).max().unwrap_or(0);
        ReplaySpan {
            first_ns,
            last_ns,
            ticks: self.ticks(),
            published: self.published_ticks(),
            bad_rows: self.files.iter().map(|f| f.bad.count).sum(),
            files: self.files.len(),
            speed: self.speed.to_string(),
        }
    }
}

/// Every symbol's quotes in one time order (ties by symbol order): `(symbol index, its
/// position)` one at a time.
pub struct Cursor {
    due: BinaryHeap<Reverse<(u64, usize)>>,
    next: Vec<usize>,
}

impl Cursor {
    pub fn new(feed: &ReplayFeed) -> Cursor {
        let due =
            (0..feed.symbols.len()).filter_map(|i| feed.series(i).first().map(|q| Reverse((q.ts_ns, i)))).collect();
        Cursor { due, next: vec![0; feed.symbols.len()] }
    }

    /// The next quote: its symbol's index and its position in that symbol's series.
    pub fn next(&mut self, feed: &ReplayFeed) -> Option<(usize, usize)> {
        let Reverse((_, i)) = self.due.pop()?;
        let position = *self.next.get(i)?;
        if let Some(n) = self.next.get_mut(i) {
            *n += 1;
        }
        if let Some(q) = feed.series(i).get(position + 1) {
            self.due.push(Reverse((q.ts_ns, i)));
        }
        Some((i, position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::parse::parse_file;
    use std::path::PathBuf;

    fn feed(text: &str) -> ReplayFeed {
        let parsed = parse_file("t.csv", text.as_bytes(), Err("none".into())).unwrap();
        ReplayFeed::new(ReplayData::merge(vec![(PathBuf::from("t.csv"), parsed)]).unwrap(), Speed::Max)
    }

    #[test]
    fn the_cursor_walks_every_symbol_in_time_order() {
        let f = feed("symbol,timestamp,bid,ask\nB,1,1,2\nA,2,1,2\nB,3,1,2\nA,3,1,2\nA,9,1,2\n");
        let mut c = Cursor::new(&f);
        let mut order = Vec::new();
        while let Some((i, p)) = c.next(&f) {
            order.push((f.symbols()[i].to_string(), f.series(i)[p].ts_ns / 1_000_000_000));
        }
        let expect = [("B", 1), ("A", 2), ("A", 3), ("B", 3), ("A", 9)];
        assert_eq!(order, expect.iter().map(|(s, t)| (s.to_string(), *t)).collect::<Vec<_>>());
    }

    #[test]
    fn quote_at_sees_only_published_quotes_at_or_before_the_time() {
        let f = feed("symbol,timestamp,bid,ask\nA,1,1,2\nA,2,3,4\nA,3,5,6\n");
        let a = Symbol::new("A").unwrap();
        let s = 1_000_000_000;
        assert_eq!(f.quote_at(a, 2 * s), None, "nothing published yet");
        f.mark_published(0, 2);
        assert_eq!(f.quote_at(a, s - 1), None, "before the first quote");
        assert_eq!(f.quote_at(a, s).map(|q| q.bid.to_string()), Some("1".into()));
        assert_eq!(f.quote_at(a, 2 * s + 5).map(|q| q.bid.to_string()), Some("3".into()));
        assert_eq!(f.quote_at(a, 9 * s).map(|q| q.bid.to_string()), Some("3".into()), "third not published");
        f.mark_published(0, 3);
        assert_eq!(f.quote_at(a, 9 * s).map(|q| q.bid.to_string()), Some("5".into()));
        assert_eq!(f.quote_at(Symbol::new("B").unwrap(), 9 * s), None);
    }
}

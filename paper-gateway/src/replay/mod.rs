//! Replay of recorded market data: the paper gateway publishes recorded quotes instead of
//! its random walk, paced by their timestamps (or as fast as the engine takes them), and
//! fills orders at the recorded quote in force at the order's time (see docs/REPLAY.md).
//!
//! - [`timestamp`]: ISO 8601, epoch numbers (unit by magnitude) and HistData timestamps.
//! - [`parse`]: one file (CSV with a header, or HistData ASCII ticks) to quotes; bad rows.
//! - [`source`]: files and folders loaded, merged per symbol, symbols from names.
//! - [`feed`]: the loaded replay shared by the publisher (what was published) and the
//!   order loop (the quote as of an order's time).
//! - `publish`: the publisher's loop for a replay (pacing, back-pressure, end).
//! - [`speed`]: `--speed 1`, `--speed N`, `--speed max`, and the pacing it implies.
//! - [`trades`]: the round trips of a replay, from the venue's fills.

pub mod feed;
pub mod parse;
pub(crate) mod publish;
pub mod source;
pub mod speed;
pub mod timestamp;
pub mod trades;

pub use feed::ReplayFeed;
pub use source::ReplayData;
pub use speed::Speed;

use protocol::Price;

/// One recorded quote. `ts_ns` is ns since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    pub ts_ns: u64,
    pub bid: Price,
    pub ask: Price,
}

/// Why a replay cannot start. Each names the file (and the line when there is one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("{file}{}: {reason}", if *line > 0 { format!(" line {line}") } else { String::new() })]
    File { file: String, line: usize, reason: String },
    #[error("--replay {path}: {reason}")]
    Path { path: String, reason: String },
    #[error("--speed {text:?}: {reason}")]
    Speed { text: String, reason: String },
}

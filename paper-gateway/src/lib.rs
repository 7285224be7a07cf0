//! The paper gateway: a separate execution venue speaking docs/PROTOCOL.md. The library
//! behind the `paper-gateway` binary, the engine's embedded gateway (`engine-app`), and the
//! stress harness's gateway child process (`stress gateway ...`). Its wire knowledge is the
//! `protocol` crate's.
//!
//! - [`venue`]: matching, idempotency and the ledger (pure).
//! - [`cli`]: the command line shared by `paper-gateway` and the stress child process.
//! - [`clock`]: wall time and the session id.
//! - [`faults`]: seeded fault injection (rejects, dropped replies, latency).
//! - [`journal`]: the append-only record of orders that survives a restart.
//! - [`publisher`]: the tick publisher (XPUB) on its own thread.
//! - [`quotes`]: the latest quote per symbol, shared lock-free by the publisher and the
//!   order loop.
//! - [`replay`]: recorded market data (CSV, HistData) published instead of the random walk,
//!   and the quote as of an order's time for its fill.
//! - [`server`]: the order loop (ROUTER) on its own thread.

pub mod cli;
pub mod clock;
pub mod faults;
pub mod journal;
pub mod publisher;
pub mod quotes;
pub mod replay;
pub mod server;
pub mod venue;

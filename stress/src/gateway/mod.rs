//! The paper gateway: a separate execution venue speaking docs/PROTOCOL.md.
//!
//! - [`venue`]: matching, idempotency and the ledger (pure).
//! - [`cli`]: the command line shared by `paper-gateway` and the stress child process.
//! - [`faults`]: seeded fault injection (rejects, dropped replies, latency).
//! - [`journal`]: the append-only record of orders that survives a restart.
//! - [`publisher`]: the tick publisher (XPUB) on its own thread.
//! - [`server`]: the order loop (ROUTER) on its own thread.

pub mod cli;
pub mod faults;
pub mod journal;
pub mod publisher;
pub mod server;
pub mod venue;

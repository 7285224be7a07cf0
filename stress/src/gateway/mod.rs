//! The paper gateway: a separate execution venue speaking docs/PROTOCOL.md.
//!
//! - [`venue`]: matching, idempotency and the ledger (pure).
//! - [`cli`]: the command line shared by `paper-gateway` and the stress child process.
//! - [`faults`]: seeded fault injection (rejects, dropped replies, latency).
//! - [`journal`]: the append-only record of orders that survives a restart.
//! - [`server`]: the ZeroMQ loop (ROUTER for orders, PUB for ticks) on its own thread.

pub mod cli;
pub mod faults;
pub mod journal;
pub mod server;
pub mod venue;

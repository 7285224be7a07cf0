//! The actor shell around the pure core. Actors only move messages; every decision is made
//! by `engine::SymbolCore`.
//!
//! Layout:
//! - [`messages`]: typed actor messages, one struct per intent.
//! - [`symbol_actor`]: `SymbolActor`, one per symbol, owning its `SymbolCore`.
//! - [`bridge`]: `BridgeActor`, the only owner of the gateway socket (on its own thread),
//!   with the per-symbol lock table and the `ZMQ_LOCK_ACQUIRE`/`ZMQ_LOCK_RELEASE` events.
//! - [`metrics`]: `MetricsActor`, the exact PnL fold.
//! - [`control`]: `ControlActor` and its ZMQ ROUTER endpoint for runtime flags.
//! - [`operator`]: an operator's `adopt` and `resume` of a halted symbol.
//! - [`market_data`]: the SUB-socket thread that routes ticks to symbol actors.
//! - [`state_store`]: durable per-symbol state (position, cooldowns), written off-thread.
//! - [`journal`]: the write-ahead journal of that state, appended before the next order.
//! - [`status`]: the shared per-symbol status board (for the status line and reports).
//! - [`time`]: the wall clock and the run's monotonic clock.
//! - [`system`]: wiring: starts every actor for a set of symbols.

pub mod bridge;
pub mod control;
pub mod journal;
pub mod market_data;
pub mod messages;
pub mod metrics;
pub mod operator;
pub mod state_store;
pub mod status;
pub mod symbol_actor;
pub mod system;
pub mod time;

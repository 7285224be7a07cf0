//! The actor shell around the pure core. Actors only move messages; every decision is made
//! by `engine::SymbolCore`.
//!
//! Layout:
//! - [`agents`]: decision agents: the intent endpoint (ROUTER thread, token check), the
//!   router actor, the wire format and idempotency.
//! - [`messages`]: typed actor messages, one struct per intent.
//! - [`symbol_actor`]: `SymbolActor`, one per symbol, the shell around its
//!   [`symbol_state`] (which owns its `SymbolCore`), and the feed's direct tick port.
//! - [`bridge`]: `BridgeActor`, one per shard, the only owner of its shard's gateway socket
//!   (on the shard's thread), with the per-symbol lock table and the
//!   `ZMQ_LOCK_ACQUIRE`/`ZMQ_LOCK_RELEASE` events.
//! - [`data_clock`]: the data clock of a replay (the ticks' time as `now`) and the ticks a
//!   symbol holds while its order is on the wire.
//! - [`metrics`]: `MetricsActor`, the exact PnL fold.
//! - [`control`]: `ControlActor` and its ZMQ ROUTER endpoint for runtime flags.
//! - [`operator`]: an operator's `adopt` and `resume` of a halted symbol.
//! - [`market_data`]: one feed per shard: a SUB socket on the shard's thread that routes
//!   ticks to the shard's symbol actors.
//! - [`outbox`]: a shard's batches of PnL deltas and durable states for the metrics fold
//!   and the state store (one cross-thread hand-off per batch, not per fill).
//! - [`shard`]: which shard runs a symbol (a stable hash), and how many shards.
//! - [`shard_beat`]: one timer per shard that runs its symbols' timers in slices.
//! - [`zmq_ready`]: a ZeroMQ socket's readiness as a stream on the actor's event loop.
//! - [`state_store`]: durable per-symbol state (position, cooldowns), written off-thread.
//! - [`journal`]: the write-ahead journal of that state, appended before the next order.
//! - [`status`]: the shared per-symbol status board (for the status line and reports).
//! - [`time`]: the wall clock and the run's monotonic clock.
//! - [`system`]: wiring: starts every actor for a set of symbols.

pub mod agents;
pub mod bridge;
pub mod control;
pub mod data_clock;
pub mod journal;
pub mod market_data;
pub mod messages;
pub mod metrics;
pub mod operator;
pub mod outbox;
pub mod router_endpoint;
pub mod run_queue;
pub mod shard;
pub mod shard_beat;
pub mod state_store;
pub mod status;
pub mod symbol_actor;
pub mod symbol_state;
pub mod system;
pub mod time;
pub mod zmq_ready;

//! The pure trading core: everything one symbol decides, with no I/O, no async, no actors.
//!
//! The actor shell (`actors/`) owns one [`SymbolCore`] per symbol and only moves messages
//! in and out: ticks and execution reports go in, [`Action`]s (orders, status queries, PnL
//! deltas, audit records) come out. Time is injected by the caller on every call.
//!
//! Layout:
//! - [`efsm`]: the per-symbol execution state machine, one transition table.
//! - [`discrepancy`]: vetting reports against the orders they answer; discrepancy codes.
//! - [`book`]: the one-way position book (cost basis, realized PnL, fees, fill dedupe).
//! - [`intent`]: intents and exit rules, validated (never clamped).
//! - [`exits`]: take-profit, stop-loss, trailing stop, time limit, cooldowns.
//! - [`risk`]: limits, circuit breaker, control flags, and the shared portfolio guard.
//! - [`agent`]: external decision makers: agent ids, one authority per symbol, their
//!   commands and refusal codes (the core path is `SymbolCore::on_agent_intent`).
//! - [`strategy`]: the `Strategy` trait and the z-score, breakout and churn strategies.
//! - [`symbol_core`]: `SymbolCore`, which ties the above together per symbol.
//! - [`reconcile`]: the book against the venue's snapshot, over the same span.
//! - [`ledger`]: the exactly-once PnL fold used by the metrics actor.
//! - [`trade`]: trades as records: booked fills, closed trades (exactly once, with the exit
//!   reason and who decided the entry), adjustments; the input of the trade ledger.
//! - [`feed`]: a seeded synthetic tick generator; [`registry`]: known symbols and aliases.
//! - [`clock`]: nanosecond time and the `Clock` trait; [`calendar`]: civil dates, the strict
//!   ISO 8601 parser and the UTC formatter (the workspace's one copy).

pub mod agent;
pub mod book;
pub mod calendar;
pub mod clock;
pub mod discrepancy;
pub mod efsm;
pub mod exits;
pub mod feed;
pub mod intent;
pub mod ledger;
pub mod reconcile;
pub mod registry;
pub mod risk;
pub mod strategy;
pub mod symbol_core;
pub mod trade;

pub use book::{FillEffect, Position, PositionBook};
pub use clock::{Clock, ManualClock, TimeNs};
pub use efsm::{Direction, ExecEvent, ExecState, ExitReason, InvalidTransition};
pub use intent::{ExitRules, Intent, IntentError, IntentLimits};
pub use ledger::{PnlDelta, PnlLedger};
pub use symbol_core::{Action, CoreConfig, SymbolCore};
pub use trade::{BookAdjustment, BookedFill, CloseReason, ClosedTrade, DecidedBy};

//! Everything that runs the engine for real: the paper gateway, the main job, and the
//! stress harness.
//!
//! Layout:
//! - [`gateway`]: the paper execution gateway (venue, faults, journal, ZeroMQ server).
//! - [`config`]: `engine.toml` and command-line settings, validated key by key.
//! - [`harness`]: the stress harness (gateway child, log audit, gate, reports).
//! - [`lock_log`]: the fast writer of lock events into `engine.jsonl`.
//! - [`logging`]: stdout (human) and `logs/<run-id>/engine.jsonl` (JSON) logging.
//! - [`main_job`]: the engine run: gateway (embedded or remote) + actors + status line.
//! - [`run_id`]: run ids, session ids, wall time.
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP as one stop request.

pub mod config;
pub mod gateway;
pub mod harness;
pub mod lock_log;
pub mod logging;
pub mod main_job;
pub mod run_id;
pub mod signals;

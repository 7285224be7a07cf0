//! The engine application: everything that turns the `engine`, `actors` and `protocol`
//! crates into the running product (the `engine` binary). The paper gateway it runs
//! in-process, when no external gateway is configured, is the `paper-gateway` crate.
//!
//! Layout:
//! - [`config`]: `engine.toml` and command-line settings, validated key by key.
//! - [`config_agents`]: `[agents]`: the intent endpoint and the decision agents.
//! - [`http`]: the HTTP server: `/metrics`, `/healthz`, `/readyz` and the status page.
//! - [`ledger`]: the run's trade ledger (SQLite): opened at start, the summary's figures
//!   recorded and the writer finished at the end.
//! - [`trades`]: `engine trades`: a run's (or a time span's) trades from the ledger.
//! - [`lock_log`]: the fast writer of lock events into `engine.jsonl`.
//! - [`logging`]: stdout (human) and `logs/<run-id>/engine.jsonl` (JSON) logging.
//! - [`main_job`]: the engine run: gateway (embedded or remote) + actors + status line.
//! - [`replay_run`]: a replay in the main job: files loaded, when the run ends, the
//!   replayed span in the summary.
//! - [`run_id`]: run ids, session ids, wall time.
//! - [`signals`]: SIGINT, SIGTERM and SIGHUP as one stop request.

pub mod config;
pub mod config_agents;
pub mod http;
pub mod ledger;
pub mod lock_log;
pub mod logging;
pub mod main_job;
pub mod replay_run;
pub mod run_id;
pub mod signals;
pub mod trades;

//! `engine`: the trading engine's main job.
//!
//! With no arguments it runs the embedded default: a paper gateway on loopback, the
//! synthetic feed, BTCUSD.s, ETHUSD.s and XAUUSD.s, the z-score strategy with TP/SL/time
//! exits, a status line per symbol every second, and a summary at Ctrl-C.
//! `engine trades` prints or exports a run's trades from its trade ledger (SQLite).
//! `engine ctl ...` talks to a running engine's control endpoint, sending the control token
//! (from `ENGINE_CONTROL_TOKEN`, `ENGINE_CONTROL_TOKEN_FILE` or `--config`'s
//! `engine.control_token_file`, never from an argument) and `$USER` as `who`.

use std::path::PathBuf;
use std::time::Duration;

use actors::control::{check_who, client_request, ControlRequest, Credentials, Flag, Scope};
use clap::{Args as ClapArgs, Parser, Subcommand};
use engine_app::config::RunConfig;
use engine_app::main_job::{self, JobOptions};
use protocol::Symbol;

#[derive(Parser, Debug)]
#[command(name = "engine", about = "Concurrent multi-symbol trading engine")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(ClapArgs, Debug, Default)]
struct RunArgs {
    /// Gateway order endpoint (ROUTER), e.g. tcp://HOST:5555. Absent: embedded paper gateway.
    #[arg(long)]
    gateway: Option<String>,
    /// Gateway tick endpoint (PUB), e.g. tcp://HOST:5556. Required with --gateway.
    #[arg(long)]
    market_data: Option<String>,
    /// Wire codec: bincode or json.
    #[arg(long)]
    codec: Option<String>,
    /// Symbols, comma-separated.
    #[arg(long)]
    symbols: Option<String>,
    /// Settings file (engine.toml); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Seed of the embedded gateway's synthetic market.
    #[arg(long)]
    seed: Option<u64>,
    /// Control endpoint to bind (or "off"). Changes need the control token, which is read
    /// from ENGINE_CONTROL_TOKEN, ENGINE_CONTROL_TOKEN_FILE or engine.control_token_file,
    /// never from a flag; without one the endpoint is read-only and must be loopback.
    #[arg(long)]
    control: Option<String>,
    /// HTTP server for /metrics, /healthz, /readyz and the status page: host:port, or "off"
    /// (default 127.0.0.1:9187).
    #[arg(long)]
    http: Option<String>,
    /// Directory for logs/<run-id>/.
    #[arg(long)]
    log_dir: Option<String>,
    /// Durable state file (positions, cooldowns), or "off". Default: state/engine-state.json
    /// with --gateway, off with the embedded paper gateway.
    #[arg(long)]
    state_file: Option<String>,
    /// The trade ledger (SQLite): "run" (logs/<run-id>/trades.sqlite, the default), "off",
    /// or a file path.
    #[arg(long)]
    trade_ledger: Option<String>,
    /// Replay recorded quotes through the embedded paper gateway instead of the synthetic
    /// feed: a file (repeatable) or a folder; CSV `timestamp,bid,ask[,symbol]` or HistData
    /// ASCII ticks (docs/REPLAY.md). The symbols are the files'. The run ends when the
    /// replay does.
    #[arg(long)]
    replay: Vec<String>,
    /// Replay speed: 1 (real time), N (N times faster) or max (as fast as the engine takes
    /// ticks, losslessly).
    #[arg(long)]
    speed: Option<String>,
    /// The symbols' clock: wall, or data (the ticks' own time; the default with --replay).
    #[arg(long)]
    clock: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print or export the trades of a run (default: the latest) or of a time span, with
    /// per-symbol totals checked against the run's summary (exit 1 if they differ).
    Trades {
        /// The ledger file (default: engine.trade_ledger, else logs/<run-id>/trades.sqlite).
        #[arg(long)]
        db: Option<PathBuf>,
        /// The run id (the folder name under logs/).
        #[arg(long)]
        run: Option<String>,
        /// Trades closed at or after this time: ISO 8601 (2026-05-01T12:00:00Z) or epoch seconds.
        #[arg(long)]
        from: Option<String>,
        /// Trades closed before this time.
        #[arg(long)]
        to: Option<String>,
        /// table, csv or json.
        #[arg(long, default_value = "table")]
        format: trade_ledger::export::Format,
        /// engine.toml (for engine.log_dir and engine.trade_ledger).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Where the run folders are (default: engine.log_dir, else logs).
        #[arg(long)]
        log_dir: Option<PathBuf>,
    },
    /// Change or read the runtime control flags of a running engine.
    Ctl {
        /// The engine's control endpoint.
        #[arg(long, default_value = "tcp://127.0.0.1:5557")]
        endpoint: String,
        /// engine.toml whose engine.control_token_file holds the token (used when neither
        /// ENGINE_CONTROL_TOKEN nor ENGINE_CONTROL_TOKEN_FILE is set).
        #[arg(long)]
        config: Option<PathBuf>,
        #[command(subcommand)]
        action: CtlAction,
    },
}

#[derive(Subcommand, Debug)]
enum CtlAction {
    /// Set a flag: `engine ctl set global entry_enabled false`.
    Set {
        /// "global" or a symbol.
        scope: Scope,
        /// entry_enabled, exit_enabled or global_lock.
        #[arg(value_parser = parse_flag)]
        flag: Flag,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        value: bool,
    },
    /// Show every flag.
    Get,
    /// Show every symbol's state, the breaker and the discrepancies.
    Status,
    /// A halted symbol's book takes the venue's position, PnL and fees (it stays halted):
    /// `engine ctl adopt BTCUSD.s`.
    Adopt { symbol: Symbol },
    /// A halted symbol trades again, if its book follows the venue: `engine ctl resume BTCUSD.s`.
    Resume { symbol: Symbol },
    /// Close the circuit breaker now (for example after a drawdown trip).
    ResetBreaker,
}

fn main() {
    let cli = Cli::parse();
    let code = match cli.command {
        Some(Command::Ctl { endpoint, config, action }) => ctl(&endpoint, config.as_deref(), action),
        Some(Command::Trades { db, run, from, to, format, config, log_dir }) => {
            trades(db, run, from, to, format, config.as_deref(), log_dir)
        }
        None => run(cli.run),
    };
    std::process::exit(code);
}

/// The token and operator name `engine ctl` sends.
fn credentials(config: Option<&std::path::Path>) -> Result<Credentials, String> {
    let token_file = match config {
        Some(path) => {
            let mut file = RunConfig::default();
            file.apply_file(path).map_err(|e| e.to_string())?;
            file.control_token_file
        }
        None => None,
    };
    let token = engine_app::config::control_token(&|key| std::env::var_os(key), token_file.as_deref())
        .map_err(|e| e.to_string())?;
    let who = ["USER", "LOGNAME"].iter().find_map(|key| std::env::var(key).ok()).filter(|w| check_who(w).is_ok());
    Ok(Credentials { token, who })
}

/// A flag by its wire name (`entry_enabled`, `exit_enabled`, `global_lock`).
fn parse_flag(text: &str) -> Result<Flag, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string()))
        .map_err(|_| format!("unknown flag {text:?} (entry_enabled, exit_enabled, global_lock)"))
}

fn ctl(endpoint: &str, config: Option<&std::path::Path>, action: CtlAction) -> i32 {
    let credentials = match credentials(config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("engine ctl: {e}");
            return 2;
        }
    };
    let request = match action {
        CtlAction::Set { scope, flag, value } => ControlRequest::Set { scope, flag, value },
        CtlAction::Get => ControlRequest::Get,
        CtlAction::Status => ControlRequest::Status,
        CtlAction::Adopt { symbol } => ControlRequest::Adopt { symbol },
        CtlAction::Resume { symbol } => ControlRequest::Resume { symbol },
        CtlAction::ResetBreaker => ControlRequest::ResetBreaker,
    };
    match client_request(endpoint, &request, &credentials, Duration::from_secs(3)) {
        Ok(reply) => {
            println!("{}", serde_json::to_string_pretty(&reply).unwrap_or_default());
            if reply.ok {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("engine ctl: {e}");
            2
        }
    }
}

/// `engine trades`: 0 when the ledger matches (or nothing was to be checked), 1 when it
/// differs from the run's summary, 2 on an error.
fn trades(
    db: Option<PathBuf>,
    run: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: trade_ledger::export::Format,
    config: Option<&std::path::Path>,
    log_dir: Option<PathBuf>,
) -> i32 {
    let mut settings = RunConfig::default();
    if let Some(path) = config {
        if let Err(e) = settings.apply_file(path) {
            eprintln!("engine trades: {e}");
            return 2;
        }
    }
    let request = engine_app::trades::TradesRequest {
        db,
        run,
        from,
        to,
        format,
        log_dir: log_dir.unwrap_or_else(|| PathBuf::from(&settings.log_dir)),
        ledger: settings.trade_ledger,
    };
    match engine_app::trades::trades(&request) {
        Ok(out) => {
            if out.text.ends_with('\n') {
                print!("{}", out.text);
            } else {
                println!("{}", out.text);
            }
            if out.differs {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("engine trades: {e}");
            2
        }
    }
}

fn build_config(args: &RunArgs) -> Result<RunConfig, String> {
    let mut config = RunConfig::default();
    if let Some(path) = &args.config {
        config.apply_file(path).map_err(|e| e.to_string())?;
    }
    let mut file = engine_app::config::FileConfig::default();
    file.engine.gateway = args.gateway.clone();
    file.engine.market_data = args.market_data.clone();
    file.engine.codec = args.codec.clone();
    file.engine.symbols = args.symbols.as_ref().map(|s| s.split(',').map(|p| p.trim().to_string()).collect());
    file.engine.control = args.control.clone();
    file.engine.http = args.http.clone();
    file.engine.log_dir = args.log_dir.clone();
    file.engine.state_file = args.state_file.clone();
    file.engine.trade_ledger = args.trade_ledger.clone();
    file.gateway.seed = args.seed;
    file.gateway.replay = (!args.replay.is_empty()).then(|| args.replay.clone());
    file.gateway.speed = args.speed.clone();
    file.engine.clock = args.clock.clone();
    // Flags are applied as a second file layer so they get the same validation; keys that
    // were not given keep the file's values.
    let aliases = std::mem::take(&mut config.aliases);
    config.apply(file).map_err(|e| {
        format!("--{}", e.to_string().trim_start_matches("engine.").trim_start_matches("gateway.").replace('_', "-"))
    })?;
    config.aliases = aliases;
    // Last, from the environment or engine.control_token_file: never from a flag.
    config.resolve_control(&|key| std::env::var_os(key)).map_err(|e| e.to_string())?;
    Ok(config)
}

fn run(args: RunArgs) -> i32 {
    let config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("engine: {e}");
            return 2;
        }
    };
    let duration = match args.duration.map(|d| engine_app::config::seconds("--duration", d, false)).transpose() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("engine: {e}");
            return 2;
        }
    };
    let run_dir = PathBuf::from(&config.log_dir).join(engine_app::run_id::run_id());
    let log = match engine_app::logging::init(Some(&run_dir), "info,locks=warn") {
        Ok(log) => log,
        Err(e) => {
            eprintln!("engine: cannot create {}: {e}", run_dir.display());
            return 2;
        }
    };
    println!(
        "engine: run {} — log {}",
        run_dir.display(),
        log.jsonl.as_ref().map_or("-".into(), |p| p.display().to_string())
    );
    let result = main_job::run(JobOptions {
        status_every: Some(Duration::from_secs(1)),
        run_dir: Some(run_dir.clone()),
        ..JobOptions::new(config, duration)
    });
    match result {
        Ok(summary) => {
            main_job::print_summary(&summary);
            drop(log);
            if summary.books_balance() {
                0
            } else {
                1
            }
        }
        Err(e) => {
            eprintln!("engine: {e:#}");
            2
        }
    }
}

//! Run settings: built-in defaults, then `engine.toml`, then command-line flags. Every key
//! is validated at start and an error names the key (`risk.max_drawdown: ...`). The control
//! token comes last, from the environment or a file, never from a flag
//! ([`RunConfig::resolve_control`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use actors::control::{self, ControlError, ControlSettings, ControlToken, TOKEN_ENV, TOKEN_FILE_ENV};
use actors::data_clock::ClockSource;
use paper_gateway::replay::Speed;

use crate::config_agents::{AgentsConfig, AgentsSection};

use engine::discrepancy::PriceBand;
use engine::feed::IntervalMs;
use engine::intent::{ExitRules, Trailing};
use engine::risk::{BreakerConfig, RiskConfig};
use protocol::{Codec, Money, Ppm, Qty};
use serde::{Deserialize, Serialize};

/// A settings error, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    pub key: String,
    pub reason: String,
}

pub(crate) fn bad(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError { key: key.to_string(), reason: reason.to_string() }
}

/// The `engine.toml` file. Unknown keys are errors.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub engine: EngineSection,
    #[serde(default)]
    pub strategy: StrategySection,
    #[serde(default)]
    pub risk: RiskSection,
    #[serde(default)]
    pub gateway: GatewaySection,
    /// Venue spellings → canonical symbol (`"BTC/USDT:USDT" = "BTCUSD.s"`).
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Decision agents and their intent endpoint (docs/AGENTS.md).
    #[serde(default)]
    pub agents: AgentsSection,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub symbols: Option<Vec<String>>,
    pub codec: Option<String>,
    pub gateway: Option<String>,
    pub market_data: Option<String>,
    pub control: Option<String>,
    /// File holding the control token (one line); `ENGINE_CONTROL_TOKEN` and
    /// `ENGINE_CONTROL_TOKEN_FILE` take precedence.
    pub control_token_file: Option<String>,
    pub identity: Option<String>,
    pub order_timeout_ms: Option<u64>,
    pub heartbeat_interval_ms: Option<u64>,
    pub heartbeats_missed: Option<u32>,
    pub stale_after_ms: Option<u64>,
    pub log_dir: Option<String>,
    /// Durable state file, or "off". Default: `state/engine-state.json` with an external
    /// gateway, off with the embedded one (whose ledger starts empty every run).
    pub state_file: Option<String>,
    pub state_fsync: Option<bool>,
    /// Shards of the hot path: 0 (the default) = one per core; never more than symbols.
    pub shards: Option<usize>,
    /// A symbol step (strategy included) longer than this halts the symbol.
    pub step_budget_ms: Option<u64>,
    /// The HTTP server (`/metrics`, `/healthz`, `/readyz`, the status page): `host:port`,
    /// or "off".
    pub http: Option<String>,
    /// One `/metrics` series per symbol (turn off for very large symbol counts).
    pub http_symbol_labels: Option<bool>,
    /// The trade ledger (SQLite): "run" (default: `<log_dir>/<run-id>/trades.sqlite`),
    /// "off", or a file path (several runs may share it).
    pub trade_ledger: Option<String>,
    /// "wall" or "data" (the ticks' own time); default: "data" when replaying, else "wall".
    pub clock: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    pub kind: Option<String>,
    pub window: Option<usize>,
    pub entry_z: Option<f64>,
    pub exit_z: Option<f64>,
    pub exit_window: Option<usize>,
    pub tp_pct: Option<String>,
    pub sl_pct: Option<String>,
    pub trailing_activation_pct: Option<String>,
    pub trailing_distance_pct: Option<String>,
    pub max_hold_secs: Option<u32>,
    pub cooldown_sec: Option<u32>,
    /// Order size for every symbol, overriding the per-instrument default.
    pub qty: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskSection {
    pub initial_equity: Option<String>,
    pub max_position_qty: Option<String>,
    pub max_symbol_exposure_pct: Option<String>,
    pub max_total_exposure_pct: Option<String>,
    pub max_orders_per_sec_symbol: Option<u32>,
    pub max_orders_per_sec_total: Option<u32>,
    pub breaker_failures: Option<u32>,
    pub breaker_cooloff_secs: Option<u64>,
    pub max_drawdown: Option<String>,
    pub max_fill_deviation_pct: Option<String>,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct GatewaySection {
    pub seed: Option<u64>,
    pub interval_ms: Option<String>,
    pub fee_ppm: Option<u32>,
    pub slippage_ppm: Option<u32>,
    pub reject_rate: Option<f64>,
    pub drop_reply_rate: Option<f64>,
    pub latency_ms: Option<u64>,
    /// Recorded quote files (or folders) the embedded gateway replays (docs/REPLAY.md).
    pub replay: Option<Vec<String>>,
    /// Replay speed: "1" (real time), "N" (N times faster) or "max".
    pub speed: Option<String>,
    /// Where the embedded gateway binds its tick PUB (an agent reads the same ticks there).
    pub market_data_bind: Option<String>,
}

/// Which built-in strategy, with its parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StrategyChoice {
    ZScore {
        window: usize,
        entry_z: f64,
        exit_z: f64,
    },
    Breakout {
        window: usize,
        exit_window: usize,
    },
    /// Load generation for stress runs: in and out on every tick.
    Churn,
    /// The peer benchmark's workload: the next order as soon as the previous one is done
    /// (alternating buy and sell), and on ticks when idle.
    BackToBack,
}

/// Validated settings of a run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub symbols: Vec<String>,
    pub codec: Codec,
    /// `None`: run the embedded paper gateway.
    pub gateway: Option<String>,
    pub market_data: Option<String>,
    /// The control endpoint and its token (`None`: control "off"). The token is filled in
    /// by [`RunConfig::resolve_control`].
    pub control: Option<ControlSettings>,
    /// `engine.control_token_file` as given.
    pub control_token_file: Option<PathBuf>,
    pub identity: String,
    pub order_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub heartbeats_missed: u32,
    pub stale_after: Duration,
    pub log_dir: String,
    pub strategy: StrategyChoice,
    pub exits: ExitRules,
    pub qty: Option<Qty>,
    pub risk: RiskConfig,
    /// A fill further than this from the touch is a discrepancy (`risk.max_fill_deviation_pct`).
    pub price_band: PriceBand,
    pub aliases: BTreeMap<String, String>,
    pub seed: u64,
    pub interval: IntervalMs,
    pub fee: Ppm,
    pub slippage_ppm: u32,
    pub reject_rate: f64,
    pub drop_reply_rate: f64,
    pub latency: Duration,
    /// Shards of the hot path (`engine.shards`): 0 = one per core.
    pub shards: usize,
    /// `engine.step_budget_ms`: a longer symbol step halts that symbol (`step_overrun`).
    pub step_budget: Duration,
    /// Wait instead of dropping ticks when a symbol's mailbox is full (stress `--max-rate`).
    pub lossless_ticks: bool,
    /// `engine.state_file` as given (`None`: the default for the gateway mode).
    pub state_file: Option<String>,
    /// Sync the durable journal to disk on every append (`engine.state_fsync`): survives a
    /// power loss, not only a crash, at a much higher cost per order.
    pub state_fsync: bool,
    /// Where the HTTP server listens (`engine.http`; `None`: off).
    pub http: Option<SocketAddr>,
    /// `engine.http_symbol_labels`.
    pub http_symbol_labels: bool,
    /// Where the trade ledger goes (`engine.trade_ledger`).
    pub trade_ledger: TradeLedger,
    /// `engine.clock` as given (`None`: the data clock when replaying, else the wall clock).
    pub clock: Option<ClockSource>,
    /// `gateway.replay`: recorded quote files or folders the embedded gateway replays.
    pub replay: Vec<PathBuf>,
    /// `gateway.speed`.
    pub speed: Speed,
    /// `gateway.market_data_bind`: the embedded gateway's tick PUB bind address.
    pub embedded_market_data_bind: String,
    /// `[agents]`: the intent endpoint and the agents that drive symbols.
    pub agents: AgentsConfig,
}

/// Where the trade ledger (every order, fill and closed trade, in SQLite) is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TradeLedger {
    /// `trades.sqlite` in the run's folder (`logs/<run-id>/`), when the run has one.
    RunFolder,
    /// Not written.
    Off,
    /// This file (created if absent; runs are told apart by their run id).
    At(PathBuf),
}

impl TradeLedger {
    /// The file for a run whose folder is `run_dir` (`None`: no ledger).
    pub fn path(&self, run_dir: Option<&Path>) -> Option<PathBuf> {
        match self {
            TradeLedger::RunFolder => run_dir.map(|d| d.join("trades.sqlite")),
            TradeLedger::Off => None,
            TradeLedger::At(path) => Some(path.clone()),
        }
    }

    fn parse(key: &str, text: &str) -> Result<TradeLedger, ConfigError> {
        match text {
            "run" => Ok(TradeLedger::RunFolder),
            "off" => Ok(TradeLedger::Off),
            "" => Err(bad(key, "must be \"run\", \"off\" or a file path")),
            path if Path::new(path).is_dir() => Err(bad(key, format!("{path} is a directory; name the database file"))),
            path => Ok(TradeLedger::At(path.into())),
        }
    }
}

/// The HTTP server's default address.
pub const DEFAULT_HTTP: &str = "127.0.0.1:9187";

/// A ZeroMQ routing identity is at most 255 bytes; each shard appends "-s<n>" to ours.
pub const MAX_IDENTITY_BYTES: usize = 248;
/// More shards than this would only add threads that wait.
pub const MAX_SHARDS: usize = 256;

pub const DEFAULT_SYMBOLS: [&str; 3] = ["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"];

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            symbols: DEFAULT_SYMBOLS.iter().map(|s| s.to_string()).collect(),
            codec: Codec::Bincode,
            gateway: None,
            market_data: None,
            control: Some(ControlSettings::without_token("tcp://127.0.0.1:5557")),
            control_token_file: None,
            identity: "engine-main".into(),
            order_timeout: Duration::from_millis(1_000),
            heartbeat_interval: Duration::from_millis(1_000),
            heartbeats_missed: 3,
            stale_after: Duration::from_secs(2),
            log_dir: "logs".into(),
            strategy: StrategyChoice::ZScore { window: 40, entry_z: 2.0, exit_z: 0.3 },
            exits: ExitRules {
                take_profit: Some(Ppm(1_500)),
                stop_loss: Some(Ppm(1_500)),
                trailing: None,
                max_hold_secs: Some(20),
                cooldown_secs: 2,
            },
            qty: None,
            risk: RiskConfig::default(),
            price_band: PriceBand::default(),
            aliases: BTreeMap::new(),
            seed: 42,
            interval: IntervalMs::default(),
            fee: Ppm(250),
            slippage_ppm: 0,
            reject_rate: 0.0,
            drop_reply_rate: 0.0,
            latency: Duration::ZERO,
            embedded_market_data_bind: "tcp://127.0.0.1:*".into(),
            shards: 0,
            step_budget: ::actors::symbol_actor::DEFAULT_STEP_BUDGET,
            lossless_ticks: false,
            state_file: None,
            state_fsync: false,
            http: DEFAULT_HTTP.parse().ok(),
            http_symbol_labels: true,
            trade_ledger: TradeLedger::RunFolder,
            clock: None,
            replay: Vec::new(),
            speed: Speed::REAL_TIME,
            agents: AgentsConfig::default(),
        }
    }
}

fn pct(key: &str, text: &str) -> Result<Ppm, ConfigError> {
    Ppm::from_percent_str(text).map_err(|e| bad(key, format!("{e} (a percentage such as \"0.5\")")))
}

fn money(key: &str, text: &str) -> Result<Money, ConfigError> {
    text.parse::<Money>().map_err(|e| bad(key, format!("{e} (an exact decimal string)")))
}

fn positive_ms(key: &str, ms: u64) -> Result<Duration, ConfigError> {
    if ms == 0 || ms > 3_600_000 {
        return Err(bad(key, format!("{ms} is outside 1..=3600000")));
    }
    Ok(Duration::from_millis(ms))
}

pub(crate) fn endpoint(key: &str, text: &str) -> Result<String, ConfigError> {
    let ok = ["tcp://", "ipc://", "inproc://"].iter().any(|p| text.starts_with(p) && text.len() > p.len());
    if !ok {
        return Err(bad(key, format!("{text:?} is not a ZeroMQ endpoint (tcp://HOST:PORT or ipc://PATH)")));
    }
    if let Some(rest) = text.strip_prefix("tcp://") {
        check_tcp_address(rest).map_err(|reason| bad(key, format!("{text:?}: {reason}")))?;
    }
    Ok(text.to_string())
}

/// A `HOST:PORT` that can be connected to: a port number, and a host that resolves (an
/// unresolvable host would otherwise leave ZeroMQ retrying silently for the whole run).
/// `*` (bind to every interface) is accepted as a host.
fn check_tcp_address(address: &str) -> Result<(), String> {
    let Some((host, port)) = address.rsplit_once(':') else { return Err("no :PORT".into()) };
    if port != "*" && port.parse::<u16>().is_err() {
        return Err(format!("port {port:?} is not a number in 0..=65535 (or *)"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "*" || host.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    use std::net::ToSocketAddrs;
    match (host, 0u16).to_socket_addrs().map(|addresses| addresses.count()) {
        Ok(0) => Err(format!("host {host:?} resolves to no address")),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("host {host:?} cannot be resolved: {e}")),
    }
}

/// Longest duration any flag accepts (a year): beyond it, clock arithmetic could overflow.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A number of seconds from the command line: finite, not negative, at most a year; zero
/// only where `allow_zero`. The error names the flag.
pub fn seconds(flag: &str, value: f64, allow_zero: bool) -> Result<Duration, ConfigError> {
    let ok = value.is_finite() && value <= MAX_SECONDS && (value > 0.0 || (allow_zero && value == 0.0));
    if !ok {
        let least = if allow_zero { "0" } else { "more than 0" };
        return Err(bad(flag, format!("{value} is not a number of seconds ({least} up to {MAX_SECONDS})")));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Parses `MIN..MAX` milliseconds.
pub fn interval(key: &str, text: &str) -> Result<IntervalMs, ConfigError> {
    let (lo, hi) = text.split_once("..").ok_or_else(|| bad(key, format!("{text:?} is not MIN..MAX")))?;
    let parse = |s: &str| {
        s.trim().parse::<u64>().map_err(|_| bad(key, format!("{text:?} is not MIN..MAX in whole milliseconds")))
    };
    let (min, max) = (parse(lo)?, parse(hi)?);
    if min > max || max > 60_000 {
        return Err(bad(key, format!("{text:?}: need MIN <= MAX <= 60000")));
    }
    Ok(IntervalMs { min, max })
}

/// Largest control token file read (a token is at most 1024 bytes).
const MAX_TOKEN_FILE_BYTES: u64 = 4096;

/// The control token, from the first source that is set: `ENGINE_CONTROL_TOKEN` (the
/// token), `ENGINE_CONTROL_TOKEN_FILE` (a file holding it), then `token_file`
/// (`engine.control_token_file`). Both variables set at once is an error. `env` looks a
/// variable up (`std::env::var_os` in the binaries). The `engine` and `engine ctl` share it.
pub fn control_token(
    env: &dyn Fn(&str) -> Option<OsString>,
    token_file: Option<&Path>,
) -> Result<Option<ControlToken>, ConfigError> {
    match (env(TOKEN_ENV), env(TOKEN_FILE_ENV)) {
        (Some(_), Some(_)) => Err(bad(TOKEN_ENV, format!("both {TOKEN_ENV} and {TOKEN_FILE_ENV} are set: use one"))),
        (Some(text), None) => {
            let text = text.into_string().map_err(|_| bad(TOKEN_ENV, "is not UTF-8"))?;
            ControlToken::new(text.trim()).map(Some).map_err(|e| bad(TOKEN_ENV, e))
        }
        (None, Some(path)) => read_token_file(TOKEN_FILE_ENV, Path::new(&path)).map(Some),
        (None, None) => token_file.map(|path| read_token_file("engine.control_token_file", path)).transpose(),
    }
}

/// Reads a token file: at most 4 KiB, surrounding whitespace (the final newline) ignored.
pub(crate) fn read_token_file(key: &str, path: &Path) -> Result<ControlToken, ConfigError> {
    let cannot = |e: std::io::Error| bad(key, format!("cannot read {}: {e}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(MAX_TOKEN_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
        return Err(bad(
            key,
            format!("{} is over {MAX_TOKEN_FILE_BYTES} bytes: it must hold only the token", path.display()),
        ));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| bad(key, format!("{} is not UTF-8", path.display())))?;
    ControlToken::new(text.trim()).map_err(|e| bad(key, format!("{}: {e}", path.display())))
}

impl RunConfig {
    /// Completes the control settings once every layer is applied: takes the token from
    /// the environment or `engine.control_token_file` ([`control_token`]), and refuses a
    /// control endpoint that is not loopback when there is no token. Nothing to do when
    /// control is off.
    pub fn resolve_control(&mut self, env: &dyn Fn(&str) -> Option<OsString>) -> Result<(), ConfigError> {
        let Some(settings) = &mut self.control else { return Ok(()) };
        if let Some(token) = control_token(env, self.control_token_file.as_deref())? {
            settings.token = Some(token);
        }
        if settings.token.is_none() && !control::is_local_endpoint(&settings.bind) {
            return Err(bad("engine.control", ControlError::NotLoopback { endpoint: settings.bind.clone() }));
        }
        Ok(())
    }

    /// The clock the symbols run on: as configured, else the data clock for a replay.
    pub fn clock(&self) -> ClockSource {
        self.clock.unwrap_or(if self.replay.is_empty() { ClockSource::Wall } else { ClockSource::Data })
    }

    /// Where durable state lives for this run, if anywhere.
    pub fn state_path(&self) -> Option<std::path::PathBuf> {
        match self.state_file.as_deref() {
            Some("off") => None,
            Some(path) => Some(path.into()),
            None if self.gateway.is_some() => Some("state/engine-state.json".into()),
            None => None,
        }
    }

    /// Reads and applies `engine.toml`.
    pub fn apply_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| bad("config", format!("cannot read {}: {e}", path.display())))?;
        let file: FileConfig = toml::from_str(&text).map_err(|e| bad("config", e.to_string().trim()))?;
        self.apply(file)
    }

    /// Applies a parsed file, validating each key.
    pub fn apply(&mut self, file: FileConfig) -> Result<(), ConfigError> {
        let e = file.engine;
        if let Some(symbols) = e.symbols {
            if symbols.is_empty() {
                return Err(bad("engine.symbols", "must not be empty"));
            }
            self.symbols = symbols;
        }
        if let Some(codec) = e.codec {
            self.codec = codec.parse().map_err(|err| bad("engine.codec", err))?;
        }
        if let Some(g) = e.gateway {
            self.gateway = Some(endpoint("engine.gateway", &g)?);
        }
        if let Some(m) = e.market_data {
            self.market_data = Some(endpoint("engine.market_data", &m)?);
        }
        if let Some(c) = e.control {
            self.control = if c.is_empty() || c == "off" {
                None
            } else {
                // A token already resolved stays with the new endpoint.
                let token = self.control.take().and_then(|old| old.token);
                Some(ControlSettings { bind: endpoint("engine.control", &c)?, token })
            };
        }
        if let Some(path) = e.control_token_file {
            if path.is_empty() {
                return Err(bad("engine.control_token_file", "must be a path"));
            }
            self.control_token_file = Some(path.into());
        }
        if let Some(id) = e.identity {
            if id.is_empty() || id.len() > MAX_IDENTITY_BYTES {
                return Err(bad(
                    "engine.identity",
                    format!("must be 1..={MAX_IDENTITY_BYTES} bytes (each shard's DEALER adds \"-s<n>\")"),
                ));
            }
            self.identity = id;
        }
        if let Some(ms) = e.order_timeout_ms {
            self.order_timeout = positive_ms("engine.order_timeout_ms", ms)?;
        }
        if let Some(ms) = e.heartbeat_interval_ms {
            self.heartbeat_interval = positive_ms("engine.heartbeat_interval_ms", ms)?;
        }
        if let Some(n) = e.heartbeats_missed {
            if n == 0 {
                return Err(bad("engine.heartbeats_missed", "must be >= 1"));
            }
            self.heartbeats_missed = n;
        }
        if let Some(ms) = e.stale_after_ms {
            self.stale_after = positive_ms("engine.stale_after_ms", ms)?;
        }
        if let Some(dir) = e.log_dir {
            self.log_dir = dir;
        }
        if let Some(path) = e.state_file {
            if path.is_empty() {
                return Err(bad("engine.state_file", "must be a path or \"off\""));
            }
            self.state_file = Some(path);
        }
        if let Some(fsync) = e.state_fsync {
            self.state_fsync = fsync;
        }
        if let Some(shards) = e.shards {
            if shards > MAX_SHARDS {
                return Err(bad("engine.shards", format!("must be 0 (one per core) ..= {MAX_SHARDS}")));
            }
            self.shards = shards;
        }
        if let Some(ms) = e.step_budget_ms {
            self.step_budget = positive_ms("engine.step_budget_ms", ms)?;
        }
        if let Some(http) = e.http {
            self.http = if http == "off" {
                None
            } else {
                Some(http.parse().map_err(|err| {
                    bad("engine.http", format!("{err}: a host:port such as \"{DEFAULT_HTTP}\", or \"off\""))
                })?)
            };
        }
        if let Some(labels) = e.http_symbol_labels {
            self.http_symbol_labels = labels;
        }
        if let Some(text) = e.trade_ledger {
            self.trade_ledger = TradeLedger::parse("engine.trade_ledger", &text)?;
        }
        if let Some(clock) = e.clock {
            self.clock = Some(clock.parse().map_err(|err| bad("engine.clock", err))?);
        }
        self.apply_strategy(file.strategy)?;
        self.apply_risk(file.risk)?;
        self.apply_gateway(file.gateway)?;
        self.aliases = file.aliases;
        self.agents.apply(file.agents)?;
        self.check_can_trade()
    }

    /// Settings that each pass on their own but together could never trade.
    fn check_can_trade(&self) -> Result<(), ConfigError> {
        let band = self.price_band.max_deviation_ppm;
        if band != 0 && u64::from(self.slippage_ppm) >= band {
            return Err(bad(
                "gateway.slippage_ppm",
                format!("{} ppm is not below risk.max_fill_deviation_pct ({band} ppm): every fill would be refused as a discrepancy", self.slippage_ppm),
            ));
        }
        Ok(())
    }

    fn apply_strategy(&mut self, s: StrategySection) -> Result<(), ConfigError> {
        let kind = s.kind.as_deref().unwrap_or(match self.strategy {
            StrategyChoice::ZScore { .. } => "zscore",
            StrategyChoice::Breakout { .. } => "breakout",
            StrategyChoice::Churn => "churn",
            StrategyChoice::BackToBack => "back_to_back",
        });
        // Keys not given keep their current values (a later layer, such as the command-line
        // flags applied over the file, must not reset what the file set).
        let (cur_window, cur_entry, cur_exit, cur_exit_window) = match self.strategy {
            StrategyChoice::ZScore { window, entry_z, exit_z } => (window, entry_z, exit_z, None),
            StrategyChoice::Breakout { window, exit_window } => (window, 2.0, 0.3, Some(exit_window)),
            StrategyChoice::Churn | StrategyChoice::BackToBack => (40, 2.0, 0.3, None),
        };
        let window = s.window.unwrap_or(cur_window);
        if !(2..=100_000).contains(&window) {
            return Err(bad("strategy.window", format!("{window} is outside 2..=100000")));
        }
        self.strategy = match kind {
            "zscore" => {
                let entry_z = s.entry_z.unwrap_or(cur_entry);
                let exit_z = s.exit_z.unwrap_or(cur_exit);
                if !(entry_z.is_finite() && entry_z > 0.0 && entry_z <= 20.0) {
                    return Err(bad("strategy.entry_z", format!("{entry_z} is outside (0, 20]")));
                }
                if !(exit_z.is_finite() && (0.0..entry_z).contains(&exit_z)) {
                    return Err(bad("strategy.exit_z", format!("{exit_z} must be >= 0 and < entry_z")));
                }
                StrategyChoice::ZScore { window, entry_z, exit_z }
            }
            "breakout" => {
                let exit_window =
                    s.exit_window.or(cur_exit_window.filter(|_| s.window.is_none())).unwrap_or((window / 2).max(2));
                if !(2..=window).contains(&exit_window) {
                    return Err(bad("strategy.exit_window", format!("{exit_window} must be within 2..=window")));
                }
                StrategyChoice::Breakout { window, exit_window }
            }
            "churn" => StrategyChoice::Churn,
            "back_to_back" => StrategyChoice::BackToBack,
            other => {
                return Err(bad(
                    "strategy.kind",
                    format!("{other:?}: expected \"zscore\", \"breakout\", \"churn\" or \"back_to_back\""),
                ))
            }
        };
        let x = &mut self.exits;
        if let Some(t) = s.tp_pct {
            x.take_profit = if t == "off" { None } else { Some(pct("strategy.tp_pct", &t)?) };
        }
        if let Some(t) = s.sl_pct {
            x.stop_loss = if t == "off" { None } else { Some(pct("strategy.sl_pct", &t)?) };
        }
        match (s.trailing_activation_pct, s.trailing_distance_pct) {
            (Some(a), Some(d)) => {
                x.trailing = Some(Trailing {
                    activation: pct("strategy.trailing_activation_pct", &a)?,
                    distance: pct("strategy.trailing_distance_pct", &d)?,
                })
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(bad("strategy.trailing_distance_pct", "required with trailing_activation_pct"))
            }
            (None, Some(_)) => {
                return Err(bad("strategy.trailing_activation_pct", "required with trailing_distance_pct"))
            }
        }
        if let Some(secs) = s.max_hold_secs {
            x.max_hold_secs = if secs == 0 { None } else { Some(secs) };
        }
        if let Some(secs) = s.cooldown_sec {
            x.cooldown_secs = secs;
        }
        let probe = engine::intent::Intent {
            direction: engine::Direction::Long,
            qty: Qty::from_raw(1).unwrap_or(Qty::ZERO),
            exits: *x,
        };
        probe
            .validate(&engine::intent::IntentLimits::default())
            .map_err(|e| bad(&format!("strategy.{}", e.field), e))?;
        if let Some(q) = s.qty {
            let qty: Qty = q.parse().map_err(|e| bad("strategy.qty", e))?;
            if qty.is_zero() {
                return Err(bad("strategy.qty", "must be > 0"));
            }
            self.qty = Some(qty);
        }
        Ok(())
    }

    fn apply_risk(&mut self, r: RiskSection) -> Result<(), ConfigError> {
        let risk = &mut self.risk;
        if let Some(v) = r.initial_equity {
            risk.initial_equity = money("risk.initial_equity", &v)?;
            if risk.initial_equity <= Money::ZERO {
                return Err(bad("risk.initial_equity", "must be > 0"));
            }
        }
        if let Some(v) = r.max_position_qty {
            risk.max_position_qty = v.parse().map_err(|e| bad("risk.max_position_qty", e))?;
            if risk.max_position_qty.is_zero() {
                return Err(bad("risk.max_position_qty", "must be > 0 (0 could never trade)"));
            }
        }
        if let Some(v) = r.max_symbol_exposure_pct {
            risk.max_symbol_exposure = pct("risk.max_symbol_exposure_pct", &v)?;
            if risk.max_symbol_exposure.0 == 0 {
                return Err(bad("risk.max_symbol_exposure_pct", "must be > 0 (0 could never trade)"));
            }
        }
        if let Some(v) = r.max_total_exposure_pct {
            risk.max_total_exposure = pct("risk.max_total_exposure_pct", &v)?;
            if risk.max_total_exposure.0 == 0 {
                return Err(bad("risk.max_total_exposure_pct", "must be > 0 (0 could never trade)"));
            }
        }
        for (key, value, slot) in [
            ("risk.max_orders_per_sec_symbol", r.max_orders_per_sec_symbol, &mut risk.max_orders_per_sec_symbol),
            ("risk.max_orders_per_sec_total", r.max_orders_per_sec_total, &mut risk.max_orders_per_sec_total),
        ] {
            if let Some(v) = value {
                if v == 0 {
                    return Err(bad(key, "must be >= 1 (0 could never trade)"));
                }
                *slot = v;
            }
        }
        if let Some(v) = r.max_fill_deviation_pct {
            self.price_band = if v == "off" {
                PriceBand { max_deviation_ppm: 0 }
            } else {
                let ppm = pct("risk.max_fill_deviation_pct", &v)?;
                if ppm.0 == 0 {
                    return Err(bad("risk.max_fill_deviation_pct", "must be > 0, or \"off\""));
                }
                PriceBand { max_deviation_ppm: u64::from(ppm.0) }
            };
        }
        if let Some(v) = r.breaker_failures {
            if v == 0 {
                return Err(bad("risk.breaker_failures", "must be >= 1"));
            }
            risk.breaker = BreakerConfig { max_consecutive_failures: v, ..risk.breaker };
        }
        if let Some(v) = r.breaker_cooloff_secs {
            risk.breaker.cooloff_ns = v.saturating_mul(1_000_000_000);
        }
        if let Some(v) = r.max_drawdown {
            risk.breaker.max_drawdown = money("risk.max_drawdown", &v)?;
            if risk.breaker.max_drawdown <= Money::ZERO {
                return Err(bad("risk.max_drawdown", "must be > 0"));
            }
        }
        Ok(())
    }

    fn apply_gateway(&mut self, g: GatewaySection) -> Result<(), ConfigError> {
        if let Some(seed) = g.seed {
            self.seed = seed;
        }
        if let Some(text) = g.interval_ms {
            self.interval = interval("gateway.interval_ms", &text)?;
        }
        if let Some(fee) = g.fee_ppm {
            if fee > 100_000 {
                return Err(bad("gateway.fee_ppm", format!("{fee} is above 100000 (10%)")));
            }
            self.fee = Ppm(fee);
        }
        if let Some(s) = g.slippage_ppm {
            if s > 100_000 {
                return Err(bad("gateway.slippage_ppm", format!("{s} is above 100000 (10%)")));
            }
            self.slippage_ppm = s;
        }
        for (key, value, slot) in [
            ("gateway.reject_rate", g.reject_rate, &mut self.reject_rate),
            ("gateway.drop_reply_rate", g.drop_reply_rate, &mut self.drop_reply_rate),
        ] {
            if let Some(rate) = value {
                if !(0.0..=1.0).contains(&rate) {
                    return Err(bad(key, format!("{rate} is outside 0..=1")));
                }
                *slot = rate;
            }
        }
        if let Some(ms) = g.latency_ms {
            self.latency = Duration::from_millis(ms);
        }
        if let Some(paths) = g.replay {
            if paths.iter().any(String::is_empty) {
                return Err(bad("gateway.replay", "a path is empty"));
            }
            self.replay = paths.into_iter().map(PathBuf::from).collect();
        }
        if let Some(speed) = g.speed {
            self.speed = speed.parse().map_err(|e: paper_gateway::replay::ReplayError| bad("gateway.speed", e))?;
        }
        if let Some(bind) = g.market_data_bind {
            self.embedded_market_data_bind = endpoint("gateway.market_data_bind", &bind)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// `deploy/engine.example.toml` is accepted as it is, and names every key the engine
    /// reads, section by section (a key added to `FileConfig` without an example fails here).
    #[test]
    fn the_example_config_names_every_key() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/engine.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        apply(&text).unwrap_or_else(|e| panic!("the example is refused: {e}"));
        let example: toml::Table = toml::from_str(&text).unwrap();
        let known = serde_json::to_value(FileConfig::default()).unwrap();
        for (section, keys) in known.as_object().unwrap() {
            if section == "aliases" {
                assert!(example.contains_key("aliases"), "the example shows [aliases]");
                continue;
            }
            let shown =
                example.get(section).and_then(|s| s.as_table()).unwrap_or_else(|| panic!("[{section}] missing"));
            for key in keys.as_object().unwrap().keys() {
                assert!(shown.contains_key(key), "{section}.{key} is not in deploy/engine.example.toml");
            }
        }
        // Every key of an agent's table too.
        let entry = serde_json::to_value(crate::config_agents::AgentEntry::default()).unwrap();
        let shown = example["agents"]["agent"].as_array().and_then(|a| a.first()).and_then(|t| t.as_table());
        let shown = shown.unwrap_or_else(|| panic!("[[agents.agent]] missing"));
        for key in entry.as_object().unwrap().keys() {
            assert!(shown.contains_key(key), "agents.agent.{key} is not in deploy/engine.example.toml");
        }
        // And the check can fail: a section without one of its keys is caught.
        let engine_keys = known["engine"].as_object().unwrap();
        let mut short = example["engine"].as_table().unwrap().clone();
        short.remove("http");
        assert!(engine_keys.keys().any(|k| !short.contains_key(k)));
    }

    /// `deploy/agents.example.toml` (the README's run with a decision agent) is accepted:
    /// one agent driving two of the default symbols, the embedded gateway's ticks on the
    /// port the example agent reads by default.
    #[test]
    fn the_agents_example_config_is_accepted() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agents.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let c = apply(&text).unwrap_or_else(|e| panic!("the agents example is refused: {e}"));
        assert_eq!(c.embedded_market_data_bind, "tcp://127.0.0.1:5556");
        assert_eq!(c.agents.agents.len(), 1);
        let driven: Vec<String> = c.agents.agents[0].symbols.iter().map(|s| s.to_string()).collect();
        assert_eq!(driven, ["ETHUSD.s", "XAUUSD.s"]);
        assert!(driven.iter().all(|s| c.symbols.contains(s)), "the agent's symbols are traded");
    }

    use super::*;

    fn apply(text: &str) -> Result<RunConfig, ConfigError> {
        let mut c = RunConfig::default();
        let file: FileConfig = toml::from_str(text).map_err(|e| bad("config", e))?;
        c.apply(file)?;
        Ok(c)
    }

    #[test]
    fn a_full_file_is_accepted() {
        let c = apply(
            r#"
            [engine]
            symbols = ["BTCUSD.s"]
            codec = "json"
            gateway = "tcp://10.0.0.5:5555"
            market_data = "tcp://10.0.0.5:5556"
            order_timeout_ms = 500
            [strategy]
            kind = "breakout"
            window = 30
            tp_pct = "0.5"
            trailing_activation_pct = "0.2"
            trailing_distance_pct = "0.1"
            [risk]
            initial_equity = "250000.50"
            max_drawdown = "1000"
            [gateway]
            interval_ms = "5..20"
            [aliases]
            "BTC/USDT:USDT" = "BTCUSD.s"
            "#,
        )
        .unwrap();
        assert_eq!(c.codec, Codec::Json);
        assert_eq!(c.exits.take_profit, Some(Ppm(5_000)));
        assert_eq!(c.risk.initial_equity, "250000.5".parse().unwrap());
        assert_eq!(c.interval, IntervalMs { min: 5, max: 20 });
        assert!(matches!(c.strategy, StrategyChoice::Breakout { window: 30, exit_window: 15 }));
    }

    #[test]
    fn every_error_names_its_key() {
        let cases = [
            ("[engine]\ncodec = \"xml\"", "engine.codec"),
            ("[engine]\ngateway = \"localhost:5555\"", "engine.gateway"),
            ("[engine]\norder_timeout_ms = 0", "engine.order_timeout_ms"),
            ("[engine]\nsymbols = []", "engine.symbols"),
            ("[strategy]\nkind = \"magic\"", "strategy.kind"),
            ("[strategy]\nentry_z = -1.0", "strategy.entry_z"),
            ("[strategy]\ntp_pct = \"90\"", "strategy.tp_pct"),
            ("[strategy]\nsl_pct = \"abc\"", "strategy.sl_pct"),
            ("[strategy]\ntrailing_activation_pct = \"1\"", "strategy.trailing_distance_pct"),
            ("[risk]\ninitial_equity = \"-5\"", "risk.initial_equity"),
            ("[risk]\nmax_drawdown = \"1.123456789\"", "risk.max_drawdown"),
            ("[gateway]\nreject_rate = 2.0", "gateway.reject_rate"),
            ("[gateway]\nslippage_ppm = 4000000000", "gateway.slippage_ppm"),
            ("[engine]\ngateway = \"tcp://no-such-host.invalid:5555\"", "engine.gateway"),
            ("[engine]\nmarket_data = \"tcp://127.0.0.1:port\"", "engine.market_data"),
            ("[gateway]\nslippage_ppm = 100000", "gateway.slippage_ppm"),
            ("[risk]\nmax_orders_per_sec_symbol = 0", "risk.max_orders_per_sec_symbol"),
            ("[risk]\nmax_orders_per_sec_total = 0", "risk.max_orders_per_sec_total"),
            ("[risk]\nmax_position_qty = \"0\"", "risk.max_position_qty"),
            ("[risk]\nmax_symbol_exposure_pct = \"0\"", "risk.max_symbol_exposure_pct"),
            ("[risk]\nmax_fill_deviation_pct = \"0\"", "risk.max_fill_deviation_pct"),
            ("[gateway]\ninterval_ms = \"50..10\"", "gateway.interval_ms"),
            ("[engine]\nclock = \"exchange\"", "engine.clock"),
            ("[gateway]\nspeed = \"0\"", "gateway.speed"),
            ("[gateway]\nspeed = \"fast\"", "gateway.speed"),
            ("[gateway]\nreplay = [\"\"]", "gateway.replay"),
            ("[gateway]\nmarket_data_bind = \"5556\"", "gateway.market_data_bind"),
            ("[gateway]\nmarket_data_bind = \"tcp://127.0.0.1:port\"", "gateway.market_data_bind"),
        ];
        for (text, key) in cases {
            assert_eq!(apply(text).unwrap_err().key, key, "{text}");
        }
    }

    /// The embedded gateway's tick PUB: a free loopback port unless given.
    #[test]
    fn the_embedded_ticks_bind_where_told() {
        assert_eq!(RunConfig::default().embedded_market_data_bind, "tcp://127.0.0.1:*");
        let c = apply("[gateway]\nmarket_data_bind = \"tcp://127.0.0.1:5556\"").unwrap();
        assert_eq!(c.embedded_market_data_bind, "tcp://127.0.0.1:5556");
    }

    #[test]
    fn a_replay_runs_on_the_data_clock_unless_told_otherwise() {
        let c = apply("[gateway]\nreplay = [\"q.csv\"]\nspeed = \"max\"").unwrap();
        assert_eq!((c.clock(), c.speed), (ClockSource::Data, Speed::Max));
        assert_eq!(RunConfig::default().clock(), ClockSource::Wall);
        let c = apply("[engine]\nclock = \"wall\"\n[gateway]\nreplay = [\"q.csv\"]").unwrap();
        assert_eq!((c.clock(), c.speed), (ClockSource::Wall, Speed::REAL_TIME));
    }

    #[test]
    fn a_later_layer_keeps_what_an_earlier_one_set() {
        let mut c = RunConfig::default();
        c.apply(toml::from_str("[strategy]\nwindow = 25\nentry_z = 1.7\nexit_z = 0.4").unwrap()).unwrap();
        // The command-line layer: nothing about the strategy.
        c.apply(FileConfig::default()).unwrap();
        assert_eq!(c.strategy, StrategyChoice::ZScore { window: 25, entry_z: 1.7, exit_z: 0.4 });
        let mut b = RunConfig::default();
        b.apply(toml::from_str("[strategy]\nkind = \"breakout\"\nwindow = 30\nexit_window = 7").unwrap()).unwrap();
        b.apply(FileConfig::default()).unwrap();
        assert_eq!(b.strategy, StrategyChoice::Breakout { window: 30, exit_window: 7 });
    }

    #[test]
    fn seconds_are_bounded_and_never_panic() {
        for bad_value in [f64::NAN, f64::INFINITY, -1.0, 1e30, MAX_SECONDS * 2.0] {
            assert_eq!(seconds("--duration", bad_value, true).unwrap_err().key, "--duration");
        }
        assert!(seconds("--duration", 0.0, false).is_err());
        assert_eq!(seconds("--duration", 0.0, true), Ok(Duration::ZERO));
        assert_eq!(seconds("--duration", 1.5, false), Ok(Duration::from_millis(1_500)));
    }

    /// An environment with only these variables.
    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| OsString::from(v))
    }

    /// A token file in a fresh temporary directory.
    fn token_file(name: &str, content: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("engine-config-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("control.token");
        std::fs::write(&path, content).unwrap();
        path
    }

    const TOKEN: &str = "0123456789abcdef-token";

    #[test]
    fn the_control_token_comes_from_the_environment_then_the_file_key() {
        let from_file = token_file("sources", &format!("{TOKEN}-file\n"));
        let file = from_file.to_str().unwrap();
        let token = |vars: &[(&str, &str)], key: Option<&Path>| {
            control_token(&env(vars), key).map(|t| t.map(|t| t.expose().to_string()))
        };
        assert_eq!(token(&[], None), Ok(None));
        assert_eq!(token(&[(TOKEN_ENV, TOKEN)], Some(&from_file)), Ok(Some(TOKEN.into())));
        assert_eq!(token(&[(TOKEN_FILE_ENV, file)], None), Ok(Some(format!("{TOKEN}-file"))));
        assert_eq!(token(&[], Some(&from_file)), Ok(Some(format!("{TOKEN}-file"))), "the final newline is ignored");
        let both = token(&[(TOKEN_ENV, TOKEN), (TOKEN_FILE_ENV, file)], None).unwrap_err();
        assert!(both.reason.contains("use one"), "{both}");
        assert_eq!(token(&[(TOKEN_ENV, "")], None).unwrap_err().key, TOKEN_ENV);
        assert_eq!(token(&[(TOKEN_ENV, "short")], None).unwrap_err().key, TOKEN_ENV);
        assert_eq!(token(&[(TOKEN_FILE_ENV, "/nonexistent/token")], None).unwrap_err().key, TOKEN_FILE_ENV);
        let missing = token(&[], Some(Path::new("/nonexistent/token"))).unwrap_err();
        assert_eq!(missing.key, "engine.control_token_file");
        let big = token_file("big", &"x".repeat(5_000));
        assert!(token(&[], Some(&big)).unwrap_err().reason.contains("only the token"));
        let errors = [both, missing];
        assert!(errors.iter().all(|e| !e.to_string().contains(TOKEN)), "an error never shows the token");
    }

    #[test]
    fn a_non_loopback_control_endpoint_needs_a_token() {
        let mut open = apply("[engine]\ncontrol = \"tcp://0.0.0.0:5557\"").unwrap();
        let err = open.resolve_control(&env(&[])).unwrap_err();
        assert_eq!(err.key, "engine.control", "{err}");
        assert!(err.reason.contains("not loopback"), "{err}");
        open.resolve_control(&env(&[(TOKEN_ENV, TOKEN)])).unwrap();
        assert!(open.control.unwrap().token.is_some_and(|t| t.expose() == TOKEN));

        let mut local = RunConfig::default();
        local.resolve_control(&env(&[])).unwrap();
        assert!(local.control.unwrap().token.is_none(), "loopback without a token: read-only, allowed");
        let mut off = apply("[engine]\ncontrol = \"off\"").unwrap();
        off.resolve_control(&env(&[(TOKEN_ENV, "short")])).unwrap();
        assert!(off.control.is_none());
    }

    #[test]
    fn the_token_file_key_is_read_after_every_layer() {
        let path = token_file("layers", TOKEN);
        let text = format!("[engine]\ncontrol = \"off\"\ncontrol_token_file = {:?}", path.display().to_string());
        let mut c = apply(&text).unwrap();
        // The flag layer turns control on again: the file's token still applies.
        let mut flags = FileConfig::default();
        flags.engine.control = Some("tcp://0.0.0.0:5999".into());
        c.apply(flags).unwrap();
        c.resolve_control(&env(&[])).unwrap();
        let control = c.control.unwrap();
        assert_eq!(control.bind, "tcp://0.0.0.0:5999");
        assert!(control.token.is_some_and(|t| t.expose() == TOKEN));
        assert_eq!(apply("[engine]\ncontrol_token_file = \"\"").unwrap_err().key, "engine.control_token_file");
    }

    #[test]
    fn shard_settings_are_checked_by_name() {
        assert_eq!(apply("[engine]\nshards = 2").unwrap().shards, 2);
        assert_eq!(apply("[engine]\nshards = 257").unwrap_err().key, "engine.shards");
        assert_eq!(apply("[engine]\nstep_budget_ms = 20").unwrap().step_budget, Duration::from_millis(20));
        assert_eq!(apply("[engine]\nstep_budget_ms = 0").unwrap_err().key, "engine.step_budget_ms");
        // Each shard's DEALER adds "-s<n>" to the identity: 249 bytes would not fit 255.
        let long = format!("[engine]\nidentity = {:?}", "x".repeat(MAX_IDENTITY_BYTES + 1));
        assert_eq!(apply(&long).unwrap_err().key, "engine.identity");
    }

    #[test]
    fn the_trade_ledger_key_is_run_off_or_a_file() {
        assert_eq!(RunConfig::default().trade_ledger, TradeLedger::RunFolder);
        let run = Path::new("logs/r1");
        assert_eq!(RunConfig::default().trade_ledger.path(Some(run)), Some(run.join("trades.sqlite")));
        assert_eq!(RunConfig::default().trade_ledger.path(None), None, "no run folder, no default ledger");
        assert_eq!(apply("[engine]\ntrade_ledger = \"off\"").unwrap().trade_ledger.path(Some(run)), None);
        let at = apply("[engine]\ntrade_ledger = \"/var/lib/engine/trades.sqlite\"").unwrap().trade_ledger;
        assert_eq!(at.path(Some(run)), Some(PathBuf::from("/var/lib/engine/trades.sqlite")));
        assert_eq!(apply("[engine]\ntrade_ledger = \"\"").unwrap_err().key, "engine.trade_ledger");
        let dir = std::env::temp_dir().display().to_string();
        let err = apply(&format!("[engine]\ntrade_ledger = {dir:?}")).unwrap_err();
        assert_eq!(err.key, "engine.trade_ledger");
        assert!(err.reason.contains("directory"), "{err}");
    }

    const AGENT: &str = "[[agents.agent]]\nid = \"a1\"\ntoken_file = \"/t\"\nsymbols = [\"ETHUSD.s\"]\n";

    #[test]
    fn agent_keys_are_checked_by_name() {
        let c = apply(AGENT).unwrap();
        assert_eq!(c.agents.agents.len(), 1);
        assert_eq!(c.agents.agents[0].max_intents_per_sec, 10);
        assert_eq!(c.agents.endpoint.as_deref(), Some("tcp://127.0.0.1:5560"));
        assert_eq!(apply("[agents]\nendpoint = \"off\"").unwrap().agents.endpoint, None);
        assert_eq!(c.agents.stream.as_deref(), Some("tcp://127.0.0.1:5561"));
        assert_eq!(c.agents.stream_buffer, 65_536);
        assert_eq!(apply("[agents]\nstream = \"off\"").unwrap().agents.stream, None);
        assert_eq!(apply("[agents]\nstream_buffer = 1024").unwrap().agents.stream_buffer, 1_024);
        assert_eq!(apply("[agents]\nstream_buffer = 4194304").unwrap().agents.stream_buffer, 4_194_304);
        let second = |extra: &str| format!("{AGENT}[[agents.agent]]\nid = \"a2\"\ntoken_file = \"/u\"\n{extra}");
        let cases = [
            ("[agents]\nendpoint = \"localhost:5560\"".to_string(), "agents.endpoint"),
            ("[agents]\nstream = \"localhost:5561\"".to_string(), "agents.stream"),
            ("[agents]\nstream_buffer = 1023".to_string(), "agents.stream_buffer"),
            ("[agents]\nstream_buffer = 4194305".to_string(), "agents.stream_buffer"),
            ("[[agents.agent]]\ntoken_file = \"/t\"\nsymbols = [\"X\"]".to_string(), "agents.agent[0].id"),
            ("[[agents.agent]]\nid = \"a b\"".to_string(), "agents.agent[0].id"),
            ("[[agents.agent]]\nid = \"a\"\nsymbols = [\"X\"]".to_string(), "agents.agent[0].token_file"),
            ("[[agents.agent]]\nid = \"a\"\ntoken_file = \"/t\"".to_string(), "agents.agent[0].symbols"),
            (
                "[[agents.agent]]\nid = \"a\"\ntoken_file = \"/t\"\nsymbols = [\"B/C\"]".to_string(),
                "agents.agent[0].symbols",
            ),
            (format!("{AGENT}max_intents_per_sec = 0"), "agents.agent[0].max_intents_per_sec"),
            (format!("{AGENT}heartbeat_timeout_ms = 99"), "agents.agent[0].heartbeat_timeout_ms"),
            (format!("{AGENT}heartbeat_timeout_ms = 3600001"), "agents.agent[0].heartbeat_timeout_ms"),
            (format!("{AGENT}on_silence = \"close\""), "agents.agent[0].on_silence"),
            (second("symbols = [\"ETHUSD.s\"]"), "agents.agent[1].symbols"),
            (
                format!("{AGENT}[[agents.agent]]\nid = \"a1\"\ntoken_file = \"/u\"\nsymbols = [\"X\"]"),
                "agents.agent[1].id",
            ),
        ];
        for (text, key) in cases {
            assert_eq!(apply(&text).unwrap_err().key, key, "{text}");
        }
        let twice = apply(&second("symbols = [\"BTCUSD.s\", \"ETHUSD.s\"]")).unwrap_err();
        assert!(twice.reason.contains("already driven by agent a1"), "{twice}");
        assert!(apply(&format!("{AGENT}colour = 1")).unwrap_err().reason.contains("colour"));
    }

    #[test]
    fn agent_settings_read_the_token_and_need_traded_symbols() {
        let path = token_file("agent", &format!("{TOKEN}\n"));
        let text = format!(
            "[[agents.agent]]\nid = \"a1\"\ntoken_file = {:?}\nsymbols = [\"ETH\"]",
            path.display().to_string()
        );
        let c = apply(&text).unwrap();
        let eth = protocol::Symbol::new("ETHUSD.s").unwrap();
        let names: std::collections::HashMap<String, protocol::Symbol> = [("ETH".to_string(), eth)].into();
        let settings = c.agents.settings(&names).unwrap();
        assert_eq!(settings.agents[0].symbols, vec![eth], "an alias resolves to the traded symbol");
        assert!(settings.agents[0].token.matches(TOKEN.as_bytes()));
        let err = c.agents.settings(&Default::default()).unwrap_err();
        assert_eq!(err.key, "agents.agent[0].symbols");
        let missing =
            apply("[[agents.agent]]\nid = \"a1\"\ntoken_file = \"/nonexistent/t\"\nsymbols = [\"ETH\"]").unwrap();
        assert_eq!(missing.agents.settings(&names).unwrap_err().key, "agents.agent[0].token_file");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = apply("[risk]\nmax_leverage = 10").unwrap_err();
        assert!(err.reason.contains("max_leverage"), "{err}");
    }
}

//! The stress harness: runs the real engine against the real paper gateway (a separate
//! process by default) over ZeroMQ on 127.0.0.1, then measures and judges the run.
//!
//! - [`child`]: the gateway child process (start, stop, restart).
//! - [`audit`]: lock pairing and EFSM errors counted from `engine.jsonl`.
//! - [`gate`]: the pass/fail criteria.
//! - [`report`]: `report.json`, `report.md` and `latency.svg`.

pub mod audit;
pub mod child;
pub mod gate;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use actors::data_clock::ClockSource;
use anyhow::{anyhow, Context};
use engine::feed::IntervalMs;
use engine_app::config::{RunConfig, StrategyChoice};
use engine_app::main_job::{self, JobOptions, JobSummary};
use engine_app::replay_run::{Published, ReplayEnd};
use paper_gateway::cli::outcome_json;
use paper_gateway::replay::Speed;
use paper_gateway::server;
use protocol::{Codec, Money, Symbol};

/// What to run.
#[derive(Clone, Debug)]
pub struct StressOptions {
    pub symbols: Vec<Symbol>,
    pub duration: Option<Duration>,
    pub ticks_per_symbol: Option<u64>,
    pub interval: IntervalMs,
    pub max_rate: bool,
    pub seed: u64,
    pub strategy: StrategyChoice,
    pub codec: Codec,
    pub reject_rate: f64,
    pub drop_reply_rate: f64,
    pub latency_ms: u64,
    pub restart_at: Option<Duration>,
    /// Run the gateway on a thread of this process instead of a child process.
    pub in_process: bool,
    /// Shards of the engine's hot path (0: one per core).
    pub shards: usize,
    pub order_timeout: Duration,
    pub log_dir: PathBuf,
    pub command_line: String,
    /// How the engine keeps its durable state during the run (production: `Journal`).
    pub durability: Durability,
    /// Write the trade ledger (`trades.sqlite` in the run's folder), as in production.
    pub trade_ledger: bool,
    /// Serve the engine's HTTP server (`/metrics`, status page) here during the run, to
    /// measure what scraping costs (`None`: off, the default).
    pub http: Option<std::net::SocketAddr>,
    /// Recorded quotes the gateway replays instead of the random walk (`None`: the walk).
    pub replay: Option<StressReplay>,
}

/// A replay in a stress run: the gateway process replays the files; the engine runs on the
/// data clock and the run ends when every recorded tick was taken.
#[derive(Clone, Debug)]
pub struct StressReplay {
    pub paths: Vec<PathBuf>,
    pub speed: Speed,
    /// Recorded ticks in the files (the harness loads them too, for the symbols and this).
    pub ticks: u64,
}

/// The engine's durable state in a stress run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Nothing persisted (the cost of durability left out).
    Off,
    /// The write-ahead journal in the run's folder, as in production.
    Journal,
    /// The journal synced to disk on every append.
    Fsync,
}

impl std::str::FromStr for Durability {
    type Err = String;
    fn from_str(s: &str) -> Result<Durability, String> {
        match s {
            "off" => Ok(Durability::Off),
            "journal" => Ok(Durability::Journal),
            "fsync" => Ok(Durability::Fsync),
            other => Err(format!("{other:?}: use off, journal or fsync")),
        }
    }
}

impl StressOptions {
    pub fn faults(&self) -> bool {
        self.reject_rate > 0.0 || self.drop_reply_rate > 0.0 || self.latency_ms > 0 || self.restart_at.is_some()
    }

    fn gateway_args(&self) -> Vec<String> {
        let mut args = vec![
            "--symbols".into(),
            self.symbols.iter().map(Symbol::to_string).collect::<Vec<_>>().join(","),
            "--seed".into(),
            self.seed.to_string(),
            "--interval-ms".into(),
            format!("{}..{}", self.interval.min, self.interval.max),
            "--codec".into(),
            self.codec.to_string(),
            "--reject-rate".into(),
            self.reject_rate.to_string(),
            "--drop-reply-rate".into(),
            self.drop_reply_rate.to_string(),
            "--latency-ms".into(),
            self.latency_ms.to_string(),
        ];
        args.push("--wait-for-subscribers".into());
        if let Some(replay) = &self.replay {
            for path in &replay.paths {
                args.extend(["--replay".into(), path.display().to_string()]);
            }
            args.extend(["--speed".into(), replay.speed.to_string()]);
            return args;
        }
        if let (Some(d), None) = (self.duration, self.ticks_per_symbol) {
            args.extend(["--publish-secs".into(), d.as_secs_f64().to_string()]);
        }
        if self.max_rate {
            args.push("--max-rate".into());
        }
        if let Some(n) = self.ticks_per_symbol {
            args.extend(["--ticks-per-symbol".into(), n.to_string()]);
        }
        args
    }

    /// Engine settings for a stress run: the same engine as production, with limits that
    /// do not throttle the load (the load is the point) and the breaker tolerant of
    /// injected faults.
    fn run_config(&self, orders: String, market_data: String, run_dir: &Path) -> RunConfig {
        let mut config = RunConfig {
            symbols: self.symbols.iter().map(Symbol::to_string).collect(),
            codec: self.codec,
            gateway: Some(orders),
            market_data: Some(market_data),
            control: None,
            http: self.http,
            identity: "engine-stress".into(),
            order_timeout: self.order_timeout,
            heartbeat_interval: Duration::from_millis(500),
            strategy: self.strategy,
            shards: self.shards,
            lossless_ticks: self.max_rate,
            // Every stress run starts flat against a fresh gateway: its journal lives in the
            // run's folder, so there is nothing to restore, but every order pays for it.
            state_file: Some(match self.durability {
                Durability::Off => "off".into(),
                Durability::Journal | Durability::Fsync => run_dir.join("state.json").display().to_string(),
            }),
            state_fsync: self.durability == Durability::Fsync,
            trade_ledger: if self.trade_ledger {
                engine_app::config::TradeLedger::At(run_dir.join("trades.sqlite"))
            } else {
                engine_app::config::TradeLedger::Off
            },
            seed: self.seed,
            interval: self.interval,
            // A replay's gateway is another process: the engine is told the clock here.
            clock: self.replay.as_ref().map(|_| ClockSource::Data),
            ..RunConfig::default()
        };
        if self.replay.as_ref().is_some_and(|r| r.speed.is_max()) {
            config.lossless_ticks = true;
        }
        unthrottled(&mut config);
        if self.faults() {
            config.risk.breaker.max_consecutive_failures = 1_000_000;
        }
        config
    }
}

/// A load run's engine: no cooldown, positions held at most 2 s, and rate and exposure
/// limits far above what the run can reach (the stress harness and `intent-bench`).
pub fn unthrottled(config: &mut RunConfig) {
    config.exits.cooldown_secs = 0;
    config.exits.max_hold_secs = Some(2);
    config.risk.max_orders_per_sec_symbol = 1_000_000;
    config.risk.max_orders_per_sec_total = 10_000_000;
    config.risk.max_symbol_exposure = protocol::Ppm(1_000_000);
    config.risk.max_total_exposure = protocol::Ppm(100_000_000);
}

/// Time the engine keeps running after the gateway's publish window, to take the last ticks.
const DRAIN: Duration = Duration::from_millis(1_500);

/// Everything a stress run produced.
pub struct StressOutcome {
    pub run_dir: PathBuf,
    pub job: JobSummary,
    pub audit: audit::LockAudit,
    pub gateway: Vec<serde_json::Value>,
    pub peak_rss_kib: u64,
    pub gate: gate::Gate,
}

/// Peak resident memory of this process, KiB (Linux `VmHWM`).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

enum Gateway {
    Child(child::GatewayChild),
    Thread(server::GatewayHandle),
}

impl Gateway {
    /// How the run learns that the gateway published its last recorded tick.
    fn replay_published(&self) -> Published {
        match self {
            Gateway::Child(c) => Published::Flag(c.replay_done()),
            Gateway::Thread(h) => match &h.replay {
                Some(feed) => Published::Feed(std::sync::Arc::clone(feed)),
                None => Published::Flag(std::sync::Arc::default()),
            },
        }
    }

    fn endpoints(&self) -> (String, String) {
        match self {
            Gateway::Child(c) => (c.orders.clone(), c.market_data.clone()),
            Gateway::Thread(h) => (h.orders_endpoint.clone(), h.market_data_endpoint.clone()),
        }
    }
    fn stop(self) -> anyhow::Result<serde_json::Value> {
        match self {
            Gateway::Child(c) => c.stop(),
            Gateway::Thread(h) => Ok(outcome_json(&h.stop())),
        }
    }
}

fn start_gateway(
    options: &StressOptions,
    run_dir: &Path,
    orders: &str,
    md: &str,
    instance: usize,
) -> anyhow::Result<Gateway> {
    let journal = run_dir.join("gateway.journal");
    if options.in_process {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: paper_gateway::cli::GatewayArgs,
        }
        let mut argv = vec!["gateway".to_string(), "--orders".into(), orders.into(), "--market-data".into(), md.into()];
        argv.extend(options.gateway_args());
        argv.extend(["--journal".into(), journal.display().to_string()]);
        let args = Wrapper::try_parse_from(argv).map_err(|e| anyhow!("{e}"))?.args;
        let config = args.to_config().map_err(|e| anyhow!(e))?;
        return Ok(Gateway::Thread(server::start(config).context("starting the in-process gateway")?));
    }
    let dump = run_dir.join(format!("gateway-ledger-{instance}.json"));
    let log = run_dir.join("gateway.log");
    Ok(Gateway::Child(child::spawn(&options.gateway_args(), orders, md, &journal, &dump, &log)?))
}

/// Runs the stress workload and judges it. Logging must already write `run_dir/engine.jsonl`.
pub fn run(
    options: &StressOptions,
    run_dir: &Path,
    log: engine_app::logging::LogGuard,
) -> anyhow::Result<StressOutcome> {
    let gateway = start_gateway(options, run_dir, "tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 1)?;
    let (orders, md) = gateway.endpoints();
    println!(
        "stress: gateway {} (orders {orders}, ticks {md})",
        if options.in_process { "in-process" } else { "process" }
    );

    let expected_ticks = options.ticks_per_symbol.map(|n| n * options.symbols.len() as u64);
    let replay_end =
        options.replay.as_ref().map(|r| ReplayEnd { ticks: r.ticks, published: gateway.replay_published() });
    // The gateway publishes for `duration` once subscribed; the engine runs a little longer
    // so that it takes every tick published (the gate counts them).
    let duration = match (options.ticks_per_symbol, options.duration) {
        // A replay ends with its data (or at --duration, if given).
        _ if options.replay.is_some() => options.duration,
        (None, Some(d)) => Some(d + DRAIN),
        (_, Some(d)) => Some(d),
        (Some(_), None) => Some(Duration::from_secs(3_600)),
        (None, None) => Some(Duration::from_secs(10) + DRAIN),
    };
    let job_options = JobOptions {
        status_every: Some(Duration::from_secs(1)),
        expected_ticks,
        compact_progress: true,
        replay_end,
        ..JobOptions::new(options.run_config(orders.clone(), md.clone(), run_dir), duration)
    };
    let job = std::thread::Builder::new()
        .name("engine-job".into())
        .spawn(move || main_job::run(job_options))
        .context("engine thread")?;

    // A scheduled gateway restart: stop it, wait a moment, start it again on the same
    // endpoints with the same journal.
    let mut dumps = Vec::new();
    let mut gateway = Some(gateway);
    if let Some(at) = options.restart_at {
        let started = Instant::now();
        while started.elapsed() < at && !job.is_finished() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(g) = gateway.take() {
            println!("stress: restarting the gateway at {:.1}s", started.elapsed().as_secs_f64());
            dumps.push(g.stop()?);
            std::thread::sleep(Duration::from_millis(500));
            gateway = Some(start_gateway(options, run_dir, &orders, &md, 2)?);
        }
    }
    let mut job = job.join().map_err(|_| anyhow!("the engine thread panicked"))??;
    if let Some(g) = gateway.take() {
        dumps.push(g.stop()?);
    }
    let peak_rss_kib = peak_rss_kib();
    drop(log); // flush engine.jsonl before reading it
    let audit = audit::audit(&run_dir.join("engine.jsonl")).context("auditing engine.jsonl")?;
    job.gateway_ledger_net = dumps
        .last()
        .and_then(|d| d["total_net"].as_str())
        .and_then(|s| s.parse::<Money>().ok())
        .or(job.gateway_ledger_net);
    job.replay = dumps.last().and_then(|d| serde_json::from_value(d["replay"].clone()).ok()).or(job.replay);
    let gate = gate::judge(options, &job, &audit, &dumps);
    Ok(StressOutcome { run_dir: run_dir.to_path_buf(), job, audit, gateway: dumps, peak_rss_kib, gate })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A paced, fault-free run of three symbols with this strategy.
    pub fn options(strategy: StrategyChoice) -> StressOptions {
        StressOptions {
            symbols: ["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"].iter().filter_map(|s| Symbol::new(s).ok()).collect(),
            duration: Some(Duration::from_secs(5)),
            ticks_per_symbol: None,
            interval: IntervalMs { min: 1, max: 49 },
            max_rate: false,
            seed: 42,
            strategy,
            codec: Codec::Bincode,
            reject_rate: 0.0,
            drop_reply_rate: 0.0,
            latency_ms: 0,
            restart_at: None,
            in_process: false,
            shards: 0,
            order_timeout: Duration::from_millis(1000),
            log_dir: PathBuf::from("logs"),
            command_line: "stress".into(),
            durability: Durability::Journal,
            trade_ledger: true,
            http: None,
            replay: None,
        }
    }

    #[test]
    fn faults_are_named_by_the_options() {
        let mut o = options(StrategyChoice::Churn);
        assert!(!o.faults());
        o.latency_ms = 1;
        assert!(o.faults());
    }
}

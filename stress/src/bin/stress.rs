//! `stress`: runs the real engine against the real paper gateway (a separate process by
//! default) over ZeroMQ on 127.0.0.1, writes `logs/<run-id>/{engine.jsonl, report.json,
//! report.md, latency.svg}`, and ends with `GATE PASS` or `GATE FAIL: <criteria>` (exit 1).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use engine_app::config::{interval, StrategyChoice};
use paper_gateway::cli::{self, GatewayArgs};
use paper_gateway::replay::{ReplayData, Speed};
use stress::harness::{self, report, StressOptions, StressReplay};

#[derive(Parser, Debug)]
#[command(name = "stress", about = "Stress the engine and judge the run")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Symbols: a comma-separated list, or a count N (SYM0001..SYMN).
    #[arg(long, default_value = "BTCUSD.s,ETHUSD.s,XAUUSD.s")]
    symbols: String,
    /// Run this many seconds (default 10 unless --ticks-per-symbol is given).
    #[arg(long)]
    duration: Option<f64>,
    /// Publish exactly this many ticks per symbol, then stop once all are taken.
    #[arg(long)]
    ticks_per_symbol: Option<u64>,
    /// Tick interval per symbol, MIN..MAX ms (jittered).
    #[arg(long, default_value = "1..49")]
    interval_ms: String,
    /// No pacing: ticks as fast as the engine takes them (lossless back-pressure).
    #[arg(long)]
    max_rate: bool,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// zscore, breakout, churn (in and out on every tick: maximum order load), or
    /// back_to_back (b2b: the next order as soon as the previous one is done, the peer
    /// benchmark's workload).
    #[arg(long, default_value = "zscore")]
    strategy: String,
    #[arg(long, default_value = "bincode")]
    codec: String,
    #[arg(long, default_value_t = 0.0)]
    reject_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    drop_reply_rate: f64,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Restart the gateway this many seconds into the run.
    #[arg(long)]
    restart_at: Option<f64>,
    /// Run the gateway on a thread of this process (no separate process).
    #[arg(long)]
    in_process: bool,
    /// Shards of the engine's hot path (0: one per core).
    #[arg(long, default_value_t = 0)]
    shards: usize,
    #[arg(long, default_value_t = 1000)]
    order_timeout_ms: u64,
    #[arg(long, default_value = "logs")]
    log_dir: PathBuf,
    /// The engine's durable state: journal (as in production: every fill and order
    /// journaled before the next order), fsync (synced to disk too), or off.
    #[arg(long, default_value = "journal")]
    durability: String,
    /// The trade ledger (trades.sqlite in the run's folder, as in production): on or off.
    #[arg(long, default_value = "on")]
    trade_ledger: String,
    /// Serve the engine's HTTP server (/metrics, /healthz, the status page) on this
    /// host:port during the run (default: off), e.g. to measure the cost of scraping.
    #[arg(long)]
    http: Option<std::net::SocketAddr>,
    /// Replay recorded quotes (a file, repeatable, or a folder) instead of the random walk;
    /// the symbols are the files' and the run ends with the data (docs/REPLAY.md).
    #[arg(long)]
    replay: Vec<PathBuf>,
    /// Replay speed: 1 (real time), N (N times faster) or max (lossless, as fast as taken).
    #[arg(long, default_value = "1")]
    speed: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// (internal) Run the paper gateway as the harness's child process.
    #[command(hide = true)]
    Gateway(GatewayArgs),
}

fn main() {
    let cli = Cli::parse();
    if let Some(Command::Gateway(args)) = &cli.command {
        let _ = engine_app::logging::init(None, "warn");
        if let Err(e) = cli::serve(args) {
            eprintln!("stress gateway: {e}");
            std::process::exit(2);
        }
        return;
    }
    std::process::exit(match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("stress: {e:#}");
            println!("GATE FAIL: error");
            2
        }
    });
}

fn options(cli: &Cli) -> anyhow::Result<StressOptions> {
    let replay = replay(cli)?;
    let symbols = match &replay {
        Some((_, symbols)) => symbols.clone(),
        None => cli::parse_symbols(&cli.symbols).map_err(anyhow::Error::msg)?,
    };
    let strategy = match cli.strategy.as_str() {
        "zscore" => StrategyChoice::ZScore { window: 40, entry_z: 2.0, exit_z: 0.3 },
        "breakout" => StrategyChoice::Breakout { window: 40, exit_window: 20 },
        "churn" => StrategyChoice::Churn,
        "back_to_back" | "b2b" => StrategyChoice::BackToBack,
        other => anyhow::bail!("--strategy: {other:?} is not zscore, breakout, churn or back_to_back"),
    };
    let secs = |name: &str, v: f64| engine_app::config::seconds(name, v, false);
    for (name, rate) in [("--reject-rate", cli.reject_rate), ("--drop-reply-rate", cli.drop_reply_rate)] {
        anyhow::ensure!((0.0..=1.0).contains(&rate), "{name}: {rate} is outside 0..=1");
    }
    let duration = match (cli.duration, cli.ticks_per_symbol) {
        (Some(d), _) => Some(secs("--duration", d)?),
        (None, _) if replay.is_some() => None,
        (None, Some(_)) => None,
        (None, None) => Some(Duration::from_secs(10)),
    };
    Ok(StressOptions {
        symbols,
        duration,
        ticks_per_symbol: cli.ticks_per_symbol,
        interval: interval("--interval-ms", &cli.interval_ms)?,
        max_rate: cli.max_rate,
        seed: cli.seed,
        strategy,
        codec: cli.codec.parse().map_err(|e| anyhow::anyhow!("--codec: {e}"))?,
        reject_rate: cli.reject_rate,
        drop_reply_rate: cli.drop_reply_rate,
        latency_ms: cli.latency_ms,
        restart_at: cli.restart_at.map(|v| secs("--restart-at", v)).transpose()?,
        in_process: cli.in_process,
        shards: cli.shards,
        order_timeout: Duration::from_millis(cli.order_timeout_ms.max(1)),
        log_dir: cli.log_dir.clone(),
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        durability: cli.durability.parse().map_err(|e| anyhow::anyhow!("--durability: {e}"))?,
        trade_ledger: match cli.trade_ledger.as_str() {
            "on" => true,
            "off" => false,
            other => anyhow::bail!("--trade-ledger: {other:?} is not on or off"),
        },
        replay: replay.map(|(r, _)| r),
        http: cli.http,
    })
}

/// `--replay` loaded once here for its symbols and tick count (the gateway loads it again).
fn replay(cli: &Cli) -> anyhow::Result<Option<(StressReplay, Vec<protocol::Symbol>)>> {
    let speed: Speed = cli.speed.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    if cli.replay.is_empty() {
        return Ok(None);
    }
    let data = ReplayData::load(&cli.replay).map_err(|e| anyhow::anyhow!("{e}"))?;
    let replay = StressReplay { paths: cli.replay.clone(), speed, ticks: data.ticks() };
    Ok(Some((replay, data.symbols())))
}

fn run(cli: Cli) -> anyhow::Result<i32> {
    let options = options(&cli)?;
    let run_dir = options.log_dir.join(engine_app::run_id::run_id());
    let log = engine_app::logging::init(Some(&run_dir), "warn")?;
    println!("stress: {} symbols, seed {}, run {}", options.symbols.len(), options.seed, run_dir.display());
    let outcome = harness::run(&options, &run_dir, log)?;
    let report = report::write_all(&options, &outcome, &run_dir)?;
    println!("{}", report::markdown_report(&report).lines().take(20).collect::<Vec<_>>().join("\n"));
    println!("report: {}", run_dir.join("report.json").display());
    if outcome.gate.pass {
        println!("GATE PASS");
        Ok(0)
    } else {
        println!("GATE FAIL: {}", outcome.gate.failures().join(", "));
        Ok(1)
    }
}

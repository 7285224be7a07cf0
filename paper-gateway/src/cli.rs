//! The paper gateway's command line, shared by the `paper-gateway` binary and the stress
//! harness's gateway child process (`stress gateway ...`).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use engine::feed::IntervalMs;
use engine::registry::{default_model, generated_symbols};
use protocol::{Codec, Ppm, Symbol};

use crate::faults::FaultConfig;
use crate::replay::{ReplayData, ReplayFeed, Speed};
use crate::server::{self, GatewayConfig, GatewayOutcome};
use crate::venue::VenueConfig;

#[derive(Args, Debug, Clone)]
pub struct GatewayArgs {
    /// Order ROUTER bind endpoint (`tcp://127.0.0.1:*` picks a free port).
    #[arg(long, default_value = "tcp://127.0.0.1:5555")]
    pub orders: String,
    /// Tick PUB bind endpoint.
    #[arg(long, default_value = "tcp://127.0.0.1:5556")]
    pub market_data: String,
    /// Symbols (comma-separated), or a count N for SYM0001..SYMN.
    #[arg(long, default_value = "BTCUSD.s,ETHUSD.s,XAUUSD.s")]
    pub symbols: String,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Tick interval per symbol, MIN..MAX milliseconds.
    #[arg(long, default_value = "1..49")]
    pub interval_ms: String,
    /// Publish ticks as fast as the subscriber takes them (no pacing).
    #[arg(long)]
    pub max_rate: bool,
    /// Stop publishing after this many ticks per symbol.
    #[arg(long)]
    pub ticks_per_symbol: Option<u64>,
    /// Codec of the tick PUB (order replies follow each peer's codec).
    #[arg(long, default_value = "bincode")]
    pub codec: String,
    #[arg(long, default_value_t = 250)]
    pub fee_ppm: u32,
    #[arg(long, default_value_t = 0)]
    pub slippage_ppm: u32,
    #[arg(long, default_value_t = 0.0)]
    pub reject_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    pub drop_reply_rate: f64,
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// The gateway's clock is this many ms ahead (negative: behind) when it judges expiry.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_skew_ms: i64,
    /// Stop serving after this many seconds (fault injection).
    #[arg(long)]
    pub stop_after_secs: Option<f64>,
    /// Run for this many seconds, then print the ledger and exit.
    #[arg(long)]
    pub duration: Option<f64>,
    /// Order journal (replayed at start, so a restart keeps the ledger).
    #[arg(long)]
    pub journal: Option<PathBuf>,
    /// Write the final ledger and counters as JSON here.
    #[arg(long)]
    pub dump_ledger: Option<PathBuf>,
    /// Stop when standard input closes (how the stress harness stops its child).
    #[arg(long)]
    pub stop_on_stdin_eof: bool,
    /// Publish nothing until every symbol has a subscriber.
    #[arg(long)]
    pub wait_for_subscribers: bool,
    /// Stop publishing this many seconds after the first tick.
    #[arg(long)]
    pub publish_secs: Option<f64>,
    /// Publish recorded quotes from this file (repeatable, or a folder) instead of the
    /// random walk: CSV `timestamp,bid,ask[,symbol]` or HistData ASCII ticks (docs/REPLAY.md).
    /// The symbols are the files' (`--symbols` is ignored).
    #[arg(long)]
    pub replay: Vec<PathBuf>,
    /// Replay speed: 1 (real time), N (N times faster) or max (as fast as taken, lossless).
    #[arg(long, default_value = "1")]
    pub speed: String,
}

/// Parses a symbol list, or a count N for generated names.
pub fn parse_symbols(text: &str) -> Result<Vec<Symbol>, String> {
    if let Ok(n) = text.parse::<usize>() {
        if n == 0 || n > 100_000 {
            return Err(format!("--symbols: {n} is outside 1..=100000"));
        }
        return Ok(generated_symbols(n));
    }
    text.split(',').map(|s| Symbol::new(s.trim()).map_err(|e| format!("--symbols: {e}"))).collect()
}

/// Longest duration any flag accepts (a year), as for the engine's flags.
const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A number of seconds from the command line: finite, 0 up to a year. The error names the flag.
fn seconds(flag: &str, v: f64) -> Result<Duration, String> {
    if !(v.is_finite() && (0.0..=MAX_SECONDS).contains(&v)) {
        return Err(format!("{flag}: {v} is not a number of seconds (0 up to {MAX_SECONDS})"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// `MIN..MAX` whole milliseconds, MIN <= MAX <= 60000 (the rule of `engine.toml`'s
/// `gateway.interval_ms`). The error names the flag.
fn interval(flag: &str, text: &str) -> Result<IntervalMs, String> {
    let bad = |what: &str| format!("{flag}: {text:?} {what}");
    let (lo, hi) = text.split_once("..").ok_or_else(|| bad("is not MIN..MAX"))?;
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|_| bad("is not MIN..MAX in whole milliseconds"));
    let (min, max) = (parse(lo)?, parse(hi)?);
    if min > max || max > 60_000 {
        return Err(format!("{flag}: {text:?}: need MIN <= MAX <= 60000"));
    }
    Ok(IntervalMs { min, max })
}

impl GatewayArgs {
    pub fn to_config(&self) -> Result<GatewayConfig, String> {
        let replay = self.load_replay()?;
        let symbols = match &replay {
            Some(feed) => feed.symbols().to_vec(),
            None => parse_symbols(&self.symbols)?,
        };
        // The same ranges as engine.toml's [gateway] section.
        if self.fee_ppm > 100_000 {
            return Err(format!("--fee-ppm: {} is above 100000 (10%)", self.fee_ppm));
        }
        if self.slippage_ppm > 100_000 {
            return Err(format!("--slippage-ppm: {} is above 100000 (10%)", self.slippage_ppm));
        }
        Ok(GatewayConfig {
            orders_bind: self.orders.clone(),
            market_data_bind: self.market_data.clone(),
            models: symbols.iter().map(|s| default_model(*s)).collect(),
            seed: self.seed,
            interval: interval("--interval-ms", &self.interval_ms)?,
            market_data_codec: self.codec.parse::<Codec>().map_err(|e| format!("--codec: {e}"))?,
            venue: VenueConfig { fee: Ppm(self.fee_ppm), slippage_ppm: self.slippage_ppm },
            faults: FaultConfig {
                reject_rate: self.reject_rate,
                drop_reply_rate: self.drop_reply_rate,
                extra_latency: Duration::from_millis(self.latency_ms),
                clock_skew_ms: self.clock_skew_ms,
                stop_after: self.stop_after_secs.map(|v| seconds("--stop-after-secs", v)).transpose()?,
            },
            heartbeat_interval: Duration::from_secs(1),
            journal: self.journal.clone(),
            ticks_per_symbol: self.ticks_per_symbol,
            max_rate: self.max_rate,
            wait_for_subscribers: self.wait_for_subscribers,
            publish_for: self.publish_secs.map(|v| seconds("--publish-secs", v)).transpose()?,
            replay,
            order_observer: None,
        })
    }

    /// The `--replay` files loaded (`None` without any), bad rows logged.
    fn load_replay(&self) -> Result<Option<Arc<ReplayFeed>>, String> {
        let speed: Speed = self.speed.parse().map_err(|e: crate::replay::ReplayError| e.to_string())?;
        if self.replay.is_empty() {
            return Ok(None);
        }
        let data = ReplayData::load(&self.replay).map_err(|e| e.to_string())?;
        data.log_report();
        Ok(Some(Arc::new(ReplayFeed::new(data, speed))))
    }
}

/// The ledger and counters as JSON (money as exact decimal strings).
pub fn outcome_json(outcome: &GatewayOutcome) -> serde_json::Value {
    let symbols: serde_json::Map<String, serde_json::Value> = outcome
        .ledger
        .iter()
        .map(|(s, l)| {
            let line = serde_json::json!({"realized": l.realized.to_string(), "fees": l.fees.to_string(), "net": l.net().to_string(), "fills": l.fills});
            (s.to_string(), line)
        })
        .collect();
    serde_json::json!({"total_net": outcome.total_net().to_string(), "symbols": symbols, "counters": outcome.counters, "replay": outcome.replay})
}

/// Runs a gateway until Ctrl-C, `--duration`, `--stop-after-secs`, or (with
/// `--stop-on-stdin-eof`) until standard input closes. Prints `READY orders=.. market_data=..`
/// once bound, and the ledger at the end.
pub fn serve(args: &GatewayArgs) -> Result<(), String> {
    let config = args.to_config()?;
    let handle = server::start(config).map_err(|e| e.to_string())?;
    println!(
        "READY orders={} market_data={} session={}",
        handle.orders_endpoint, handle.market_data_endpoint, handle.session_id
    );
    let stop = Arc::new(AtomicBool::new(false));
    if args.stop_on_stdin_eof {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("stdin-watch".into())
            .spawn(move || {
                let mut sink = String::new();
                let stdin = std::io::stdin();
                while stdin.lock().read_line(&mut sink).is_ok_and(|n| n > 0) {
                    sink.clear();
                }
                stop.store(true, Ordering::Release);
            })
            .map_err(|e| e.to_string())?;
    }
    stop_on_ctrl_c(Arc::clone(&stop));
    let until = args.duration.map(|d| seconds("--duration", d)).transpose()?.map(|d| Instant::now() + d);
    let mut replay_done = false;
    while handle.is_running() && !stop.load(Ordering::Acquire) && until.is_none_or(|u| Instant::now() < u) {
        if !replay_done && handle.replay_finished() {
            // Read by the stress harness: the replay is over; the gateway keeps serving.
            replay_done = true;
            let published = handle.replay.as_ref().map_or(0, |r| r.published_ticks());
            println!("REPLAY_DONE ticks={published}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let outcome = handle.stop();
    let dump = outcome_json(&outcome);
    println!("{}", serde_json::to_string_pretty(&dump).unwrap_or_default());
    if let Some(path) = &args.dump_ledger {
        std::fs::write(path, dump.to_string()).map_err(|e| format!("--dump-ledger {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Sets `stop` on Ctrl-C, using a tiny runtime on a helper thread.
fn stop_on_ctrl_c(stop: Arc<AtomicBool>) {
    let _ = std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            stop.store(true, Ordering::Release);
        }
    });
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: super::GatewayArgs,
    }

    fn config(extra: &[&str]) -> Result<super::GatewayConfig, String> {
        let argv = ["paper-gateway"].iter().chain(extra.iter()).copied();
        Wrap::try_parse_from(argv).map_err(|e| e.to_string())?.args.to_config()
    }

    #[test]
    fn absurd_fees_and_slippage_are_refused_by_name() {
        assert!(config(&["--slippage-ppm", "4000000000"]).unwrap_err().contains("--slippage-ppm"));
        assert!(config(&["--fee-ppm", "100001"]).unwrap_err().contains("--fee-ppm"));
        assert!(config(&["--slippage-ppm", "100000", "--fee-ppm", "250"]).is_ok());
    }

    #[test]
    fn replay_flags_take_the_files_symbols_and_refuse_by_name() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/replay");
        let ok = config(&["--replay", dir, "--speed", "max", "--symbols", "IGNORED"]).unwrap();
        let names: Vec<String> = ok.models.iter().map(|m| m.symbol.to_string()).collect();
        assert_eq!(names, ["EURUSD", "GBPUSD", "USDJPY"]);
        assert!(ok.replay.is_some_and(|r| r.speed().is_max()));
        assert!(config(&["--speed", "fast"]).unwrap_err().contains("--speed"));
        let err = config(&["--replay", "/nonexistent/ticks.csv"]).unwrap_err();
        assert!(err.contains("--replay /nonexistent/ticks.csv"), "{err}");
        assert!(config(&[]).unwrap().replay.is_none());
    }

    #[test]
    fn bad_seconds_and_intervals_are_refused_by_name() {
        for v in ["-1", "NaN", "inf", "1e12"] {
            let arg = format!("--stop-after-secs={v}");
            assert!(config(&[&arg]).unwrap_err().contains("--stop-after-secs"), "{v}");
        }
        assert!(config(&["--publish-secs", "0"]).is_ok());
        for text in ["5", "5..1", "a..9", "1..60001"] {
            assert!(config(&["--interval-ms", text]).unwrap_err().contains("--interval-ms"), "{text}");
        }
        let ok = config(&["--interval-ms", "2..7"]).unwrap();
        assert_eq!((ok.interval.min, ok.interval.max), (2, 7));
    }
}

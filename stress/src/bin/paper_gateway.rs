//! `paper-gateway`: the paper execution gateway as its own process.
//! Binds a ROUTER for orders and a PUB for ticks, fills market/IOC orders at the touch,
//! keeps a journaled ledger, and prints it at exit.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use engine::registry::{default_model, generated_symbols};
use protocol::{Codec, Ppm, Symbol};
use stress::gateway::faults::FaultConfig;
use stress::gateway::server::{self, GatewayConfig};
use stress::gateway::venue::VenueConfig;

#[derive(Parser, Debug)]
#[command(name = "paper-gateway", about = "Paper execution gateway (docs/PROTOCOL.md)")]
struct Args {
    /// Order ROUTER bind endpoint.
    #[arg(long, default_value = "tcp://127.0.0.1:5555")]
    orders: String,
    /// Tick PUB bind endpoint.
    #[arg(long, default_value = "tcp://127.0.0.1:5556")]
    market_data: String,
    /// Symbols (comma-separated), or a count N for SYM0001..SYMN.
    #[arg(long, default_value = "BTCUSD.s,ETHUSD.s,XAUUSD.s")]
    symbols: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Tick interval per symbol, MIN..MAX milliseconds.
    #[arg(long, default_value = "1..49")]
    interval_ms: String,
    /// Codec of the tick PUB (order replies follow each peer's codec).
    #[arg(long, default_value = "bincode")]
    codec: String,
    #[arg(long, default_value_t = 250)]
    fee_ppm: u32,
    #[arg(long, default_value_t = 0)]
    slippage_ppm: u32,
    #[arg(long, default_value_t = 0.0)]
    reject_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    drop_reply_rate: f64,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Stop serving after this many seconds (fault injection).
    #[arg(long)]
    stop_after_secs: Option<f64>,
    /// Run for this many seconds, then print the ledger and exit.
    #[arg(long)]
    duration: Option<f64>,
    /// Order journal (replayed at start, so a restart keeps the ledger).
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Write the final ledger as JSON here.
    #[arg(long)]
    dump_ledger: Option<PathBuf>,
}

fn parse_symbols(text: &str) -> Result<Vec<Symbol>, String> {
    if let Ok(n) = text.parse::<usize>() {
        if n == 0 || n > 100_000 {
            return Err(format!("--symbols: {n} is outside 1..=100000"));
        }
        return Ok(generated_symbols(n));
    }
    text.split(',').map(|s| Symbol::new(s.trim()).map_err(|e| format!("--symbols: {e}"))).collect()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("paper-gateway: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args = Args::parse();
    let _log = stress::logging::init(None, "info").map_err(|e| e.to_string())?;
    let symbols = parse_symbols(&args.symbols)?;
    let codec: Codec = args.codec.parse().map_err(|e| format!("--codec: {e}"))?;
    let interval = stress::config::interval("--interval-ms", &args.interval_ms).map_err(|e| e.to_string())?;
    let secs = |name: &str, v: f64| {
        if v.is_finite() && v >= 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(format!("{name}: {v} is not a duration"))
        }
    };
    let config = GatewayConfig {
        orders_bind: args.orders,
        market_data_bind: args.market_data,
        models: symbols.iter().map(|s| default_model(*s)).collect(),
        seed: args.seed,
        interval,
        market_data_codec: codec,
        venue: VenueConfig { fee: Ppm(args.fee_ppm), slippage_ppm: args.slippage_ppm },
        faults: FaultConfig {
            reject_rate: args.reject_rate,
            drop_reply_rate: args.drop_reply_rate,
            extra_latency: Duration::from_millis(args.latency_ms),
            stop_after: args.stop_after_secs.map(|v| secs("--stop-after-secs", v)).transpose()?,
        },
        heartbeat_interval: Duration::from_secs(1),
        journal: args.journal,
        ticks_per_symbol: None,
        max_rate: false,
    };
    let handle = server::start(config).map_err(|e| e.to_string())?;
    println!(
        "paper-gateway: orders {} market data {} session {}",
        handle.orders_endpoint, handle.market_data_endpoint, handle.session_id
    );
    let until = args.duration.map(|d| secs("--duration", d)).transpose()?.map(|d| std::time::Instant::now() + d);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stop = std::sync::Arc::clone(&stop);
        let _ = ctrlc_flag(stop);
    }
    while handle.is_running()
        && !stop.load(std::sync::atomic::Ordering::Acquire)
        && until.is_none_or(|u| std::time::Instant::now() < u)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let outcome = handle.stop();
    let ledger: serde_json::Map<String, serde_json::Value> = outcome
        .ledger
        .iter()
        .map(|(s, l)| {
            (s.to_string(), serde_json::json!({"realized": l.realized.to_string(), "fees": l.fees.to_string(), "net": l.net().to_string(), "fills": l.fills}))
        })
        .collect();
    let dump = serde_json::json!({"total_net": outcome.total_net().to_string(), "symbols": ledger, "counters": outcome.counters});
    println!("{}", serde_json::to_string_pretty(&dump).unwrap_or_default());
    if let Some(path) = args.dump_ledger {
        std::fs::write(&path, dump.to_string()).map_err(|e| format!("--dump-ledger {}: {e}", path.display()))?;
    }
    Ok(())
}

/// Sets `stop` on Ctrl-C (SIGINT), using a tiny tokio runtime on a helper thread.
fn ctrlc_flag(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new().name("ctrl-c".into()).spawn(move || {
        if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
            rt.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
            stop.store(true, std::sync::atomic::Ordering::Release);
        }
    })?;
    Ok(())
}

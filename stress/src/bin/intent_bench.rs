//! `intent-bench`: an agent's intent → order on the wire, beside the engine's own tick →
//! order time and one ZeroMQ hop, in one run (stress/src/intent_bench.rs says what is
//! measured and how it is judged). Prints ONE JSON line; exits 0 on PASS, 1 on FAIL, 2 when
//! the run itself failed.

use clap::Parser;
use stress::intent_bench::{self, BenchOptions};

#[derive(Parser, Debug)]
#[command(
    name = "intent-bench",
    about = "Intent → order on the wire vs the engine's tick → order time (one JSON line)"
)]
struct Cli {
    /// Measured intents (after 50 unmeasured ones).
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    intents: u64,
    /// The engine's run, in seconds; sending stops two seconds before its end.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(5..=3_600))]
    seconds: u64,
    /// Fewer measured intents, or ticks → orders, than this is a FAIL.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(1..))]
    min_intents: u64,
}

fn main() {
    let cli = Cli::parse();
    let port = match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => {
            eprintln!("intent-bench: no free loopback port: {e}");
            std::process::exit(2);
        }
    };
    let dir = std::env::temp_dir().join(format!("intent-bench-{}", std::process::id()));
    let options = BenchOptions {
        intents: cli.intents,
        seconds: cli.seconds,
        min_intents: cli.min_intents,
        endpoint: format!("tcp://127.0.0.1:{port}"),
    };
    let result =
        std::fs::create_dir_all(&dir).map_err(anyhow::Error::from).and_then(|_| intent_bench::run(&options, &dir));
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Ok(report) => {
            match serde_json::to_string(&report) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("intent-bench: {e}");
                    std::process::exit(2);
                }
            }
            std::process::exit(if report.gate.pass { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("intent-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

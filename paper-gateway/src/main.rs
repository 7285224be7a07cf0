//! `paper-gateway`: the paper execution gateway as its own process.
//! Binds a ROUTER for orders and a PUB for ticks, fills market/IOC orders at the touch,
//! keeps a journaled ledger, and prints it at exit.

use clap::Parser;
use paper_gateway::cli::{self, GatewayArgs};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(name = "paper-gateway", about = "Paper execution gateway (docs/PROTOCOL.md)")]
struct Cli {
    #[command(flatten)]
    args: GatewayArgs,
}

fn main() {
    let cli = Cli::parse();
    // Human-readable lines on stdout; `RUST_LOG` sets the filter (default `info`).
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(true).try_init();
    if let Err(e) = cli::serve(&cli.args) {
        eprintln!("paper-gateway: {e}");
        std::process::exit(2);
    }
}

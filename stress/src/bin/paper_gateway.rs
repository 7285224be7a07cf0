//! `paper-gateway`: the paper execution gateway as its own process.
//! Binds a ROUTER for orders and a PUB for ticks, fills market/IOC orders at the touch,
//! keeps a journaled ledger, and prints it at exit.

use clap::Parser;
use stress::gateway::cli::{self, GatewayArgs};

#[derive(Parser, Debug)]
#[command(name = "paper-gateway", about = "Paper execution gateway (docs/PROTOCOL.md)")]
struct Cli {
    #[command(flatten)]
    args: GatewayArgs,
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) =
        stress::logging::init(None, "info").map_err(|e| e.to_string()).and_then(|_log| cli::serve(&cli.args))
    {
        eprintln!("paper-gateway: {e}");
        std::process::exit(2);
    }
}

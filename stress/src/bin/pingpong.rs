//! `pingpong`: the floor under the engine's round trip. A bare ZeroMQ DEALER↔ROUTER ping-pong
//! over TCP loopback (127.0.0.1, ephemeral port), no engine, no gateway logic: a ROUTER thread
//! echoes every message back to its sender's identity, and the DEALER sends a small frame (about
//! the size of an order), waits for its echo, and does that `--round-trips` times after a short
//! warm-up. Prints ONE JSON line:
//! `{"what":"zmq_pingpong","round_trips":..,"wall_s":..,"per_s":..,"p50_us":..,"p99_us":..,"p999_us":..,"max_us":..}`.
//! `scripts/bench_peer.sh` runs it next to the engine and the Python peer as the same-run reference.

use std::time::Duration;

use anyhow::{ensure, Context as _};
use clap::Parser;
use hdrhistogram::Histogram;
use serde::Serialize;
use stress::zmq_hop::{self, HopOptions};

#[derive(Parser, Debug)]
#[command(name = "pingpong", about = "Bare ZeroMQ DEALER<->ROUTER ping-pong over TCP loopback (one JSON line)")]
struct Cli {
    /// Measured round trips (one message in flight at a time).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..))]
    round_trips: u64,
    /// Unmeasured round trips first (connection set-up, caches).
    #[arg(long, default_value_t = 1_000)]
    warmup: u64,
    /// Frame size in bytes (an order on the wire is about 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    size: u64,
    /// Give up when an echo (or the ROUTER's next message) takes longer than this.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(i32).range(1..))]
    timeout_ms: i32,
}

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(line) => println!("{line}"),
        Err(e) => {
            eprintln!("pingpong: {e:#}");
            std::process::exit(2);
        }
    }
}

/// The one JSON line (fields in this order).
#[derive(Serialize, Debug, PartialEq)]
struct Summary {
    what: &'static str,
    round_trips: u64,
    wall_s: f64,
    per_s: u64,
    p50_us: f64,
    p99_us: f64,
    p999_us: f64,
    max_us: f64,
}

fn run(cli: &Cli) -> anyhow::Result<String> {
    let size = usize::try_from(cli.size).context("--size")?;
    let options = HopOptions { round_trips: cli.round_trips, warmup: cli.warmup, size, timeout_ms: cli.timeout_ms };
    let (hist, wall) = zmq_hop::measure(&options)?;
    Ok(serde_json::to_string(&summary(&hist, wall)?)?)
}

/// The JSON line from the round-trip histogram (nanoseconds) and the measured wall time.
fn summary(hist: &Histogram<u64>, wall: Duration) -> anyhow::Result<Summary> {
    let n = hist.len();
    ensure!(n > 0, "no round trip was measured");
    let wall_s = wall.as_secs_f64();
    ensure!(wall_s > 0.0, "the measured wall time is zero");
    let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0; // µs, one decimal
    Ok(Summary {
        what: "zmq_pingpong",
        round_trips: n,
        wall_s: (wall_s * 1000.0).round() / 1000.0,
        per_s: (n as f64 / wall_s).round() as u64,
        p50_us: us(hist.value_at_quantile(0.5)),
        p99_us: us(hist.value_at_quantile(0.99)),
        p999_us: us(hist.value_at_quantile(0.999)),
        max_us: us(hist.max()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_reports_microseconds_and_rate() -> anyhow::Result<()> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
        // 990 round trips of 20 µs, 9 of 100 µs, 1 of 1 ms.
        h.record_n(20_000, 990)?;
        h.record_n(100_000, 9)?;
        h.record(1_000_000)?;
        let s = summary(&h, Duration::from_millis(500))?;
        assert_eq!((s.round_trips, s.wall_s, s.per_s), (1000, 0.5, 2000));
        assert_eq!((s.p50_us, s.p99_us, s.p999_us), (20.0, 20.0, 100.0));
        // 3 significant digits: 1 ms comes back within 0.1 %.
        assert!((999.0..=1001.0).contains(&s.max_us), "{s:?}");
        // One line, the keys in the documented order.
        let line = serde_json::to_string(&s)?;
        assert!(
            line.starts_with(r#"{"what":"zmq_pingpong","round_trips":1000,"wall_s":0.5,"per_s":2000,"p50_us":20.0,"#),
            "{line}"
        );
        assert!(!line.contains('\n'));
        Ok(())
    }

    #[test]
    fn summary_of_nothing_is_an_error() -> anyhow::Result<()> {
        let h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
        assert!(summary(&h, Duration::from_secs(1)).is_err());
        Ok(())
    }
}

//! `pingpong`: the floor under the engine's round trip. A bare ZeroMQ DEALER↔ROUTER ping-pong
//! over TCP loopback (127.0.0.1, ephemeral port), no engine, no gateway logic: a ROUTER thread
//! echoes every message back to its sender's identity, and the DEALER sends a small frame (about
//! the size of an order), waits for its echo, and does that `--round-trips` times after a short
//! warm-up. Prints ONE JSON line:
//! `{"what":"zmq_pingpong","round_trips":..,"wall_s":..,"per_s":..,"p50_us":..,"p99_us":..,"p999_us":..,"max_us":..}`.
//! `scripts/bench_peer.sh` runs it next to the engine and the Python peer as the same-run reference.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Parser;
use hdrhistogram::Histogram;
use serde::Serialize;

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
    let total = cli.warmup.checked_add(cli.round_trips).context("--warmup + --round-trips overflows")?;
    let ctx = zmq::Context::new();

    let router = ctx.socket(zmq::ROUTER).context("ROUTER socket")?;
    router.set_linger(0)?;
    router.set_rcvtimeo(cli.timeout_ms)?;
    router.bind("tcp://127.0.0.1:*").context("ROUTER bind tcp://127.0.0.1:*")?;
    let endpoint = match router.get_last_endpoint().context("ROUTER last endpoint")? {
        Ok(e) => e,
        Err(raw) => bail!("ROUTER endpoint is not UTF-8: {raw:?}"),
    };
    let echo = thread::Builder::new()
        .name("pingpong-router".into())
        .spawn(move || echo_loop(&router, total))
        .context("spawn the ROUTER thread")?;

    let measured = ping(&ctx, &endpoint, cli);
    // The ROUTER thread ends by itself: after `total` echoes, or on its receive timeout.
    let echoed = match echo.join() {
        Ok(r) => r,
        Err(_) => bail!("the ROUTER thread panicked"),
    };
    let (hist, wall) = measured?;
    echoed?;
    Ok(serde_json::to_string(&summary(&hist, wall)?)?)
}

/// The ROUTER side: receive `[identity, body]`, send the same two frames back, `total` times.
fn echo_loop(router: &zmq::Socket, total: u64) -> anyhow::Result<()> {
    for i in 0..total {
        let identity = router.recv_msg(0).with_context(|| format!("ROUTER receive #{i}"))?;
        ensure!(router.get_rcvmore()?, "ROUTER message #{i} has no body frame");
        let body = router.recv_msg(0).with_context(|| format!("ROUTER receive body #{i}"))?;
        ensure!(!router.get_rcvmore()?, "ROUTER message #{i} has more than one body frame");
        router.send(identity, zmq::SNDMORE).with_context(|| format!("ROUTER echo #{i}"))?;
        router.send(body, 0).with_context(|| format!("ROUTER echo body #{i}"))?;
    }
    Ok(())
}

/// The DEALER side: warm-up, then the measured round trips. Returns the round-trip histogram
/// (nanoseconds) and the wall time of the measured part.
fn ping(ctx: &zmq::Context, endpoint: &str, cli: &Cli) -> anyhow::Result<(Histogram<u64>, Duration)> {
    let dealer = ctx.socket(zmq::DEALER).context("DEALER socket")?;
    dealer.set_linger(0)?;
    dealer.set_rcvtimeo(cli.timeout_ms)?;
    dealer.set_sndtimeo(cli.timeout_ms)?;
    dealer.connect(endpoint).with_context(|| format!("DEALER connect {endpoint}"))?;

    let frame = order_like_frame(usize::try_from(cli.size).context("--size")?);
    let mut reply = vec![0u8; frame.len() + 1];
    let mut once = |i: u64| -> anyhow::Result<()> {
        dealer.send(&frame[..], 0).with_context(|| format!("DEALER send #{i}"))?;
        let n = dealer.recv_into(&mut reply, 0).with_context(|| format!("DEALER receive echo #{i}"))?;
        ensure!(n == frame.len() && reply[..n] == frame[..], "echo #{i} is not the frame sent ({n} bytes)");
        ensure!(!dealer.get_rcvmore()?, "echo #{i} has more than one frame");
        Ok(())
    };

    for i in 0..cli.warmup {
        once(i)?;
    }
    // 1 ns .. 60 s, 3 significant digits.
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).context("histogram bounds")?;
    let start = Instant::now();
    for i in 0..cli.round_trips {
        let t0 = Instant::now();
        once(cli.warmup + i)?;
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        hist.saturating_record(ns.max(1));
    }
    Ok((hist, start.elapsed()))
}

/// About `size` bytes that look like an order on the wire (JSON, padded).
fn order_like_frame(size: usize) -> Vec<u8> {
    let mut frame =
        br#"{"type":"order","intent_id":"SYM0001.s-42","symbol":"SYM0001.s","side":"buy","qty":"1","px":"1000.01"}"#
            .to_vec();
    frame.resize(size, b' ');
    frame
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

    #[test]
    fn the_frame_has_the_asked_size() {
        assert_eq!(order_like_frame(100).len(), 100);
        assert_eq!(order_like_frame(10).len(), 10);
        assert!(order_like_frame(100).starts_with(b"{\"type\":\"order\""));
    }
}

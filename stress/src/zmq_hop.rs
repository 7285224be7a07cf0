//! One ZeroMQ hop over TCP loopback, timed: a DEALER sends a frame about the size of an
//! order to a ROUTER thread that echoes it, one frame in flight at a time. The floor under
//! the engine's round trip (`pingpong`), and the hop `intent-bench` allows an agent's
//! intent on top of the engine's own tick → order time.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use hdrhistogram::Histogram;

/// How to measure.
#[derive(Clone, Copy, Debug)]
pub struct HopOptions {
    /// Measured round trips.
    pub round_trips: u64,
    /// Unmeasured round trips first (connection set-up, caches).
    pub warmup: u64,
    /// Frame size in bytes.
    pub size: usize,
    /// Give up when an echo takes longer than this.
    pub timeout_ms: i32,
}

/// The round-trip histogram (nanoseconds, 1 ns .. 60 s, 3 significant digits) and the wall
/// time of the measured part.
pub fn measure(options: &HopOptions) -> anyhow::Result<(Histogram<u64>, Duration)> {
    let total = options.warmup.checked_add(options.round_trips).context("warm-up + round trips overflows")?;
    let ctx = zmq::Context::new();

    let router = ctx.socket(zmq::ROUTER).context("ROUTER socket")?;
    router.set_linger(0)?;
    router.set_rcvtimeo(options.timeout_ms)?;
    router.bind("tcp://127.0.0.1:*").context("ROUTER bind tcp://127.0.0.1:*")?;
    let endpoint = match router.get_last_endpoint().context("ROUTER last endpoint")? {
        Ok(e) => e,
        Err(raw) => bail!("ROUTER endpoint is not UTF-8: {raw:?}"),
    };
    let echo = thread::Builder::new()
        .name("pingpong-router".into())
        .spawn(move || echo_loop(&router, total))
        .context("spawn the ROUTER thread")?;

    let measured = ping(&ctx, &endpoint, options);
    // The ROUTER thread ends by itself: after `total` echoes, or on its receive timeout.
    let echoed = match echo.join() {
        Ok(r) => r,
        Err(_) => bail!("the ROUTER thread panicked"),
    };
    let measured = measured?;
    echoed?;
    Ok(measured)
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

/// The DEALER side: warm-up, then the measured round trips.
fn ping(ctx: &zmq::Context, endpoint: &str, options: &HopOptions) -> anyhow::Result<(Histogram<u64>, Duration)> {
    let dealer = ctx.socket(zmq::DEALER).context("DEALER socket")?;
    dealer.set_linger(0)?;
    dealer.set_rcvtimeo(options.timeout_ms)?;
    dealer.set_sndtimeo(options.timeout_ms)?;
    dealer.connect(endpoint).with_context(|| format!("DEALER connect {endpoint}"))?;

    let frame = order_like_frame(options.size);
    let mut reply = vec![0u8; frame.len() + 1];
    let mut once = |i: u64| -> anyhow::Result<()> {
        dealer.send(&frame[..], 0).with_context(|| format!("DEALER send #{i}"))?;
        let n = dealer.recv_into(&mut reply, 0).with_context(|| format!("DEALER receive echo #{i}"))?;
        ensure!(n == frame.len() && reply[..n] == frame[..], "echo #{i} is not the frame sent ({n} bytes)");
        ensure!(!dealer.get_rcvmore()?, "echo #{i} has more than one frame");
        Ok(())
    };

    for i in 0..options.warmup {
        once(i)?;
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).context("histogram bounds")?;
    let start = Instant::now();
    for i in 0..options.round_trips {
        let t0 = Instant::now();
        once(options.warmup + i)?;
        let ns = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        hist.saturating_record(ns.max(1));
    }
    Ok((hist, start.elapsed()))
}

/// About `size` bytes that look like an order on the wire (JSON, padded).
pub fn order_like_frame(size: usize) -> Vec<u8> {
    let mut frame =
        br#"{"type":"order","intent_id":"SYM0001.s-42","symbol":"SYM0001.s","side":"buy","qty":"1","px":"1000.01"}"#
            .to_vec();
    frame.resize(size, b' ');
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_has_the_asked_size() {
        assert_eq!(order_like_frame(100).len(), 100);
        assert_eq!(order_like_frame(10).len(), 10);
        assert!(order_like_frame(100).starts_with(b"{\"type\":\"order\""));
    }

    #[test]
    fn a_few_round_trips_are_measured() -> anyhow::Result<()> {
        let options = HopOptions { round_trips: 50, warmup: 5, size: 100, timeout_ms: 5_000 };
        let (hist, wall) = measure(&options)?;
        assert_eq!(hist.len(), 50);
        assert!(wall > Duration::ZERO && hist.min() > 0);
        Ok(())
    }
}

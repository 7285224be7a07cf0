//! `intent-bench`: how long a decision agent's intent takes to become an order on the wire,
//! beside the engine's own tick → order time and one ZeroMQ hop, all measured in one run of
//! one process (the machine is shared and noisy: only figures of one sitting compare).
//!
//! The run: the engine (`main_job`) with its embedded paper gateway; the churn strategy on
//! [`STRATEGY_SYMBOLS`] (one order in flight at all times: the engine's own tick → order
//! figure, under load); and this bench as the agent of [`AGENT_SYMBOLS`], over the intent
//! endpoint: one intent at a time, an entry or an exit, round robin over its symbols.
//!
//! Measured:
//! - **intent → wire**: the agent's send to the gateway reading that order off its socket
//!   (both the wall clock of this host), through one hop in, the endpoint thread, the agent
//!   router, the symbol, the bridge and one hop out;
//! - **intent → order**: inside the engine, the intent frame's arrival at the endpoint to the
//!   symbol's order decided (`JobSummary::intent_to_order_us`);
//! - **tick → order**: inside the engine, a tick's arrival to the symbol's order decided
//!   (`JobSummary::tick_to_intent_us`, the churn symbols);
//! - **one hop**: half a ZeroMQ DEALER↔ROUTER round trip on loopback, just before the run.
//!
//! The gate ([`judge`]): intent → order may cost at most one hop more than tick → order, at
//! p50 and at p99; and it fails with fewer than `min_intents` intents or ticks → orders
//! inside the engine (its intent → order counts every accepted intent, the bench's 50
//! unmeasured warm-up ones included).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use actors::bridge::Percentiles;
use anyhow::{anyhow, bail, Context as _};
use engine::agent::AgentId;
use engine_app::config::{RunConfig, StrategyChoice};
use engine_app::config_agents::AgentConfig;
use engine_app::main_job::{self, JobOptions, JobSummary};
use hdrhistogram::Histogram;
use protocol::{IntentId, Symbol};
use serde::Serialize;
use serde_json::{json, Value};

use crate::zmq_hop::{self, HopOptions};

/// The symbols the churn strategy drives.
pub const STRATEGY_SYMBOLS: [&str; 2] = ["BENCH01.s", "BENCH02.s"];
/// The symbols this bench drives as their agent.
pub const AGENT_SYMBOLS: [&str; 4] = ["AGENT01.s", "AGENT02.s", "AGENT03.s", "AGENT04.s"];
const AGENT: &str = "intent-bench";
const TOKEN: &str = "intent-bench-token-5f0c2a9e41d7";
/// Intents answered before measuring (connections, caches, the first fills).
const WARMUP: u64 = 50;
/// How long one answer, or one order reaching the gateway, may take.
const WAIT: Duration = Duration::from_secs(2);

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Measured intents (each becomes one order).
    pub intents: u64,
    /// The engine's run; the bench stops sending two seconds before it ends.
    pub seconds: u64,
    /// Fewer measured intents (or ticks → orders) than this is a FAIL.
    pub min_intents: u64,
    /// Intent endpoint (a free loopback port).
    pub endpoint: String,
}

/// p50 / p99 and how many, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Figure {
    pub n: u64,
    pub p50_us: f64,
    pub p99_us: f64,
}

impl Figure {
    fn from_percentiles(p: &Percentiles) -> Figure {
        Figure { n: p.count, p50_us: p.p50 as f64, p99_us: p.p99 as f64 }
    }

    fn from_ns(h: &Histogram<u64>) -> Figure {
        let us = |ns: u64| (ns as f64 / 100.0).round() / 10.0;
        Figure { n: h.len(), p50_us: us(h.value_at_quantile(0.5)), p99_us: us(h.value_at_quantile(0.99)) }
    }
}

/// The bench's one JSON line.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub what: &'static str,
    pub intent_to_wire: Figure,
    pub intent_to_order: Figure,
    pub tick_to_order: Figure,
    /// One way: half the round trip.
    pub one_hop: Figure,
    pub refused: u64,
    pub gate: Verdict,
}

/// PASS, or FAIL with every reason.
#[derive(Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub why: Vec<String>,
}

/// Intent → order may cost at most one hop more than tick → order, at p50 and p99; fewer
/// than `min` samples of either is a FAIL (a percentile of nothing says nothing).
pub fn judge(intent: &Figure, tick: &Figure, hop: &Figure, min: u64) -> Verdict {
    let mut why = Vec::new();
    if intent.n < min {
        why.push(format!("only {} intents measured (n < {min})", intent.n));
    }
    if tick.n < min {
        why.push(format!("only {} ticks → orders measured (n < {min})", tick.n));
    }
    if hop.n == 0 {
        why.push("no hop measured".to_string());
    }
    let over = |what: &str, got: f64, tick: f64, hop: f64| {
        (got > tick + hop)
            .then(|| format!("intent → order {what} {got} µs > tick → order {tick} µs + one hop {hop} µs"))
    };
    why.extend(over("p50", intent.p50_us, tick.p50_us, hop.p50_us));
    why.extend(over("p99", intent.p99_us, tick.p99_us, hop.p99_us));
    Verdict { pass: why.is_empty(), why }
}

/// The engine's run: churn on the strategy symbols, this bench the agent of the others.
fn run_config(options: &BenchOptions, dir: &Path) -> anyhow::Result<RunConfig> {
    let token_file = dir.join("agent.token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).context("writing the agent's token file")?;
    let mut config = RunConfig {
        symbols: STRATEGY_SYMBOLS.iter().chain(AGENT_SYMBOLS.iter()).map(|s| s.to_string()).collect(),
        control: None,
        http: None,
        state_file: Some("off".into()),
        strategy: StrategyChoice::Churn,
        ..RunConfig::default()
    };
    crate::harness::unthrottled(&mut config);
    config.agents.endpoint = Some(options.endpoint.clone());
    let symbols = AGENT_SYMBOLS.iter().map(|s| Symbol::new(s)).collect::<Result<Vec<_>, _>>()?;
    let mut agent = AgentConfig::new(AgentId::new(AGENT)?, Some(token_file), symbols);
    agent.max_intents_per_sec = 10_000;
    agent.heartbeat_timeout = Duration::from_secs(60);
    config.agents.agents = vec![agent];
    config.agents.stream = None;
    Ok(config)
}

/// Runs the bench (the hop first, then the engine with this bench as its agent).
pub fn run(options: &BenchOptions, dir: &Path) -> anyhow::Result<BenchReport> {
    let hop_options = HopOptions { round_trips: 5_000, warmup: 500, size: 200, timeout_ms: 5_000 };
    let (round_trips, _) = zmq_hop::measure(&hop_options)?;
    let mut one_way = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for v in round_trips.iter_recorded() {
        one_way.saturating_record_n((v.value_iterated_to() / 2).max(1), v.count_at_value());
    }

    let (observer, orders_seen) = crossbeam_channel::bounded::<(IntentId, u64)>(1 << 20);
    let job_options = JobOptions {
        order_observer: Some(observer),
        ..JobOptions::new(run_config(options, dir)?, Some(Duration::from_secs(options.seconds)))
    };
    let started = Instant::now();
    let job = std::thread::Builder::new()
        .name("engine-job".into())
        .spawn(move || main_job::run(job_options))
        .context("engine thread")?;
    let send_until = started + Duration::from_secs(options.seconds.saturating_sub(2));
    let agent = drive(options, &orders_seen, send_until);
    let summary: JobSummary = job.join().map_err(|_| anyhow!("the engine thread panicked"))??;
    let (intent_to_wire, refused) = agent?;

    let intent_to_wire = Figure::from_ns(&intent_to_wire);
    let intent_to_order = Figure::from_percentiles(&summary.intent_to_order_us);
    let tick_to_order = Figure::from_percentiles(&summary.tick_to_intent_us);
    let one_hop = Figure::from_ns(&one_way);
    let gate = judge(&intent_to_order, &tick_to_order, &one_hop, options.min_intents);
    Ok(BenchReport { what: "intent_bench", intent_to_wire, intent_to_order, tick_to_order, one_hop, refused, gate })
}

/// Whether this bench, as the agent, holds a position in a symbol (as far as it knows).
#[derive(Clone, Copy, PartialEq)]
enum Held {
    Flat,
    Long,
}

/// The agent: one intent at a time, round robin over its symbols; an accepted intent is
/// timed from its send to the gateway reading its order. Returns that histogram (ns) and
/// how many intents were refused (a symbol not ready yet, or its last order unresolved).
fn drive(
    options: &BenchOptions,
    orders_seen: &crossbeam_channel::Receiver<(IntentId, u64)>,
    until: Instant,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let ctx = zmq::Context::new();
    let dealer = ctx.socket(zmq::DEALER)?;
    dealer.set_linger(0)?;
    dealer.set_rcvtimeo(i32::try_from(WAIT.as_millis())?)?;
    dealer.connect(&options.endpoint)?;

    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut held = [Held::Flat; AGENT_SYMBOLS.len()];
    let mut seen: HashMap<IntentId, u64> = HashMap::new();
    let (mut accepted, mut refused, mut n) = (0u64, 0u64, 0u64);
    while hist.len() < options.intents && Instant::now() < until {
        let i = (n % AGENT_SYMBOLS.len() as u64) as usize;
        n += 1;
        let mut frame = json!({
            "type": "submit_intent", "intent_id": format!("bench-{n}"), "agent_id": AGENT, "token": TOKEN,
            "symbol": AGENT_SYMBOLS[i],
        });
        match held[i] {
            Held::Flat => {
                frame["action"] = json!("enter_long");
                frame["qty"] = json!("0.001");
            }
            Held::Long => frame["action"] = json!("exit"),
        }
        let sent_ns = actors::time::wall_ns();
        dealer.send(frame.to_string().as_bytes(), 0)?;
        let answer: Value = match dealer.recv_bytes(0) {
            Ok(bytes) => serde_json::from_slice(&bytes).context("the intent answer is not JSON")?,
            Err(zmq::Error::EAGAIN) => bail!("no answer to intent bench-{n} within {WAIT:?}"),
            Err(e) => return Err(e.into()),
        };
        if answer["status"] != "accepted" {
            refused += 1;
            match answer["reason"].as_str() {
                Some("position_open") => held[i] = Held::Long,
                Some("no_position") => held[i] = Held::Flat,
                // The order before is unresolved, or the symbol is not ready: the next symbol.
                _ => std::thread::sleep(Duration::from_micros(200)),
            }
            continue;
        }
        let order = answer["order_intent_id"].as_u64().map(IntentId).context("accepted without order_intent_id")?;
        held[i] = if held[i] == Held::Flat { Held::Long } else { Held::Flat };
        let deadline = Instant::now() + WAIT;
        let on_wire_ns = loop {
            if let Some(ns) = seen.remove(&order) {
                break ns;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match orders_seen.recv_timeout(left) {
                Ok((id, ns)) => {
                    seen.insert(id, ns);
                }
                Err(_) => bail!("order {} of intent bench-{n} did not reach the gateway within {WAIT:?}", order.0),
            }
        };
        // Orders of the strategy's symbols pass through too: keep only what may still come.
        seen.clear();
        accepted += 1;
        if accepted > WARMUP {
            hist.saturating_record(on_wire_ns.saturating_sub(sent_ns).max(1));
        }
    }
    Ok((hist, refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fig(n: u64, p50: f64, p99: f64) -> Figure {
        Figure { n, p50_us: p50, p99_us: p99 }
    }

    #[test]
    fn within_one_hop_of_the_tick_path_passes() {
        let v = judge(&fig(500, 120.0, 400.0), &fig(900, 100.0, 380.0), &fig(5_000, 25.0, 40.0), 100);
        assert_eq!(v, Verdict { pass: true, why: vec![] });
    }

    #[test]
    fn slower_than_the_tick_path_plus_a_hop_fails_naming_the_percentile() {
        let v = judge(&fig(500, 126.0, 400.0), &fig(900, 100.0, 380.0), &fig(5_000, 25.0, 15.0), 100);
        assert!(!v.pass);
        assert_eq!(v.why.len(), 2, "{v:?}");
        assert!(v.why[0].contains("p50 126 µs > tick → order 100 µs + one hop 25 µs"), "{v:?}");
        assert!(v.why[1].contains("p99"), "{v:?}");
    }

    #[test]
    fn too_few_samples_fail_whatever_the_figures() {
        let v = judge(&fig(0, 0.0, 0.0), &fig(3, 1.0, 1.0), &fig(0, 0.0, 0.0), 100);
        assert!(!v.pass);
        assert!(v.why.iter().any(|w| w.contains("only 0 intents")), "{v:?}");
        assert!(v.why.iter().any(|w| w.contains("only 3 ticks")), "{v:?}");
        assert!(v.why.iter().any(|w| w.contains("no hop")), "{v:?}");
    }
}

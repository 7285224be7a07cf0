//! A replay is deterministic across speeds: the committed fixtures (three symbols, two
//! formats, 4 s of data) through the main job with its embedded gateway at `--speed 1`
//! and at `--speed max` give exactly the same round trips (symbol, side, qty, entry and
//! exit times and prices, net PnL), with a strategy and exits that trade many times and
//! make the time limit and the cooldown bind, so a clock other than the data's shows.

use std::path::PathBuf;
use std::time::Duration;

use engine_app::config::{RunConfig, StrategyChoice};
use engine_app::main_job::{self, JobOptions, JobSummary};
use paper_gateway::replay::trades::RoundTrip;
use paper_gateway::replay::Speed;
use protocol::Ppm;

/// Time limit and cooldown of the test's exits, in data time.
const HOLD_NS: u64 = 1_000_000_000;
const COOLDOWN_NS: u64 = 1_000_000_000;

fn replay(speed: Speed) -> JobSummary {
    let mut config = RunConfig {
        control: None,
        replay: vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../paper-gateway/tests/data/replay")],
        speed,
        strategy: StrategyChoice::Breakout { window: 20, exit_window: 10 },
        ..RunConfig::default()
    };
    // Wide enough that the slow wave's trades run into the time limit.
    config.exits.take_profit = Some(Ppm(5_000));
    config.exits.stop_loss = Some(Ppm(5_000));
    config.exits.max_hold_secs = Some(1);
    config.exits.cooldown_secs = 1;
    // The duration only bounds a broken run: the replay's end stops it.
    main_job::run(JobOptions::new(config, Some(Duration::from_secs(60)))).expect("the replay runs")
}

fn trades(summary: &JobSummary) -> Vec<RoundTrip> {
    summary.replay.as_ref().expect("a replay outcome").trades.clone()
}

#[test]
fn a_replay_at_max_speed_trades_exactly_as_the_same_replay_in_real_time() {
    let real_time = replay(Speed::REAL_TIME);
    let max = replay(Speed::Max);
    for (name, run) in [("speed 1", &real_time), ("speed max", &max)] {
        assert!(run.books_balance(), "{name}: the books balance");
        let span = &run.replay.as_ref().expect("replay").span;
        assert_eq!((span.ticks, span.published, span.bad_rows), (2000, 2000, 3), "{name}");
        let taken: u64 = run.symbols.iter().map(|s| s.status.counters.ticks).sum();
        assert_eq!(taken, 2000, "{name}: every recorded tick taken");
        assert!(run.elapsed < Duration::from_secs(30), "{name}: ends when the replay ends");
    }
    let (a, b) = (trades(&real_time), trades(&max));
    assert!(a.len() >= 10, "the strategy trades many round trips on the file: {}", a.len());
    assert_eq!(a, b, "the same trades at speed 1 and speed max");
    assert_eq!(real_time.metrics.total_net, max.metrics.total_net);
    // The data clock's rules, read off the trades: no trade outlives its time limit by more
    // than a tick gap (10 ms), and no entry comes within the cooldown of the previous exit
    // of the same symbol and direction. On the wall clock at max speed (4 s of data in a fraction of a second)
    // neither would hold.
    assert!(a.iter().all(|t| t.exit_ns - t.entry_ns <= HOLD_NS + 10_000_000), "time limit on the data clock");
    assert!(a.iter().any(|t| t.exit_ns - t.entry_ns >= HOLD_NS), "the time limit binds at least once");
    for symbol in real_time.symbols.iter().map(|s| s.status.symbol) {
        for side in [protocol::Side::Buy, protocol::Side::Sell] {
            let mine: Vec<&RoundTrip> = a.iter().filter(|t| t.symbol == symbol && t.side == side).collect();
            for pair in mine.windows(2) {
                assert!(pair[1].entry_ns >= pair[0].exit_ns + COOLDOWN_NS, "cooldown on the data clock: {pair:?}");
            }
        }
    }
    assert!(max.elapsed < real_time.elapsed, "max is faster: {:?} vs {:?}", max.elapsed, real_time.elapsed);
}

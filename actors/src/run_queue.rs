//! How long the current thread waited for a CPU while it was runnable (Linux
//! `/proc/thread-self/schedstat`, second field: run-queue delay in ns). The step budget uses
//! it to tell a symbol that stalled its shard (a long computation, or a blocking call: the
//! thread runs or sleeps) from a shard thread the operating system did not run (a busy
//! machine: the thread was runnable and waited). Only the first is the symbol's fault.
//!
//! Cost: the file is read at most once per [`SAMPLE_EVERY`] on each shard thread (a step
//! starting later than that after the last sample takes a new one), and once more when a
//! step overruns its budget. Where the file does not exist, nothing is known and the budget
//! judges by wall time alone.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// How old the thread's last sample may be when a step starts.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(5);

thread_local! {
    static LAST: Cell<Option<(Instant, u64)>> = const { Cell::new(None) };
}

/// The run-queue delay in a `schedstat` line (`<cpu ns> <run-queue ns> <slices>`).
pub fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

fn read_now() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().as_deref().and_then(parse_schedstat)
}

/// Called as a step starts, at `now`: keeps a sample no older than [`SAMPLE_EVERY`] (taken
/// before the step, so the step's own wait is after it).
pub fn mark(now: Instant) {
    LAST.with(|last| {
        let fresh = last.get().is_some_and(|(at, _)| now.saturating_duration_since(at) < SAMPLE_EVERY);
        if !fresh {
            last.set(read_now().map(|wait| (now, wait)));
        }
    });
}

/// The run-queue delay since the last [`mark`]'s sample (which may predate the step by up to
/// [`SAMPLE_EVERY`]); `None` when unknown.
pub fn waited_since_mark() -> Option<Duration> {
    let (_, before) = LAST.with(Cell::get)?;
    let now = read_now()?;
    Some(Duration::from_nanos(now.saturating_sub(before)))
}

/// Whether a step that took `took` overran `budget` by its own doing: what is left once the
/// time its thread waited for a CPU is taken away is still over the budget.
pub fn overran(took: Duration, waited_for_cpu: Option<Duration>, budget: Duration) -> bool {
    took.saturating_sub(waited_for_cpu.unwrap_or(Duration::ZERO)) > budget
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_queue_delay_is_the_second_field() {
        assert_eq!(parse_schedstat("163763 4096 1\n"), Some(4096));
        assert_eq!(parse_schedstat("163763"), None);
        assert_eq!(parse_schedstat("a b c"), None);
    }

    #[test]
    fn only_the_symbols_own_time_counts_against_the_budget() {
        let ms = Duration::from_millis;
        assert!(overran(ms(80), None, ms(50)), "nothing known: wall time");
        assert!(overran(ms(80), Some(ms(0)), ms(50)), "ran or slept 80 ms");
        assert!(!overran(ms(80), Some(ms(40)), ms(50)), "40 of the 80 ms waiting for a CPU");
        assert!(overran(ms(300), Some(ms(40)), ms(50)), "a 300 ms step is still 260 ms its own");
        assert!(!overran(ms(50), Some(ms(0)), ms(50)), "exactly the budget is not over it");
    }

    /// More spinning threads than cores: this thread, spinning too, has to wait for a CPU,
    /// and the delay read back grows.
    #[test]
    fn a_thread_crowded_off_the_cpus_sees_its_wait_grow() {
        mark(Instant::now());
        assert!(waited_since_mark().is_some(), "/proc/thread-self/schedstat is readable here");
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let spin = |for_ms: u64| {
            let until = Instant::now() + Duration::from_millis(for_ms);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        };
        let crowd: Vec<_> = (0..cores * 2).map(|_| std::thread::spawn(move || spin(400))).collect();
        spin(400);
        for t in crowd {
            t.join().unwrap();
        }
        let waited = waited_since_mark().unwrap();
        assert!(waited > Duration::from_millis(1), "waited {waited:?} for a CPU");
    }
}

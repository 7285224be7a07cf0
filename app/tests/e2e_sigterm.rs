//! SIGTERM (how systemd, Docker and Kubernetes stop a service) and SIGHUP stop the real
//! `engine` binary the way Ctrl-C does: entries off, in-flight orders drained, state
//! flushed, the final summary printed, exit 0. The engine runs on the embedded gateway with
//! the churn strategy (an order on the wire almost all the time), so the signal lands with
//! orders in flight.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

/// The whole test, start to exit, stays under this.
const BUDGET: Duration = Duration::from_secs(20);
/// Orders the engine must have sent (by its status line) before the signal.
const TRADED_ENOUGH: u64 = 100;

/// The sum of the `orders N` fields of one status line (one per symbol), if it is one.
fn orders_on_status_line(line: &str) -> Option<u64> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let counts: Vec<u64> =
        words.windows(2).filter(|w| w[0] == "orders").filter_map(|w| w[1].parse::<u64>().ok()).collect();
    (!counts.is_empty()).then(|| counts.iter().sum())
}

fn wait_for_exit(child: &mut Child, until: Instant) -> Option<ExitStatus> {
    while Instant::now() < until {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn stops_cleanly_on(signal: libc::c_int, name: &str) {
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("e2e-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = common::churn_engine_toml(&dir, None);
    let state = dir.join("state.json");

    let mut child = Command::new(env!("CARGO_BIN_EXE_engine"))
        .args(["--duration", "60", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info,locks=warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the engine binary starts");
    let (lines_tx, lines) = mpsc::channel::<String>();
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut stderr = child.stderr.take().expect("stderr");
    let stderr_reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    // Wait until it has traded a bit (or give up, leaving time for the stop itself).
    let mut out = Vec::new();
    let trade_deadline = started + Duration::from_secs(10);
    let mut traded = 0;
    while traded < TRADED_ENOUGH && Instant::now() < trade_deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(100)) {
            traded = traded.max(orders_on_status_line(&line).unwrap_or(0));
            out.push(line);
        }
    }
    if traded < TRADED_ENOUGH {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the engine did not trade within 10 s:\n{}", out.join("\n"));
    }

    let signalled_at = SystemTime::now();
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    #[allow(unsafe_code)]
    // SAFETY: kill() sends a signal to our own child process, whose id we hold (not reaped).
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {name})");

    let status = wait_for_exit(&mut child, started + BUDGET);
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = reader.join();
    out.extend(lines.try_iter());
    let stdout = out.join("\n");
    let stderr = stderr_reader.join().unwrap_or_default();
    let status = status.unwrap_or_else(|| panic!("no exit within {BUDGET:?} of the start:\n{stdout}\n{stderr}"));

    assert_eq!(status.code(), Some(0), "exit 0 after {name} (not killed by it):\n{stdout}\n{stderr}");
    assert!(stdout.contains("stop signal") && stdout.contains(name), "the stop names {name}:\n{stdout}");
    assert!(stdout.contains("BOOKS BALANCE"), "the final summary is printed:\n{stdout}\n{stderr}");
    let flushed = std::fs::metadata(&state).and_then(|m| m.modified()).expect("the state file was written");
    // The final flush comes after the drain, well after the signal; the slack only covers
    // the file system's coarser clock.
    assert!(flushed + Duration::from_millis(50) >= signalled_at, "the state file was flushed after the signal");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).expect("read state")).expect("state file is JSON");
    assert!(saved["symbols"].is_object(), "state file has symbols: {saved}");
    assert!(started.elapsed() < BUDGET);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_drains_flushes_prints_the_summary_and_exits_0() {
    stops_cleanly_on(libc::SIGTERM, "SIGTERM");
}

#[test]
fn sighup_drains_flushes_prints_the_summary_and_exits_0() {
    stops_cleanly_on(libc::SIGHUP, "SIGHUP");
}

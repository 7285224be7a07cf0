//! The stress binary end to end: the gateway as a separate process, the gate, and the
//! report files. A clean run and a faulted run (rejects, dropped replies, a gateway
//! restart) must both pass the gate; a run that fills nothing, and one where every order
//! times out, must fail it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

/// One stress run at a time: parallel runs on a small machine would stretch the tick
/// intervals that the gate measures.
static ONE_RUN_AT_A_TIME: Mutex<()> = Mutex::new(());

fn run_stress(args: &[&str]) -> (String, serde_json::Value, PathBuf) {
    let _turn = ONE_RUN_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // A test reads its run's folder after the lock is released: each run gets its own.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("stress-bin-{}-{n}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_stress"))
        .args(args)
        .arg("--log-dir")
        .arg(&dir)
        .output()
        .expect("the stress binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let report_path = stdout.lines().find_map(|l| l.strip_prefix("report: ")).map(PathBuf::from).unwrap_or_else(|| {
        panic!("no report line:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    });
    let report =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report.json")).expect("valid JSON");
    let run_dir = report_path.parent().expect("run dir").to_path_buf();
    assert_eq!(
        output.status.success(),
        stdout.trim_end().ends_with("GATE PASS"),
        "exit code agrees with the last line"
    );
    (stdout, report, run_dir)
}

#[test]
fn a_clean_run_passes_the_gate_and_writes_every_output() {
    let (stdout, report, dir) = run_stress(&[
        "--symbols",
        "BTCUSD.s,ETHUSD.s,XAUUSD.s,SYM0001",
        "--duration",
        "3",
        "--strategy",
        "churn",
        "--interval-ms",
        "5..40",
    ]);
    assert!(stdout.trim_end().ends_with("GATE PASS"), "{stdout}");
    for file in ["engine.jsonl", "report.json", "report.md", "latency.svg"] {
        assert!(dir.join(file).exists(), "{file} written");
    }
    assert_eq!(report["total_pnl"], report["sum_symbol_pnl"]);
    assert_eq!(report["total_pnl"], report["gateway_ledger_pnl"]);
    assert_eq!(report["symbols"].as_array().map(Vec::len), Some(4));
    assert!(report["locks"]["acquire"].as_u64().unwrap() > 10);
    assert_eq!(report["locks"]["acquire"], report["locks"]["release"]);
    assert_eq!(report["ticks"]["published"], report["ticks"]["taken"]);
    for path in ["tick_to_intent", "round_trip", "lock_hold"] {
        assert!(report["latency_us"][path]["p99"].as_u64().is_some(), "{path} measured");
    }
    assert!(report["gate"]["criteria"].as_array().unwrap().iter().all(|c| c["pass"] == true));
    assert!(std::fs::read_to_string(dir.join("latency.svg")).unwrap().starts_with("<svg"));
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_faulted_run_with_a_gateway_restart_still_balances() {
    let (stdout, report, dir) = run_stress(&[
        "--symbols",
        "3",
        "--duration",
        "4",
        "--strategy",
        "churn",
        "--interval-ms",
        "5..40",
        "--reject-rate",
        "0.1",
        "--drop-reply-rate",
        "0.05",
        "--restart-at",
        "1.5",
        "--order-timeout-ms",
        "200",
    ]);
    assert!(stdout.trim_end().ends_with("GATE PASS"), "{stdout}");
    assert_eq!(report["gateway"].as_array().map(Vec::len), Some(2), "two gateway instances");
    let outcomes = &report["locks"]["outcomes"];
    assert!(outcomes["rejected"].as_u64().unwrap_or(0) > 0, "rejects happened: {outcomes}");
    assert!(outcomes["timeout"].as_u64().unwrap_or(0) > 0, "timeouts happened: {outcomes}");
    assert_eq!(report["efsm_errors"], 0);
    assert_eq!(report["total_pnl"], report["gateway_ledger_pnl"]);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_run_whose_every_order_is_rejected_fails_the_gate() {
    let (stdout, report, dir) =
        run_stress(&["--symbols", "2", "--duration", "2", "--strategy", "churn", "--reject-rate", "1.0"]);
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("GATE FAIL:") && last.contains("fills_booked"), "{stdout}");
    assert!(report["orders"]["sent"].as_u64().unwrap_or(0) > 0, "orders went out");
    assert_eq!(report["gate"]["pass"], false);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_run_whose_every_order_times_out_fails_and_shows_n_0() {
    let (stdout, report, dir) = run_stress(&[
        "--symbols",
        "2",
        "--duration",
        "2",
        "--strategy",
        "churn",
        "--latency-ms",
        "600",
        "--order-timeout-ms",
        "100",
    ]);
    let last = stdout.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("GATE FAIL:") && last.contains("orders_answered"), "{stdout}");
    assert_eq!(report["latency_us"]["round_trip"]["count"], 0);
    assert!(report["latency_us"]["round_trip"]["p50"].is_null(), "no 0 µs percentile");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
    assert!(md.contains("| round_trip | n = 0 |"), "{md}");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

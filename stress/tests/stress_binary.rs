//! The stress binary end to end: the gateway as a separate process, the gate, and the
//! report files. A clean run and a faulted run (rejects, dropped replies, a gateway
//! restart) must both pass the gate.

use std::path::PathBuf;
use std::process::Command;

fn run_stress(args: &[&str]) -> (String, serde_json::Value, PathBuf) {
    let dir = std::env::temp_dir().join(format!("stress-bin-{}-{}", std::process::id(), args.len()));
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

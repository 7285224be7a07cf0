//! The stress binary replaying the committed fixtures through its gateway process at max
//! speed: the run ends with the data, the gate passes, and report.json and report.md show
//! the replayed span (first and last timestamp, ticks, bad rows, trades, PnL).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_replay_at_max_speed_through_the_gateway_process_reports_its_span() {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../paper-gateway/tests/data/replay");
    let dir = std::env::temp_dir().join(format!("stress-replay-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_stress"))
        .arg("--replay")
        .arg(&fixtures)
        .args(["--speed", "max", "--strategy", "churn", "--log-dir"])
        .arg(&dir)
        .output()
        .expect("the stress binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(stdout.trim_end().ends_with("GATE PASS"), "{stdout}\n{stderr}");
    let report_path = stdout.lines().find_map(|l| l.strip_prefix("report: ")).map(PathBuf::from).expect("report");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).expect("report.json")).expect("JSON");
    let r = &report["replay"];
    assert_eq!(r["first"], "2024-01-02T09:30:00.000Z", "{r}");
    assert_eq!(r["last"], "2024-01-02T09:30:03.995Z");
    assert_eq!(
        (r["ticks"].as_u64(), r["published"].as_u64(), r["taken"].as_u64()),
        (Some(2000), Some(2000), Some(2000))
    );
    assert_eq!(r["bad_rows"].as_u64(), Some(3));
    assert!(r["trades"].as_u64().unwrap_or(0) > 100, "churn trades on every tick pair: {r}");
    assert_eq!(r["pnl"], report["gateway_ledger_pnl"], "the replay's PnL is the run's, equal to the venue's");
    let symbols: Vec<&str> =
        report["symbols"].as_array().expect("symbols").iter().filter_map(|s| s["symbol"].as_str()).collect();
    assert_eq!(symbols, ["EURUSD", "GBPUSD", "USDJPY"], "the files' symbols");
    let md = std::fs::read_to_string(report_path.with_file_name("report.md")).expect("report.md");
    assert!(md.contains("Replayed span 2024-01-02T09:30:00.000Z .. 2024-01-02T09:30:03.995Z at speed max"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}

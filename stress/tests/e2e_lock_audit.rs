//! Lock pairing, proven from the engine's own JSONL log by the independent audit script
//! (scripts/audit_locks.py), on a run that includes timeouts. Alone in its test binary so
//! that one engine writes the log.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::process::Command;

use common::*;

#[test]
fn every_lock_in_the_jsonl_log_is_paired_and_never_overlaps() {
    let dir = std::env::temp_dir().join(format!("lock-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let log = engine_app::logging::init(Some(&dir), "warn").expect("log dir");
    let mut config = fast_config(&names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]));
    config.drop_reply_rate = 0.2;
    config.order_timeout = std::time::Duration::from_millis(150);
    config.risk.breaker.max_consecutive_failures = 1_000;
    let summary = run(config, 5.0);
    let path = log.jsonl.clone().expect("jsonl path");
    drop(log); // flush the file writer
    assert!(summary.bridge.timeouts > 0, "the run includes timeouts");

    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new("python3")
        .arg(format!("{root}/scripts/audit_locks.py"))
        .arg(&path)
        .args(["--json", "--slack-ms", "500"])
        .output()
        .expect("python3 runs");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "audit output is JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(report["verdict"], "PASS", "{report:#}");
    assert!(output.status.success());
    let acquired = report["acquire"].as_u64().unwrap();
    assert_eq!(acquired, summary.bridge.locks_acquired, "the log has every lock the bridge took");
    assert_eq!(report["release"].as_u64().unwrap(), acquired);
    assert_eq!(report["orphans"], 0);
    assert_eq!(report["overlaps"], 0);
    assert_eq!(report["efsm_errors"], 0);
    let outcomes: String = report["per_symbol"].to_string();
    assert!(outcomes.contains("timeout"), "timeouts appear as lock outcomes: {outcomes}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! `intent-bench` end to end: a short run prints its one JSON line with every figure
//! measured, and its gate says FAIL (exit 1) when it cannot vouch for the figures (here:
//! fewer intents than `--min-intents`).
#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

fn bench(args: &[&str]) -> (Option<i32>, Value, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_intent-bench")).args(args).output().expect("intent-bench runs");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    let line = stdout.lines().last().unwrap_or_default();
    let report = serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON line ({e}):\n{stdout}\n{stderr}"));
    (output.status.code(), report, stderr)
}

#[test]
fn a_short_run_measures_every_figure_and_its_gate_can_fail() {
    let (code, report, stderr) = bench(&["--intents", "100", "--seconds", "6", "--min-intents", "1000000"]);
    assert_eq!(code, Some(1), "too few intents is a FAIL: {report}\n{stderr}");
    assert_eq!(report["what"], "intent_bench");
    assert_eq!(report["gate"]["pass"], false, "{report}");
    let why = report["gate"]["why"].as_array().unwrap();
    assert!(why.iter().any(|w| w.as_str().unwrap().ends_with("intents measured (n < 1000000)")), "{report}");
    // Every figure was measured, so it says something.
    assert_eq!(report["intent_to_wire"]["n"], 100, "{report}");
    for figure in ["intent_to_wire", "intent_to_order", "tick_to_order", "one_hop"] {
        assert!(report[figure]["n"].as_u64().unwrap() > 0, "{figure}: {report}");
        let (p50, p99) = (report[figure]["p50_us"].as_f64().unwrap(), report[figure]["p99_us"].as_f64().unwrap());
        assert!(p50 > 0.0 && p99 >= p50, "{figure}: {report}");
    }
}

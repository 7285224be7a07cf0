//! Runs the Python test suites of scripts/ (the lock auditor, the interop gateway, the agent
//! client and the example agent), so that the README's one test command covers them too.

use std::process::Command;

#[test]
fn python_script_tests_pass() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let output = Command::new("python3")
        .args(["-m", "unittest", "discover", "-s", "scripts/tests"])
        .current_dir(root)
        .output()
        .expect("python3 runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python tests failed:\n{stderr}");
    assert!(stderr.contains("OK"), "{stderr}");
}

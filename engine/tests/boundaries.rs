//! The crate boundaries of docs/ARCHITECTURE.md, checked against the real dependency graph:
//! `engine` and `protocol` pull in no actix, tokio or ZeroMQ crate, `protocol` does not
//! depend on `engine`, and `paper-gateway` depends on neither the engine application
//! (`engine-app`) nor the stress harness (`stress`).

use std::process::Command;

fn dependency_names(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["tree", "--offline", "-p", package, "-e", "normal", "--prefix", "none", "--format", "{p}"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(output.status.success(), "cargo tree failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

const FORBIDDEN: [&str; 9] =
    ["actix", "actix-rt", "tokio", "zmq", "zmq-sys", "zeromq", "mio", "crossbeam-channel", "dashmap"];

#[test]
fn engine_has_no_runtime_or_network_dependencies() {
    let deps = dependency_names("engine");
    assert!(deps.iter().any(|d| d == "protocol"), "sanity: {deps:?}");
    for bad in FORBIDDEN {
        assert!(!deps.iter().any(|d| d == bad), "engine depends on {bad}");
    }
}

#[test]
fn protocol_depends_on_no_engine_and_no_runtime() {
    let deps = dependency_names("protocol");
    assert!(deps.iter().any(|d| d == "bincode"), "sanity: {deps:?}");
    for bad in FORBIDDEN.iter().chain(&["engine", "actors"]) {
        assert!(!deps.iter().any(|d| d == bad), "protocol depends on {bad}");
    }
}

#[test]
fn paper_gateway_depends_on_no_engine_app_and_no_harness() {
    let deps = dependency_names("paper-gateway");
    assert!(deps.iter().any(|d| d == "protocol"), "sanity: {deps:?}");
    for bad in ["engine-app", "stress"] {
        assert!(!deps.iter().any(|d| d == bad), "paper-gateway depends on {bad}");
    }
}

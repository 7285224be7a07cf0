//! End to end over real ZeroMQ and HTTP on 127.0.0.1: the engine's `/healthz`, `/readyz` and
//! `/metrics` during a run, a control change through `/api/control` (refused without the
//! token, applied with it), and the last scrape checked against the run's own summary.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::http_client::{engine_with_http, get, metric, request};
use common::names;

const TOKEN: &str = "http-test-token-0123456789";

fn locks_held(addr: SocketAddr) -> u64 {
    let status: serde_json::Value = serde_json::from_str(&get(addr, "/api/status").body).expect("status JSON");
    status["totals"]["locks_held"].as_u64().expect("locks_held")
}

fn money(m: protocol::Money) -> f64 {
    m.raw() as f64 / 1e8
}

#[test]
fn metrics_during_a_run_match_its_summary() {
    let symbols = names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]);
    let (engine, http) = engine_with_http(TOKEN, 8);

    // Alive at once; ready once reconciled with the gateway.
    let started = Instant::now();
    while std::net::TcpStream::connect(http).is_err() {
        assert!(started.elapsed() < Duration::from_secs(5), "the HTTP server listens");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(get(http, "/healthz").status, 200);
    while get(http, "/readyz").status != 200 {
        assert!(started.elapsed() < Duration::from_secs(5), "ready: {}", get(http, "/readyz").body);
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1_500));
    let during = get(http, "/metrics");
    assert_eq!(during.status, 200);
    assert!(during.body.ends_with("# EOF\n"), "OpenMetrics text ends with # EOF");
    assert!(metric(&during.body, "engine_orders_sent_total{symbol=\"BTCUSD.s\"}").is_some(), "{}", during.body);
    let sent: f64 = symbols
        .iter()
        .filter_map(|s| metric(&during.body, &format!("engine_orders_sent_total{{symbol=\"{s}\"}}")))
        .sum();
    assert!(sent > 0.0, "trading during the run");
    assert_eq!(metric(&during.body, "engine_gateway_up"), Some(1.0));
    assert!(during.body.contains("engine_round_trip_seconds_bucket{le=\"+Inf\"}"), "a round-trip histogram");
    assert!(during.body.contains("# TYPE engine_tick_to_order_seconds histogram"));

    // A change without the token is refused and changes nothing; a malformed one is refused.
    let lock = r#"{"cmd":"set","scope":"global","flag":"global_lock","value":true}"#;
    let refused = request(http, "POST", "/api/control", &[], lock);
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(refused.body.contains("unauthorized"), "{}", refused.body);
    let wrong = request(http, "POST", "/api/control", &[("Authorization", "Bearer not-the-token-0123456789")], lock);
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(get(http, "/readyz").status, 200, "still trading after refused changes");
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str()), ("X-Operator", "metrics-test")];
    let malformed = request(http, "POST", "/api/control", &auth, r#"{"cmd":"set","scope":"all","flag":"x"}"#);
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    let unknown = request(
        http,
        "POST",
        "/api/control",
        &auth,
        r#"{"cmd":"set","scope":"NOPE.s","flag":"entry_enabled","value":false}"#,
    );
    assert_eq!(unknown.status, 422, "{}", unknown.body);

    // With the token: the global lock goes on, readiness says why, and once the orders on
    // the wire are done nothing moves.
    let applied = request(http, "POST", "/api/control", &auth, lock);
    assert_eq!(applied.status, 200, "{}", applied.body);
    let not_ready = get(http, "/readyz");
    assert_eq!(not_ready.status, 503);
    assert!(not_ready.body.contains("global_lock"), "{}", not_ready.body);
    while locks_held(http) > 0 {
        assert!(started.elapsed() < Duration::from_secs(7), "orders on the wire finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let last = get(http, "/metrics").body;
    let status: serde_json::Value = serde_json::from_str(&get(http, "/api/status").body).unwrap();
    let changes = status["recent_changes"].as_array().expect("recent changes");
    assert!(
        changes.iter().any(|c| c["who"] == "metrics-test" && c["ok"] == true),
        "the page lists the change and who made it: {changes:?}"
    );

    let summary = engine.join().expect("engine thread");
    assert!(summary.books_balance(), "books balance");
    for row in &summary.symbols {
        let s = &row.status;
        let series = |name: &str| metric(&last, &format!("{name}{{symbol=\"{}\"}}", s.symbol));
        assert_eq!(series("engine_orders_sent_total"), Some(s.counters.orders as f64), "{} orders", s.symbol);
        assert_eq!(series("engine_fills_total"), Some(s.counters.fills as f64), "{} fills", s.symbol);
        assert_eq!(series("engine_trades_closed_total"), Some(s.counters.trades as f64), "{} trades", s.symbol);
        assert_eq!(series("engine_realized_pnl"), Some(money(s.realized)), "{} realized", s.symbol);
        assert_eq!(series("engine_fees"), Some(money(s.fees)), "{} fees", s.symbol);
        assert_eq!(series("engine_lock_held"), Some(0.0), "{} lock", s.symbol);
    }
    let discrepancies: f64 = last
        .lines()
        .filter(|l| l.starts_with("engine_discrepancies_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(discrepancies, summary.discrepancies.total() as f64);
    assert_eq!(metric(&last, "engine_locks_held"), Some(0.0));
}

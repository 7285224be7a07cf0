//! End to end over real ZeroMQ on 127.0.0.1: engine actors + paper gateway + synthetic feed.
//! Every run must balance exactly against the gateway's ledger.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use common::*;
use engine::registry::generated_symbols;

#[test]
fn three_symbols_trade_and_books_balance_exactly() {
    let s = run(fast_config(&names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"])), 5.0);
    assert!(s.bridge.orders_sent >= 6, "orders flow: {}", s.bridge.orders_sent);
    assert!(s.symbols.iter().all(|r| r.status.counters.orders > 0), "every symbol traded");
    assert_eq!(s.efsm_errors, 0);
    assert_eq!(s.bridge.timeouts, 0);
    assert_books_balance(&s);
}

#[test]
fn fifty_symbols_trade_and_books_balance_exactly() {
    let symbols: Vec<String> = generated_symbols(50).iter().map(|s| s.to_string()).collect();
    let s = run(fast_config(&symbols), 5.0);
    let trading = s.symbols.iter().filter(|r| r.status.counters.orders > 0).count();
    assert_eq!(s.symbols.len(), 50);
    assert!(trading >= 40, "most symbols traded: {trading}");
    assert_eq!(s.efsm_errors, 0);
    assert_books_balance(&s);
}

#[test]
fn json_codec_end_to_end() {
    let mut config = fast_config(&names(&["BTCUSD.s", "ETHUSD.s"]));
    config.codec = protocol::Codec::Json;
    let s = run(config, 4.0);
    assert!(s.bridge.orders_sent > 0);
    assert_eq!(s.bridge.undecodable_frames, 0);
    assert_books_balance(&s);
}

#[test]
fn dropped_replies_time_out_and_resolve_by_status_query() {
    let mut config = fast_config(&names(&["BTCUSD.s", "ETHUSD.s", "XAUUSD.s"]));
    config.drop_reply_rate = 0.3;
    config.order_timeout = std::time::Duration::from_millis(150);
    let s = run(config, 6.0);
    assert!(s.bridge.timeouts > 0, "some orders timed out");
    assert!(s.bridge.queries_sent >= s.bridge.timeouts.min(1), "timeouts were followed by status queries");
    // Every unknown order was resolved by its status query: the books still balance exactly
    // with the gateway, and no order was sent twice (the gateway saw no repeated intent).
    assert_eq!(s.gateway.as_ref().unwrap().counters.duplicate_intents, 0);
    assert!(s.symbols.iter().all(|r| r.status.state != "unknown"), "no order left unknown");
    assert_eq!(s.efsm_errors, 0);
    assert_books_balance(&s);
}

#[test]
fn rejected_orders_leave_no_position_and_count() {
    let mut config = fast_config(&names(&["BTCUSD.s", "ETHUSD.s"]));
    config.reject_rate = 0.4;
    config.risk.breaker.max_consecutive_failures = 1_000;
    let s = run(config, 4.0);
    let rejects: u64 = s.symbols.iter().map(|r| r.status.counters.rejects).sum();
    assert!(rejects > 0, "rejects happened");
    assert_eq!(rejects, s.gateway.as_ref().unwrap().counters.rejects);
    assert_eq!(s.efsm_errors, 0);
    assert_books_balance(&s);
}

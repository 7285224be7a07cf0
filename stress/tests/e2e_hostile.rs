//! Hostile venue: the real engine (in process, JSON codec, three symbols) against
//! scripts/hostile_gateway.py, which hits one victim symbol with one fault once it has sent
//! two orders that were handled normally. A report that contradicts the order it answers is
//! never booked: the victim halts with the named discrepancy code, logged at ERROR, while
//! the other symbols trade on. Duplicated reports and sequence anomalies change nothing. A
//! venue that goes quiet leaves the order Unknown, never re-sent, with no position invented.
//!
//! Every test uses its own symbol names, so that the ERROR lines captured from the process-
//! wide log belong to one test even when tests run in parallel.
#![allow(clippy::unwrap_used)]

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use common::*;
use engine::discrepancy::DiscrepancyCode;
use engine::efsm::{Direction, HaltReason};
use engine::Position;
use engine_app::main_job::{self, JobOptions, JobSummary, SymbolSummary};
use protocol::{Money, Qty, Symbol};

/// How long the engine trades: first contact, two normal victim orders, the fault, and a
/// few more seconds for the other symbols to show they kept trading.
const RUN: Duration = Duration::from_secs(4);
/// The victim's orders handled normally before the fault (the gateway's --after).
const AFTER: u64 = 2;

// ------------------------------------------------------------------------- the gateway

/// One `FAULT key=value ...` line of the gateway: what it did to the victim.
#[derive(Clone, Debug)]
struct FaultLine(HashMap<String, String>);

impl FaultLine {
    fn get(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }
    /// `flat` or `side:qty:cost` → a position.
    fn position(&self, key: &str) -> Option<Position> {
        parse_position(self.get(key))
    }
    /// The venue's fill count of `symbol` when the fault acted.
    fn fills_of(&self, symbol: Symbol) -> u64 {
        self.get("fills")
            .split(',')
            .filter_map(|kv| kv.split_once(':'))
            .find(|(s, _)| *s == symbol.as_str())
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("no fill count for {symbol} in {:?}", self.0))
    }
}

fn key_values(line: &str) -> HashMap<String, String> {
    line.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn parse_position(text: &str) -> Option<Position> {
    if text == "flat" {
        return None;
    }
    let mut parts = text.split(':');
    let (side, qty, cost) = (parts.next(), parts.next(), parts.next());
    let direction = match side {
        Some("buy") => Direction::Long,
        Some("sell") => Direction::Short,
        _ => panic!("not a position: {text:?}"),
    };
    let qty: Qty = qty.and_then(|q| q.parse().ok()).unwrap_or_else(|| panic!("qty in {text:?}"));
    let cost: Money = cost.and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("cost in {text:?}"));
    Some(Position { direction, qty, cost })
}

/// The venue's final ledger line of one symbol (from --dump-ledger).
#[derive(Clone, Copy, Debug)]
struct VenueLine {
    position: Option<Position>,
    fills: u64,
}

/// The gateway as a child process; killed if a test fails before stopping it.
struct GatewayProcess {
    child: Child,
    orders: String,
    market_data: String,
    stdout: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
    dump: PathBuf,
    stderr: PathBuf,
}

/// What the gateway said and booked, once it stopped.
struct GatewayRun {
    faults: Vec<FaultLine>,
    summary: HashMap<String, String>,
    ledger: HashMap<String, VenueLine>,
    stderr_tail: String,
}

impl GatewayProcess {
    fn start(fault: &str, symbols: &[String], victim: &str, seed: u64) -> GatewayProcess {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let tmp = std::env::temp_dir();
        let dump = tmp.join(format!("hostile-{fault}-{}-ledger.json", std::process::id()));
        let stderr = tmp.join(format!("hostile-{fault}-{}-stderr.log", std::process::id()));
        let _ = std::fs::remove_file(&dump);
        let mut child = Command::new("python3")
            .arg(format!("{root}/scripts/hostile_gateway.py"))
            .args(["--orders", "tcp://127.0.0.1:*", "--market-data", "tcp://127.0.0.1:*"])
            .args(["--symbols", &symbols.join(","), "--fault", fault, "--victim", victim])
            .args(["--after", &AFTER.to_string(), "--seed", &seed.to_string(), "--interval-ms", "2..20"])
            // Heartbeats at most as far apart as the engine's (docs/PROTOCOL.md §13.1).
            .args(["--heartbeat-ms", "100", "--duration", "60", "--dump-ledger"])
            .arg(&dump)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("gateway stderr file"))
            .spawn()
            .expect("python3 runs the hostile gateway");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut ready = String::new();
        while !ready.starts_with("READY") {
            ready.clear();
            assert!(lines.read_line(&mut ready).expect("read") > 0, "gateway exited before READY");
        }
        let field = |name: &str| ready.split_whitespace().find_map(|w| w.strip_prefix(name)).expect("endpoint");
        let (orders, market_data) = (field("orders=").to_string(), field("market_data=").to_string());
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stdout);
        let reader = std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        GatewayProcess { child, orders, market_data, stdout, reader: Some(reader), dump, stderr }
    }

    /// SIGTERM (the gateway then dumps its ledger and prints SUMMARY), bounded wait.
    fn stop(mut self) -> GatewayRun {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM)
        };
        let until = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < until, "gateway did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        let lines = self.stdout.lock().unwrap().clone();
        let faults = lines.iter().filter(|l| l.starts_with("FAULT ")).map(|l| FaultLine(key_values(l))).collect();
        let summary = lines.iter().rev().find(|l| l.starts_with("SUMMARY ")).map(|l| key_values(l)).unwrap_or_default();
        let text = std::fs::read_to_string(&self.dump).unwrap_or_default();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        let mut ledger = HashMap::new();
        if let Some(symbols) = json["symbols"].as_object() {
            for (name, line) in symbols {
                let qty = line["qty"].as_str().unwrap_or("0");
                let position = if qty == "0" {
                    None
                } else {
                    parse_position(&format!(
                        "{}:{qty}:{}",
                        line["side"].as_str().unwrap_or(""),
                        line["cost"].as_str().unwrap_or("")
                    ))
                };
                ledger.insert(name.clone(), VenueLine { position, fills: line["fills"].as_u64().unwrap_or(0) });
            }
        }
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let stderr_tail =
            err.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
        GatewayRun { faults, summary, ledger, stderr_tail }
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.dump);
        let _ = std::fs::remove_file(&self.stderr);
    }
}

// ------------------------------------------------------------------------- the log

/// A WARN or ERROR event of the engine, fields as text.
#[derive(Clone, Debug)]
struct LogEvent {
    target: String,
    message: String,
    fields: BTreeMap<String, String>,
}

static LOGS: Mutex<Vec<LogEvent>> = Mutex::new(Vec::new());

struct Capture;

#[derive(Default)]
struct FieldText(BTreeMap<String, String>);

impl tracing::field::Visit for FieldText {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_string(), format!("{value:?}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut text = FieldText::default();
        event.record(&mut text);
        let message = text.0.remove("message").unwrap_or_default();
        let target = event.metadata().target().to_string();
        LOGS.lock().unwrap().push(LogEvent { target, message, fields: text.0 });
    }
}

/// Captures WARN and ERROR events of the whole test process (the symbol actors run on
/// threads of their own, so a thread-local subscriber would miss them).
fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::Layer;
        let subscriber =
            tracing_subscriber::registry().with(Capture.with_filter(tracing_subscriber::filter::LevelFilter::WARN));
        tracing::subscriber::set_global_default(subscriber).expect("the only global subscriber");
    });
}

/// Captured events that name one of `symbols`.
fn logs_of(symbols: &[Symbol]) -> Vec<LogEvent> {
    let names: Vec<&str> = symbols.iter().map(|s| s.as_str()).collect();
    LOGS.lock()
        .unwrap()
        .iter()
        .filter(|e| e.fields.get("symbol").is_some_and(|s| names.contains(&s.as_str())))
        .cloned()
        .collect()
}

// ------------------------------------------------------------------------- one run

struct Hostile {
    fault: &'static str,
    seed: u64,
    summary: JobSummary,
    gateway: GatewayRun,
    victim: Symbol,
    others: Vec<Symbol>,
    logs: Vec<LogEvent>,
}

/// Runs the engine for [`RUN`] against the hostile gateway: `tag` names this test's symbols.
fn hostile_run(fault: &'static str, tag: &str, seed: u64) -> Hostile {
    capture_logs();
    let names: Vec<String> = ["V", "A", "B"].iter().map(|s| format!("{tag}{s}.s")).collect();
    let gateway = GatewayProcess::start(fault, &names, &names[0], seed);
    let mut config = fast_config(&names);
    config.codec = protocol::Codec::Json;
    config.gateway = Some(gateway.orders.clone());
    config.market_data = Some(gateway.market_data.clone());
    let summary = main_job::run(JobOptions::new(config, Some(RUN))).expect("job runs");
    let gateway = gateway.stop();
    let symbols: Vec<Symbol> = names.iter().map(|n| Symbol::new(n).expect("symbol")).collect();
    let logs = logs_of(&symbols);
    let run = Hostile { fault, seed, summary, gateway, victim: symbols[0], others: symbols[1..].to_vec(), logs };
    assert!(
        run.gateway.summary.get("fired").is_some_and(|n| n != "0"),
        "{fault}: the fault never acted (the victim did not trade {AFTER} orders in time?)\n{}",
        run.context()
    );
    run
}

impl Hostile {
    fn row(&self, symbol: Symbol) -> &SymbolSummary {
        self.summary.symbols.iter().find(|r| r.status.symbol == symbol).expect("symbol in the summary")
    }

    fn victim(&self) -> &SymbolSummary {
        self.row(self.victim)
    }

    fn last_fault(&self) -> &FaultLine {
        self.gateway.faults.last().unwrap_or_else(|| panic!("{}: no FAULT line\n{}", self.fault, self.context()))
    }

    fn venue(&self, symbol: Symbol) -> VenueLine {
        *self.gateway.ledger.get(symbol.as_str()).unwrap_or_else(|| panic!("no ledger line for {symbol}"))
    }

    fn gateway_summary(&self, key: &str) -> u64 {
        self.gateway.summary.get(key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("SUMMARY has no {key}"))
    }

    /// Everything worth seeing when an assertion fails.
    fn context(&self) -> String {
        let rows: Vec<String> = self
            .summary
            .symbols
            .iter()
            .map(|r| {
                let s = &r.status;
                format!(
                    "  {} state={} halt={:?} orders={} fills={} dup_fills={} timeouts={} position={:?} discrepancies={} venue_agrees={:?}",
                    s.symbol,
                    s.state,
                    s.halt_reason.map(|h| h.as_str()),
                    s.counters.orders,
                    s.counters.fills,
                    s.counters.duplicate_fills,
                    s.counters.timeouts,
                    s.position,
                    s.discrepancies.total(),
                    s.venue_agrees
                )
            })
            .collect();
        let faults: Vec<String> = self.gateway.faults.iter().map(|f| format!("  {:?}", f.0)).collect();
        format!(
            "fault {} (gateway --seed {})\nengine:\n{}\nbridge: {:?}\ngateway faults:\n{}\ngateway summary: {:?}\ngateway stderr (tail):\n{}",
            self.fault,
            self.seed,
            rows.join("\n"),
            self.summary.bridge,
            faults.join("\n"),
            self.gateway.summary,
            self.gateway.stderr_tail
        )
    }

    /// The victim halted for `code`, logged it at ERROR, and booked none of the lies.
    fn assert_discrepancy(&self, code: DiscrepancyCode, times: u64) {
        let ctx = self.context();
        let v = &self.victim().status;
        assert_eq!(v.halt_reason, Some(HaltReason::Discrepancy(code)), "victim halted with {code}\n{ctx}");
        assert!(v.is_halted(), "{ctx}");
        assert_eq!(v.discrepancies.get(code), times, "{code} counted {times}x\n{ctx}");
        assert_eq!(v.discrepancies.total(), times, "no other discrepancy\n{ctx}");
        assert_eq!(self.summary.discrepancies.get(code), times, "the run's summary counts it\n{ctx}");
        let logged = self
            .logs
            .iter()
            .filter(|e| {
                e.target == "symbol"
                    && e.message.starts_with("DISCREPANCY")
                    && e.fields.get("symbol").is_some_and(|s| s == self.victim.as_str())
                    && e.fields.get("code").is_some_and(|c| c == code.as_str())
            })
            .count() as u64;
        assert_eq!(logged, times, "one DISCREPANCY line per lie, with symbol and code\n{ctx}");
        // The order and the report side by side on that line.
        let line = self.logs.iter().find(|e| e.message.starts_with("DISCREPANCY")).expect("a DISCREPANCY line");
        for field in ["asked_side", "asked_qty", "report_side", "report_last_qty", "report_last_px", "report_exec_id"] {
            assert!(line.fields.contains_key(field), "DISCREPANCY line has {field}: {line:?}");
        }

        // Never booked: the victim holds what the honest reports give, not what the lies give.
        let fault = self.last_fault();
        let (honest, lie) = (fault.position("honest"), fault.position("lie"));
        assert_ne!(honest, lie, "the fault makes a difference ({fault:?})");
        assert_eq!(v.position, honest, "victim booked only the reports that match its orders\n{ctx}");
        assert_ne!(v.position, lie, "victim did not book the contradicting report\n{ctx}");
        // The venue booked what it reported, so it disagrees, and the run says so.
        assert_eq!(v.venue_agrees, Some(false), "the snapshot asked after the discrepancy disagrees\n{ctx}");
        assert_eq!(self.victim().position_matches(), Some(false), "{ctx}");
        assert!(self.summary.position_mismatches().contains(&self.victim), "{ctx}");
        assert!(!self.summary.books_balance(), "books cannot balance with a venue that booked a lie\n{ctx}");
        assert_eq!(
            self.gateway_summary("victim_orders_after"),
            0,
            "the halted victim sent no order after the lie\n{ctx}"
        );

        self.assert_others_kept_trading();
        self.assert_clean_engine();
        assert_eq!(self.summary.bridge.locks_acquired, self.summary.bridge.locks_released, "{ctx}");
        assert_eq!(self.summary.bridge.locks_held, 0, "{ctx}");
    }

    /// The other symbols were not halted, traded after the fault, and agree with the venue.
    fn assert_others_kept_trading(&self) {
        let ctx = self.context();
        let fault = &self.gateway.faults[0];
        for &s in &self.others {
            let row = self.row(s);
            assert!(row.status.counters.orders > 0, "{s} traded\n{ctx}");
            assert_eq!(row.status.halt_reason, None, "{s} not halted\n{ctx}");
            assert_eq!(row.status.discrepancies.total(), 0, "{ctx}");
            assert!(self.venue(s).fills > fault.fills_of(s), "{s} kept trading after the fault\n{ctx}");
            self.assert_agrees_with_venue(s);
        }
    }

    /// Position equal to the venue's final ledger, fill for fill, and net PnL equal.
    fn assert_agrees_with_venue(&self, s: Symbol) {
        let ctx = self.context();
        let row = self.row(s);
        let venue = self.venue(s);
        assert_eq!(row.status.position, venue.position, "{s}: position equals the venue's\n{ctx}");
        assert_eq!(row.status.counters.fills, venue.fills, "{s}: every venue fill booked once\n{ctx}");
        assert_eq!(row.position_matches(), Some(true), "{s}\n{ctx}");
        assert_eq!(row.gateway_net, Some(row.folded_net), "{s}: net PnL equals the venue's\n{ctx}");
    }

    fn assert_clean_engine(&self) {
        let ctx = self.context();
        assert_eq!(self.summary.efsm_errors, 0, "{ctx}");
        assert_eq!(self.summary.metrics.total_net, self.summary.metrics.sum_symbol_net, "{ctx}");
        assert_eq!(self.summary.metrics.inconsistencies, 0, "{ctx}");
        assert_eq!(self.summary.bridge.undecodable_frames, 0, "{ctx}");
        assert_eq!(self.summary.bridge.session_rejects, 0, "{ctx}");
    }

    /// Harmless faults: nothing halted, nothing mis-booked, books balance with the venue.
    fn assert_harmless(&self) {
        let ctx = self.context();
        for row in &self.summary.symbols {
            let s = row.status.symbol;
            assert_eq!(row.status.halt_reason, None, "{s} not halted\n{ctx}");
            assert_eq!(row.status.discrepancies.total(), 0, "{s}: no discrepancy\n{ctx}");
            self.assert_agrees_with_venue(s);
        }
        assert!(self.gateway_summary("fired") >= 1, "{ctx}");
        assert!(self.victim().status.counters.orders > AFTER, "the victim traded through the fault\n{ctx}");
        assert!(self.summary.books_balance(), "BOOKS BALANCE\n{ctx}");
        assert_books_balance(&self.summary);
        self.assert_others_kept_trading();
        self.assert_clean_engine();
    }
}

// ------------------------------------------------------------------------- discrepancies

#[test]
fn wrong_side_fill_is_not_booked_and_halts_the_victim() {
    let run = hostile_run("wrong_side", "WS", 11);
    run.assert_discrepancy(DiscrepancyCode::WrongSide, 1);
}

#[test]
fn overfill_books_only_the_ordered_quantity_and_halts_the_victim() {
    let run = hostile_run("overfill", "OF", 12);
    run.assert_discrepancy(DiscrepancyCode::Overfill, 1);
}

#[test]
fn fill_after_the_terminal_fill_is_not_booked_and_halts_the_victim() {
    let run = hostile_run("fill_after_terminal", "FT", 13);
    run.assert_discrepancy(DiscrepancyCode::FillAfterTerminal, 1);
}

#[test]
fn fills_for_an_intent_never_sent_are_never_booked_even_twice() {
    let run = hostile_run("unknown_intent", "UI", 14);
    assert_eq!(run.gateway.faults.len(), 2, "two spontaneous fills\n{}", run.context());
    run.assert_discrepancy(DiscrepancyCode::UnknownIntent, 2);
}

#[test]
fn absurd_price_fill_is_not_booked_and_halts_only_the_victim() {
    let run = hostile_run("absurd_price", "AP", 15);
    run.assert_discrepancy(DiscrepancyCode::PriceOutOfBand, 1);
    // The 1000x loss never reached the book, so no drawdown could stop the others.
    let v = &run.victim().status;
    let net = v.realized.checked_sub(v.fees).expect("net");
    assert!(net.raw().abs() < 1_000 * 100_000_000, "victim net {net} shows no 1000x fill\n{}", run.context());
}

// ------------------------------------------------------------------------- harmless faults

#[test]
fn duplicate_exec_ids_are_booked_once() {
    let run = hostile_run("duplicate_exec_id", "DX", 16);
    run.assert_harmless();
    let v = &run.victim().status;
    // Each falsified order's fill came twice more (at once and 0.3 s later).
    assert!(v.counters.duplicate_fills >= 2, "the duplicates arrived and were ignored\n{}", run.context());
}

#[test]
fn duplicated_sequence_numbers_are_harmless() {
    let run = hostile_run("seq_dup", "SD", 17);
    run.assert_harmless();
    assert!(run.victim().status.counters.duplicate_fills >= 1, "{}", run.context());
    assert!(run.summary.bridge.seq_repeats >= 1, "repeated seq counted\n{}", run.context());
}

#[test]
fn skipped_sequence_numbers_are_harmless() {
    let run = hostile_run("seq_gap", "SG", 18);
    run.assert_harmless();
    assert!(run.summary.bridge.seq_gaps >= 1, "gaps counted\n{}", run.context());
}

// ------------------------------------------------------------------------- a quiet venue

/// Locks: every one acquired is released or still held by an unanswered request.
fn assert_locks_accounted(run: &Hostile, at_most_held: usize) {
    let b = &run.summary.bridge;
    let ctx = run.context();
    assert_eq!(b.locks_acquired, b.locks_released + b.locks_held as u64, "{ctx}");
    assert!(b.locks_held <= at_most_held, "{ctx}");
}

/// No NewOrder on the wire beyond those the symbols decided (a timeout never re-sends).
fn assert_wire_orders_bounded(run: &Hostile) {
    let decided: u64 = run.summary.symbols.iter().map(|r| r.status.counters.orders).sum();
    assert!(run.summary.bridge.orders_sent <= decided, "{}", run.context());
}

#[test]
fn silent_venue_leaves_the_order_unknown_and_never_resent() {
    let run = hostile_run("silence", "SI", 19);
    let ctx = run.context();
    let fault = run.last_fault();
    let v = &run.victim().status;
    assert_eq!(run.gateway.faults.len(), 1, "one order went unanswered\n{ctx}");
    assert_eq!(run.gateway_summary("resent_intents"), 0, "no NewOrder re-sent\n{ctx}");
    assert_eq!(v.counters.orders, AFTER + 1, "no order after the unanswered one\n{ctx}");
    assert!(v.counters.timeouts >= 1 && run.summary.bridge.timeouts >= 1, "timeouts counted\n{ctx}");
    assert_eq!(v.state, "unknown", "{ctx}");
    assert_eq!(v.order_in_flight.map(|i| i.0.to_string()), Some(fault.get("intent").to_string()), "{ctx}");
    assert!(run.summary.bridge.queries_sent >= 1, "the engine asked for the order's status\n{ctx}");
    // No position invented: what the venue holds (it executed nothing more).
    assert_eq!(v.position, run.venue(run.victim).position, "{ctx}");
    assert_eq!(v.position, fault.position("honest"), "{ctx}");
    assert_eq!(v.discrepancies.total(), 0, "{ctx}");
    assert_wire_orders_bounded(&run);
    run.assert_others_kept_trading();
    run.assert_clean_engine();
    assert_locks_accounted(&run, 1);
}

#[test]
fn heartbeat_only_venue_leaves_at_most_one_order_per_symbol_unknown() {
    let run = hostile_run("heartbeat_only", "HB", 20);
    let ctx = run.context();
    let muted_at = run.last_fault();
    let b = &run.summary.bridge;
    assert!(b.timeouts >= 1, "timeouts counted\n{ctx}");
    assert!(run.gateway_summary("muted") >= 1, "the engine kept talking to a gateway that only heartbeats\n{ctx}");
    for row in &run.summary.symbols {
        let (s, st) = (row.status.symbol, &row.status);
        // Every order before the mute was filled; after it, at most one order per symbol,
        // never re-sent, left Unknown.
        let answered = muted_at.fills_of(s);
        assert!(st.counters.orders <= answered + 1, "{s}: one order in flight at most\n{ctx}");
        if st.counters.orders == answered + 1 {
            assert_eq!(st.state, "unknown", "{s}: its unanswered order is Unknown\n{ctx}");
            assert!(st.counters.timeouts >= 1, "{s}\n{ctx}");
        }
        // No position invented: the venue executed nothing after the mute.
        let venue = run.venue(s);
        assert_eq!(venue.fills, answered, "{s}: the venue executed nothing more\n{ctx}");
        assert_eq!(st.position, venue.position, "{s}: no position invented\n{ctx}");
        assert_eq!(st.counters.fills, venue.fills, "{ctx}");
        assert_eq!(st.discrepancies.total(), 0, "{ctx}");
    }
    assert_eq!(run.victim().status.counters.orders, AFTER + 1, "{ctx}");
    assert_eq!(run.victim().status.state, "unknown", "{ctx}");
    assert_wire_orders_bounded(&run);
    run.assert_clean_engine();
    assert_locks_accounted(&run, run.summary.symbols.len());
}

// ------------------------------------------------------------------------- recovery

/// The victim's row in `engine ctl status`.
fn status_row(endpoint: &str, auth: &::actors::control::Credentials, symbol: Symbol) -> serde_json::Value {
    let reply = ::actors::control::client_request(
        endpoint,
        &::actors::control::ControlRequest::Status,
        auth,
        Duration::from_secs(3),
    )
    .expect("status reply");
    reply.status.unwrap_or_default().into_iter().find(|r| r["symbol"] == symbol.as_str()).unwrap_or_default()
}

#[test]
fn an_operator_adopts_the_venue_resumes_and_the_books_balance() {
    use ::actors::control::{client_request, ControlRequest, ControlSettings, ControlToken, Credentials};
    capture_logs();
    let names: Vec<String> = ["RCV.s", "RCA.s", "RCB.s"].iter().map(|s| s.to_string()).collect();
    let victim = Symbol::new(&names[0]).expect("symbol");
    let gateway = GatewayProcess::start("wrong_side", &names, &names[0], 21);
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let token = ControlToken::new("recovery-test-token-0123456789").expect("token");
    let mut config = fast_config(&names);
    config.codec = protocol::Codec::Json;
    config.gateway = Some(gateway.orders.clone());
    config.market_data = Some(gateway.market_data.clone());
    config.control = Some(ControlSettings { bind: endpoint.clone(), token: Some(token.clone()) });
    let job = std::thread::spawn(move || main_job::run(JobOptions::new(config, Some(Duration::from_secs(8)))));
    let auth = Credentials { token: Some(token), who: Some("e2e-operator".into()) };

    let until = Instant::now() + Duration::from_secs(6);
    let mut row = serde_json::Value::Null;
    while Instant::now() < until {
        row = status_row(&endpoint, &auth, victim);
        // Halted on the lie, and the snapshot the halt asked for has been compared (until
        // it arrives, `venue_agrees` is still the verdict of the snapshot before the lie).
        if row["halt_reason"] == "WRONG_SIDE" && row["venue_agrees"] == false {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(row["halt_reason"], "WRONG_SIDE", "the victim halted on the lie: {row}");
    assert_eq!(row["venue_agrees"], false, "its books differ from the venue: {row}");
    let request = |r: ControlRequest| client_request(&endpoint, &r, &auth, Duration::from_secs(3)).expect("reply");

    let early = request(ControlRequest::Resume { symbol: victim });
    assert!(!early.ok && early.error.as_deref().is_some_and(|e| e.contains("adopt")), "resume before adopt: {early:?}");
    let adopted = request(ControlRequest::Adopt { symbol: victim });
    assert!(adopted.ok, "adopt: {adopted:?}");
    let resumed = request(ControlRequest::Resume { symbol: victim });
    assert!(resumed.ok, "resume: {resumed:?}");
    let orders_at_resume = status_row(&endpoint, &auth, victim)["orders"].as_u64().unwrap_or(0);

    let summary = job.join().expect("job thread").expect("job runs");
    let gateway = gateway.stop();
    let row = summary.symbols.iter().find(|r| r.status.symbol == victim).expect("victim row");
    assert_eq!(row.status.halt_reason, None, "trading again at the end: {:?}", row.status);
    assert!(row.status.counters.orders > orders_at_resume, "the victim traded after resume");
    assert_eq!(summary.discrepancies.get(DiscrepancyCode::WrongSide), 1);
    assert!(summary.position_mismatches().is_empty(), "every position equals the venue's");
    assert!(summary.books_balance(), "books balance after the operator's recovery");
    assert_books_balance(&summary);
    let venue = gateway.ledger.get(victim.as_str()).expect("venue line");
    assert_eq!(row.status.position, venue.position, "the victim holds what the venue holds");
    let operator_lines: Vec<LogEvent> = logs_of(&[victim])
        .into_iter()
        .filter(|e| {
            e.message.starts_with("OPERATOR_COMMAND: done")
                && e.fields.get("who").is_some_and(|w| w.contains("e2e-operator"))
        })
        .collect();
    assert_eq!(operator_lines.len(), 2, "adopt and resume logged with who asked: {operator_lines:?}");
}

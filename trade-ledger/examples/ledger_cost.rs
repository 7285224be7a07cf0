//! What the trade ledger's writer costs per row: writes `--orders N` synthetic round trips
//! (an order, its fill, and a closed trade every second fill) over `--symbols S` symbols
//! through the real writer thread, handed over as a shard's outbox does (a batch every
//! millisecond, at `--rate` orders per second), then prints the process's CPU time per row
//! (the writer's thread is nearly all of it).
//!
//! `cargo run --release -p trade-ledger --example ledger_cost -- --symbols 10000 --orders 200000 --rate 20000`
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool: a failure is the answer

use std::time::{Duration, Instant};

use engine::efsm::{Direction, ExitReason};
use engine::symbol_core::{OrderPurpose, OrderRequest};
use engine::trade::{BookedFill, CloseReason, ClosedTrade, DecidedBy};
use protocol::*;
use trade_ledger::{LedgerRow, LedgerWriter};

/// The value of `--name N`, or `default`; a value that is not a positive whole number ends
/// the run with a message naming the flag.
fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    let Some(text) = args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)) else { return default };
    match text.parse::<u64>() {
        Ok(n) if n > 0 => n,
        _ => {
            eprintln!("ledger_cost: {name} {text}: expected a positive whole number");
            std::process::exit(2);
        }
    }
}

fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    #[allow(unsafe_code)]
    // SAFETY: getrusage writes one rusage into the pointer it is given, which is valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn main() {
    let (symbols, orders, rate) = (arg("--symbols", 10_000), arg("--orders", 200_000), arg("--rate", 20_000));
    let per_ms = (rate / 1_000).max(1);
    let dir = std::env::temp_dir().join(format!("ledger-cost-{}", std::process::id()));
    let path = dir.join("trades.sqlite");
    let writer = LedgerWriter::start(&path, "ledger-cost", 1).unwrap();
    let sender = writer.sender();
    let names: Vec<Symbol> = (0..symbols).map(|i| Symbol::new(&format!("SYM{i:05}")).unwrap()).collect();
    let qty: Qty = "0.01".parse().unwrap();
    let price: Price = "100.25".parse().unwrap();
    let fee: Money = "0.01".parse().unwrap();
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut rows = 0u64;
    let mut batch = Vec::new();
    for i in 0..orders {
        let symbol = names[(i % symbols) as usize];
        let seq = i / symbols / 2 + 1;
        let side = if (i / symbols) % 2 == 0 { Side::Buy } else { Side::Sell };
        let at = 1_767_225_600_000_000_000 + i * 1_000;
        batch.push(LedgerRow::Order(OrderRequest {
            intent_id: IntentId(i + 1),
            symbol,
            side,
            qty,
            ord_type: OrdType::Market,
            limit_price: None,
            purpose: if side == Side::Buy {
                OrderPurpose::Entry(Direction::Long)
            } else {
                OrderPurpose::Exit(ExitReason::Strategy)
            },
            placed_at: at,
        }));
        batch.push(LedgerRow::Fill(BookedFill {
            symbol,
            trade_seq: seq,
            exec_id: ExecId(i + 1),
            intent_id: IntentId(i + 1),
            side,
            qty,
            price,
            fee,
            realized: Money::ZERO,
            at,
        }));
        rows += 2;
        if side == Side::Sell {
            batch.push(LedgerRow::Trade(ClosedTrade {
                symbol,
                trade_seq: seq,
                direction: Direction::Long,
                qty,
                entry_at: at - 1_000,
                exit_at: at,
                entry_price: price,
                exit_price: Some(price),
                realized: Money::ZERO,
                fees: fee,
                reason: CloseReason::Exit(ExitReason::Strategy),
                entry_intent: Some(IntentId(i)),
                exit_intent: Some(IntentId(i + 1)),
                decided_by: DecidedBy::Strategy("zscore"),
                fills: 2,
            }));
            rows += 1;
        }
        // One hand-off per millisecond of orders, paced to the rate.
        if (i + 1) % per_ms == 0 {
            sender.send(std::mem::take(&mut batch));
            let due = t0 + Duration::from_micros((i + 1) * 1_000_000 / rate);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
    }
    sender.send(batch);
    drop(sender);
    let report = writer.finish(Duration::from_secs(600));
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    println!(
        "symbols {symbols} orders {orders} at {rate}/s: rows {rows} written {} in {} transactions; {:.2} us CPU per row ({:.2} s CPU, {:.2} s wall, {:.0} % of a core)",
        report.rows_written,
        report.transactions,
        cpu * 1e6 / rows as f64,
        cpu,
        wall,
        cpu * 100.0 / wall
    );
    let _ = std::fs::remove_dir_all(&dir);
}

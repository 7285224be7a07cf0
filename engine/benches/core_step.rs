//! The per-tick core step and the PnL fold.
//!
//! - `core_step/on_tick`: one `SymbolCore` with the z-score strategy, fed recorded
//!   BTCUSD.s ticks. No execution report ever comes back, so after the first entry the
//!   symbol waits in `EntryPending`: the common "no action" tick path.
//! - `core_step/on_tick_with_fills`: the same, but every `PlaceOrder` is answered at once
//!   with a full fill (`on_report`), so whole entry → open → exit → flat cycles run.
//! - `ledger/fold`: folding `PnlDelta`s of 100 symbols, round-robin, into a `PnlLedger`.
//!
//! Run with `cargo bench -p engine --bench core_step`. Runs are kept short (1 s warm-up,
//! 3 s measurement, 30 samples) because the bench machine is shared.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use engine::clock::{TimeNs, NS_PER_MS, NS_PER_SEC};
use engine::feed::{IntervalMs, SyntheticFeed};
use engine::registry::{default_model, default_order_qty, generated_symbols};
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::strategy::zscore::{ZScore, ZScoreConfig};
use engine::strategy::IntentTemplate;
use engine::symbol_core::{Action, CoreConfig, OrderRequest, SymbolCore};
use engine::{ExitRules, PnlDelta, PnlLedger};
use protocol::{ExecId, ExecReport, ExecType, Money, OrdStatus, OrderId, Ppm, Qty, RejectCode, Side, Symbol, Tick};

/// Recorded ticks replayed (cyclically) by the core-step benches.
const TICKS: usize = 100_000;
/// Simulated time between two ticks fed to the core.
const TICK_STEP_NS: u64 = 10 * NS_PER_MS;
const FEED_SEED: u64 = 42;
/// Symbols in the ledger bench.
const LEDGER_SYMBOLS: usize = 100;

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3)).sample_size(30)
}

fn btc() -> Symbol {
    Symbol::new("BTCUSD.s").expect("valid symbol")
}

fn recorded_ticks(symbol: Symbol, n: usize) -> Vec<Tick> {
    let mut feed = SyntheticFeed::new(&[default_model(symbol)], FEED_SEED, IntervalMs::default());
    let mut ts = NS_PER_SEC;
    (0..n)
        .map(|_| {
            let (tick, delay) = feed.next_tick(0, ts).expect("symbol 0 exists");
            ts += delay;
            tick
        })
        .collect()
}

fn zscore(symbol: Symbol) -> ZScore {
    ZScore::new(ZScoreConfig {
        window: 50,
        entry_z: 2.0,
        exit_z: 0.5,
        template: IntentTemplate {
            qty: default_order_qty(symbol),
            exits: ExitRules {
                take_profit: Some(Ppm(2_000)),
                stop_loss: Some(Ppm(2_000)),
                trailing: None,
                max_hold_secs: Some(30),
                cooldown_secs: 1,
            },
        },
    })
}

/// One symbol's core fed from the recorded ticks, cycling through them forever with a
/// gap-free `md_seq` and a clock that advances `TICK_STEP_NS` per tick.
struct Replay {
    ticks: Vec<Tick>,
    next: usize,
    md_seq: u64,
    now: TimeNs,
    risk: PortfolioRisk,
    core: SymbolCore,
    exec_id: u64,
    fills_sent: u64,
}

impl Replay {
    fn new(ticks: Vec<Tick>) -> Replay {
        let symbol = ticks[0].symbol;
        let risk = PortfolioRisk::new(RiskConfig::default(), 1);
        let core = SymbolCore::new(CoreConfig::new(symbol), Box::new(zscore(symbol)), &risk);
        Replay { ticks, next: 0, md_seq: 0, now: NS_PER_SEC, risk, core, exec_id: 0, fills_sent: 0 }
    }

    /// The next tick, re-sequenced and re-stamped so it is never stale or out of order.
    #[inline]
    fn next_tick(&mut self) -> Tick {
        let mut tick = self.ticks[self.next];
        self.next += 1;
        if self.next == self.ticks.len() {
            self.next = 0;
        }
        self.md_seq += 1;
        self.now += TICK_STEP_NS;
        tick.md_seq = self.md_seq;
        tick.ts_ns = self.now;
        tick
    }

    /// One core step: a tick in, actions out.
    #[inline]
    fn step(&mut self) -> Vec<Action> {
        let tick = self.next_tick();
        self.core.on_tick(black_box(&tick), self.now, &self.risk)
    }

    /// One core step, then an immediate full fill for every order it placed.
    #[inline]
    fn step_with_fills(&mut self) -> usize {
        let tick = self.next_tick();
        let actions = self.core.on_tick(black_box(&tick), self.now, &self.risk);
        let mut emitted = actions.len();
        for action in &actions {
            if let Action::PlaceOrder(order) = action {
                let report = self.fill(order, &tick);
                let effects = self.core.on_report(black_box(&report), self.now, &self.risk);
                emitted += effects.len();
                black_box(effects);
            }
        }
        black_box(actions);
        emitted
    }

    /// A complete fill of `order` at the touch of `tick`.
    fn fill(&mut self, order: &OrderRequest, tick: &Tick) -> ExecReport {
        self.exec_id += 1;
        self.fills_sent += 1;
        ExecReport {
            intent_id: order.intent_id,
            order_id: OrderId(self.exec_id),
            exec_id: ExecId(self.exec_id),
            symbol: order.symbol,
            side: order.side,
            exec_type: ExecType::Fill,
            ord_status: OrdStatus::Filled,
            last_qty: order.qty,
            last_px: match order.side {
                Side::Buy => tick.ask,
                Side::Sell => tick.bid,
            },
            cum_qty: order.qty,
            leaves_qty: Qty::ZERO,
            fee: Money::ZERO,
            reject_code: RejectCode::None,
            reject_text: String::new(),
            poss_dup: false,
            transact_ns: self.now,
        }
    }

    fn summary(&self, name: &str) {
        let c = self.core.counters();
        eprintln!(
            "{name}: ticks {} orders {} fills {} trades {} (wins {} losses {}) refusals {} \
             md_gaps {} out_of_order {} efsm_errors {} state {} fills_sent {}",
            c.ticks,
            c.orders,
            c.fills,
            c.trades,
            c.wins,
            c.losses,
            c.refusals,
            c.md_gaps,
            c.md_out_of_order,
            self.core.efsm_errors(),
            self.core.state().name(),
            self.fills_sent,
        );
    }
}

fn core_step(c: &mut Criterion) {
    let ticks = recorded_ticks(btc(), TICKS);
    let mut group = c.benchmark_group("core_step");
    group.throughput(Throughput::Elements(1));

    let mut idle = Replay::new(ticks.clone());
    group.bench_function("on_tick", |b| b.iter(|| idle.step()));
    idle.summary("core_step/on_tick");
    let counters = idle.core.counters();
    assert_eq!(counters.md_gaps + counters.md_out_of_order, 0, "the replay must stay in sequence");

    let mut cycling = Replay::new(ticks);
    group.bench_function("on_tick_with_fills", |b| b.iter(|| cycling.step_with_fills()));
    cycling.summary("core_step/on_tick_with_fills");
    let counters = cycling.core.counters();
    assert_eq!(counters.md_gaps + counters.md_out_of_order, 0, "the replay must stay in sequence");
    assert!(counters.trades > 0, "the fill loop must close trades");
    assert_eq!(cycling.core.efsm_errors(), 0, "the fill loop must follow the EFSM");

    group.finish();
}

/// Deltas of many symbols, round-robin, each symbol's `seq` +1 per delta.
struct DeltaStream {
    symbols: Vec<Symbol>,
    seqs: Vec<u64>,
    next: usize,
}

impl DeltaStream {
    fn new(n: usize) -> DeltaStream {
        let symbols = generated_symbols(n);
        assert_eq!(symbols.len(), n);
        DeltaStream { seqs: vec![0; n], symbols, next: 0 }
    }

    #[inline]
    fn next_delta(&mut self) -> PnlDelta {
        let i = self.next;
        self.next = if i + 1 == self.symbols.len() { 0 } else { i + 1 };
        self.seqs[i] += 1;
        let seq = self.seqs[i];
        // Alternate opening fills (no PnL) and closing fills (a small win or loss), so
        // totals stay far from overflow however long the bench runs.
        let closing = seq & 1 == 0;
        let realized = if !closing {
            Money::ZERO
        } else if seq & 3 == 0 {
            Money::from_raw_signed(1_250_000)
        } else {
            Money::from_raw_signed(-1_000_000)
        };
        let fee = Money::from_raw_signed(2_500);
        PnlDelta {
            symbol: self.symbols[i],
            seq,
            realized,
            fee,
            closed_trade: closing.then(|| Money::from_raw_signed(realized.raw() - 2 * fee.raw())),
            exposure_after: if closing { Money::ZERO } else { Money::from_raw_signed(10_000_000_000) },
        }
    }
}

fn ledger(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(1));
    let mut stream = DeltaStream::new(LEDGER_SYMBOLS);
    let mut ledger = PnlLedger::default();
    group.bench_function("fold", |b| {
        b.iter(|| {
            let delta = stream.next_delta();
            ledger.fold(black_box(&delta))
        })
    });
    group.finish();
    eprintln!(
        "ledger/fold: folds {} duplicates {} gaps {} symbols {} total_net {}",
        ledger.folds(),
        ledger.duplicates(),
        ledger.gaps(),
        ledger.symbols().count(),
        ledger.total_net(),
    );
    assert_eq!(ledger.duplicates() + ledger.gaps(), 0, "every delta must apply in order");
    assert!(ledger.is_consistent());
}

criterion_group! {
    name = benches;
    config = config();
    targets = core_step, ledger
}
criterion_main!(benches);

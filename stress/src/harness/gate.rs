//! The stress gate: every criterion with its measured value, threshold and verdict.
//!
//! A gate that cannot fail proves nothing, so it asks two questions: did nothing go wrong
//! (criteria 1–5, 9, 10), and was anything tested at all (criteria 6–8).
//!
//! 1. locks balanced: every ACQUIRE released, no orphan, no per-symbol overlap (from the log);
//! 2. no EFSM errors (with faults too: timeouts, rejects, dropped replies and restarts are
//!    all legal EFSM paths, so none of them may produce one);
//! 3. total PnL (folded) == sum of per-symbol PnL (books) == gateway ledger, exactly, and
//!    every PnL delta folded exactly once (no gap, duplicate, error or inconsistent fold);
//! 4. no tick or fill lost: ticks published == received == taken by the symbols, fills at
//!    the gateway == fills booked (a restart loses the ticks published while the engine
//!    reconnects: an expected, documented path, reported but not gated);
//! 5. paced runs: the gateway's real per-symbol tick interval stayed under 50 ms;
//! 6. `orders_sent`: at least one order went out. The rule, whatever the strategy: a run
//!    that sent no order tested no order path (locks, EFSM, fills, PnL fold), so its other
//!    criteria pass vacuously and the gate fails it. Churn enters on the first tick of a flat
//!    symbol, so a churn run that took a tick and sent nothing is broken. Z-score and
//!    breakout first fill their window (`window` ticks per symbol) and then trade only on a
//!    signal: a run whose busiest symbol never filled its window was too short to warm up,
//!    and one that warmed up and never signalled was too short to show anything (or the
//!    strategy is broken). Neither is exempt: a short run is not a passing run. The value
//!    names which case it was, so the fix (a longer run, or churn) is obvious;
//! 7. `fills_booked`: at least one fill was booked. A run whose every order was rejected
//!    (`--reject-rate 1.0`) or lost never exercised the fill path;
//! 8. `orders_answered`: when orders went out, at least one got its final report before its
//!    deadline (the round trip has n > 0). A run where every order timed out (a latency
//!    above the order timeout) only tested the timeout path;
//! 9. `timeouts`: no order timed out unless a fault that delays or loses replies was
//!    injected (`--drop-reply-rate`, `--latency-ms`, `--restart-at`); with one, timeouts are
//!    expected and only reported. Rejects do not excuse timeouts: a reject is an answer;
//! 10. `positions_match`: every symbol's final position (side, qty, cost basis) equals the
//!     venue's in the final snapshot; a symbol missing from the snapshot is a mismatch too.

use protocol::Money;

use super::audit::LockAudit;
use super::StressOptions;
use engine_app::config::StrategyChoice;
use engine_app::main_job::JobSummary;

#[derive(Clone, Debug, serde::Serialize)]
pub struct Criterion {
    pub name: String,
    pub value: String,
    pub threshold: String,
    pub pass: bool,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Gate {
    pub criteria: Vec<Criterion>,
    pub pass: bool,
}

impl Gate {
    pub fn failures(&self) -> Vec<&str> {
        self.criteria.iter().filter(|c| !c.pass).map(|c| c.name.as_str()).collect()
    }
}

/// The figures of a run that the gate judges, gathered from the engine's summary, the log
/// audit and the gateway's ledger dumps (one per gateway instance).
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub audit: LockAudit,
    /// EFSM errors the engine counted itself (the audit counts the log's).
    pub efsm_errors: u64,
    pub total_net: Money,
    pub sum_symbol_net: Money,
    /// The sum of the symbols' books (realized − fees).
    pub books_net: Money,
    pub ledger_net: Option<Money>,
    pub fold_gaps: u64,
    pub fold_duplicates: u64,
    pub fold_errors: u64,
    pub fold_inconsistencies: u64,
    pub ticks_published: u64,
    pub ticks_received: u64,
    pub ticks_dispatched: u64,
    pub ticks_taken: u64,
    pub ticks_dropped: u64,
    /// The most ticks one symbol took (what a strategy's warm-up is measured against).
    pub busiest_symbol_ticks: u64,
    pub gateway_fills: u64,
    pub engine_fills: u64,
    pub orders_sent: u64,
    /// Orders whose final report came before the deadline (the round-trip histogram's n).
    pub round_trips: u64,
    pub timeouts: u64,
    pub max_publish_gap_us: u64,
    pub engine_max_gap_us: u64,
    pub symbols: usize,
    /// Symbols whose final position differs from the venue's (or that it did not report).
    pub position_mismatches: Vec<String>,
}

impl Figures {
    pub fn gather(job: &JobSummary, audit: &LockAudit, dumps: &[serde_json::Value]) -> Figures {
        let books_net = Money::checked_sum(
            job.symbols.iter().map(|r| r.status.realized.checked_sub(r.status.fees).unwrap_or(Money::ZERO)),
        )
        .unwrap_or(Money::ZERO);
        let gateway_fills = dumps.last().map_or(0, |d| {
            d["symbols"].as_object().map_or(0, |s| s.values().map(|l| l["fills"].as_u64().unwrap_or(0)).sum())
        });
        let m = &job.metrics;
        let logged_timeouts = audit.outcomes.get("timeout").copied().unwrap_or(0);
        Figures {
            audit: audit.clone(),
            efsm_errors: job.efsm_errors,
            total_net: m.total_net,
            sum_symbol_net: m.sum_symbol_net,
            books_net,
            ledger_net: job.gateway_ledger_net,
            fold_gaps: m.gaps,
            fold_duplicates: m.duplicates,
            fold_errors: m.fold_errors,
            fold_inconsistencies: m.inconsistencies,
            ticks_published: sum_u64(dumps, |d| d["counters"]["ticks_published"].as_u64().unwrap_or(0)),
            ticks_received: job.feed.received,
            ticks_dispatched: job.feed.dispatched,
            ticks_taken: job.symbols.iter().map(|r| r.status.counters.ticks).sum(),
            ticks_dropped: job.feed.dropped,
            busiest_symbol_ticks: job.symbols.iter().map(|r| r.status.counters.ticks).max().unwrap_or(0),
            gateway_fills,
            engine_fills: job.symbols.iter().map(|r| r.status.counters.fills).sum(),
            orders_sent: job.bridge.orders_sent,
            round_trips: job.bridge.round_trip_us.count,
            timeouts: job.bridge.timeouts.max(logged_timeouts),
            max_publish_gap_us: dumps
                .iter()
                .map(|d| d["counters"]["max_publish_gap_us"].as_u64().unwrap_or(0))
                .max()
                .unwrap_or(0),
            engine_max_gap_us: job.feed.max_gap_us,
            symbols: job.symbols.len(),
            position_mismatches: job.position_mismatches().iter().map(ToString::to_string).collect(),
        }
    }
}

fn criterion(name: &str, value: impl ToString, threshold: &str, pass: bool) -> Criterion {
    Criterion { name: name.into(), value: value.to_string(), threshold: threshold.into(), pass }
}

fn sum_u64(dumps: &[serde_json::Value], f: impl Fn(&serde_json::Value) -> u64) -> u64 {
    dumps.iter().map(f).sum()
}

/// Judges a finished run.
pub fn judge(options: &StressOptions, job: &JobSummary, audit: &LockAudit, dumps: &[serde_json::Value]) -> Gate {
    judge_figures(options, &Figures::gather(job, audit, dumps))
}

/// Judges a run's figures: every criterion of the module comment, in that order.
pub fn judge_figures(options: &StressOptions, f: &Figures) -> Gate {
    let mut c = Vec::new();
    c.extend(safety_criteria(options, f));
    c.extend(coverage_criteria(options, f));
    c.push(timeouts(options, f));
    c.push(positions_match(f));
    let pass = c.iter().all(|x| x.pass);
    Gate { criteria: c, pass }
}

/// Criteria 1–5: nothing went wrong.
fn safety_criteria(options: &StressOptions, f: &Figures) -> Vec<Criterion> {
    let audit = &f.audit;
    let mut c = Vec::new();
    c.push(criterion(
        "locks_balanced",
        format!("acquire {} release {}", audit.acquire, audit.release),
        "acquire == release",
        audit.acquire == audit.release,
    ));
    c.push(criterion("lock_orphans", audit.orphans, "0", audit.orphans == 0 && audit.unmatched_releases == 0));
    c.push(criterion("lock_overlaps", audit.overlaps, "0", audit.overlaps == 0 && audit.access_violations == 0));
    c.push(criterion(
        "efsm_errors",
        audit.efsm_errors.max(f.efsm_errors),
        "0",
        audit.efsm_errors == 0 && f.efsm_errors == 0,
    ));

    let total = f.total_net;
    let pnl_equal = total == f.sum_symbol_net && total == f.books_net && f.ledger_net == Some(total);
    c.push(criterion(
        "pnl_exact",
        format!(
            "total {} sum_symbols {} gateway {}",
            total,
            f.books_net,
            f.ledger_net.map_or("-".into(), |l| l.to_string())
        ),
        "total == sum_symbols == gateway_ledger",
        pnl_equal,
    ));
    let fold_clean = f.fold_gaps == 0 && f.fold_duplicates == 0 && f.fold_errors == 0 && f.fold_inconsistencies == 0;
    c.push(criterion(
        "pnl_deltas_exactly_once",
        format!(
            "gaps {} duplicates {} fold errors {} inconsistent folds {}",
            f.fold_gaps, f.fold_duplicates, f.fold_errors, f.fold_inconsistencies
        ),
        "all 0",
        fold_clean,
    ));

    let ticks_ok = f.ticks_published == f.ticks_received
        && f.ticks_received == f.ticks_dispatched
        && f.ticks_dispatched == f.ticks_taken;
    let restarted = options.restart_at.is_some();
    c.push(criterion(
        "ticks_lost",
        format!(
            "published {} received {} taken {} dropped {}",
            f.ticks_published, f.ticks_received, f.ticks_taken, f.ticks_dropped
        ),
        if restarted { "reported only (gateway restart)" } else { "published == received == taken" },
        ticks_ok || restarted,
    ));
    c.push(criterion(
        "fills_lost",
        format!("gateway {} engine {}", f.gateway_fills, f.engine_fills),
        "gateway == engine",
        f.gateway_fills == f.engine_fills,
    ));

    if options.max_rate {
        c.push(criterion("tick_interval_under_50ms", "not paced (--max-rate)", "n/a", true));
    } else if options.replay.is_some() {
        c.push(criterion("tick_interval_under_50ms", "replay: the recorded data's own intervals", "n/a", true));
    } else {
        let gap = f.max_publish_gap_us;
        c.push(criterion(
            "tick_interval_under_50ms",
            format!("max gap {gap} us (engine saw {} us)", f.engine_max_gap_us),
            "< 50000 us",
            gap < 50_000 && gap > 0,
        ));
    }
    c
}

/// Ticks a symbol takes before its strategy can first signal.
fn warm_up_ticks(strategy: StrategyChoice) -> u64 {
    match strategy {
        StrategyChoice::ZScore { window, .. } | StrategyChoice::Breakout { window, .. } => {
            u64::try_from(window).unwrap_or(u64::MAX)
        }
        StrategyChoice::Churn | StrategyChoice::BackToBack => 0,
    }
}

fn strategy_name(strategy: StrategyChoice) -> &'static str {
    match strategy {
        StrategyChoice::ZScore { .. } => "zscore",
        StrategyChoice::Breakout { .. } => "breakout",
        StrategyChoice::Churn => "churn",
        StrategyChoice::BackToBack => "back_to_back",
    }
}

/// Criteria 6–8: something was tested.
fn coverage_criteria(options: &StressOptions, f: &Figures) -> Vec<Criterion> {
    let mut c = Vec::new();
    let name = strategy_name(options.strategy);
    let warm_up = warm_up_ticks(options.strategy);
    let orders_value = if f.orders_sent > 0 {
        format!("{} orders", f.orders_sent)
    } else if f.ticks_taken == 0 {
        "0 orders: the engine took no tick".to_string()
    } else if f.busiest_symbol_ticks < warm_up {
        format!(
            "0 orders: busiest symbol took {} ticks, {name} needs {warm_up} to warm up (run too short)",
            f.busiest_symbol_ticks
        )
    } else if warm_up == 0 {
        format!("0 orders over {} ticks ({name} enters on every tick)", f.ticks_taken)
    } else {
        format!(
            "0 orders: busiest symbol took {} ticks, {name} warms up after {warm_up} and never traded",
            f.busiest_symbol_ticks
        )
    };
    c.push(criterion("orders_sent", orders_value, "> 0", f.orders_sent > 0));
    c.push(criterion(
        "fills_booked",
        format!("{} fills for {} orders", f.engine_fills, f.orders_sent),
        "> 0",
        f.engine_fills > 0,
    ));
    let answered = f.orders_sent == 0 || f.round_trips > 0;
    c.push(criterion(
        "orders_answered",
        format!("round trips n = {} of {} orders ({} timeouts)", f.round_trips, f.orders_sent, f.timeouts),
        "n > 0 when orders were sent",
        answered,
    ));
    c
}

/// Criterion 9: timeouts only where a fault can delay or lose a reply.
fn timeouts(options: &StressOptions, f: &Figures) -> Criterion {
    let mut causes = Vec::new();
    if options.drop_reply_rate > 0.0 {
        causes.push(format!("drop-reply-rate {}", options.drop_reply_rate));
    }
    if options.latency_ms > 0 {
        causes.push(format!("latency-ms {}", options.latency_ms));
    }
    if options.restart_at.is_some() {
        causes.push("gateway restart".to_string());
    }
    if causes.is_empty() {
        criterion("timeouts", f.timeouts, "0 (no reply-delaying fault injected)", f.timeouts == 0)
    } else {
        criterion("timeouts", f.timeouts, &format!("reported only ({})", causes.join(", ")), true)
    }
}

/// Criterion 10: the books' positions are the venue's.
fn positions_match(f: &Figures) -> Criterion {
    let value = if f.position_mismatches.is_empty() {
        format!("all {} match", f.symbols)
    } else {
        format!("{} of {} differ: {}", f.position_mismatches.len(), f.symbols, f.position_mismatches.join(", "))
    };
    criterion("positions_match", value, "every position == venue's (side, qty, cost)", f.position_mismatches.is_empty())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::harness::tests::options;

    /// A clean churn run that passes every criterion.
    fn good() -> Figures {
        let net: Money = "-1.5".parse().unwrap_or(Money::ZERO);
        let mut audit = LockAudit { acquire: 20, release: 20, ..LockAudit::default() };
        audit.outcomes.insert("filled".into(), 20);
        Figures {
            audit,
            total_net: net,
            sum_symbol_net: net,
            books_net: net,
            ledger_net: Some(net),
            ticks_published: 300,
            ticks_received: 300,
            ticks_dispatched: 300,
            ticks_taken: 300,
            busiest_symbol_ticks: 100,
            gateway_fills: 20,
            engine_fills: 20,
            orders_sent: 20,
            round_trips: 20,
            max_publish_gap_us: 40_000,
            engine_max_gap_us: 41_000,
            symbols: 3,
            ..Figures::default()
        }
    }

    fn verdict(options: &StressOptions, f: &Figures, name: &str) -> bool {
        let gate = judge_figures(options, f);
        let c = gate.criteria.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no criterion {name}"));
        assert_eq!(gate.pass, gate.criteria.iter().all(|c| c.pass));
        c.pass
    }

    fn failures(options: &StressOptions, f: &Figures) -> Vec<String> {
        judge_figures(options, f).failures().into_iter().map(String::from).collect()
    }

    #[test]
    fn a_clean_run_passes_every_criterion() {
        let gate = judge_figures(&options(StrategyChoice::Churn), &good());
        assert!(gate.pass, "{:?}", gate.criteria);
        assert_eq!(gate.criteria.len(), 14);
    }

    /// Each row breaks one figure of a good run; exactly that criterion must say FAIL.
    #[test]
    fn each_existing_criterion_fails_on_its_own() {
        type Break = fn(&mut Figures);
        let cases: [(&str, Break); 9] = [
            ("locks_balanced", |f| f.audit.release -= 1),
            ("lock_orphans", |f| f.audit.orphans = 1),
            ("lock_overlaps", |f| f.audit.overlaps = 1),
            ("efsm_errors", |f| f.efsm_errors = 1),
            ("pnl_exact", |f| f.ledger_net = Some(Money::ZERO)),
            ("pnl_deltas_exactly_once", |f| f.fold_duplicates = 1),
            ("ticks_lost", |f| f.ticks_taken -= 1),
            ("fills_lost", |f| f.gateway_fills += 1),
            ("tick_interval_under_50ms", |f| f.max_publish_gap_us = 50_000),
        ];
        let o = options(StrategyChoice::Churn);
        for (name, break_it) in cases {
            let mut f = good();
            break_it(&mut f);
            assert_eq!(failures(&o, &f), vec![name.to_string()], "breaking {name}");
        }
    }

    #[test]
    fn a_churn_run_that_sent_no_order_fails() {
        // `stress --strategy churn`: ticks taken, nothing sent.
        let f = Figures { orders_sent: 0, engine_fills: 0, gateway_fills: 0, round_trips: 0, ..good() };
        let o = options(StrategyChoice::Churn);
        assert!(!verdict(&o, &f, "orders_sent"));
        let gate = judge_figures(&o, &f);
        assert!(!gate.pass);
        assert!(gate.criteria[9].value.contains("churn enters on every tick"), "{:?}", gate.criteria[9]);
    }

    #[test]
    fn a_run_that_took_no_tick_fails() {
        let f = Figures {
            orders_sent: 0,
            engine_fills: 0,
            gateway_fills: 0,
            round_trips: 0,
            ticks_published: 0,
            ticks_received: 0,
            ticks_dispatched: 0,
            ticks_taken: 0,
            busiest_symbol_ticks: 0,
            ..good()
        };
        for strategy in [StrategyChoice::Churn, zscore()] {
            assert!(!verdict(&options(strategy), &f, "orders_sent"));
            assert!(!verdict(&options(strategy), &f, "fills_booked"));
        }
    }

    fn zscore() -> StrategyChoice {
        StrategyChoice::ZScore { window: 40, entry_z: 2.0, exit_z: 0.3 }
    }

    #[test]
    fn a_zscore_run_too_short_to_warm_up_fails_and_says_why() {
        // `stress --symbols 3 --duration 1`: 39 ticks per symbol, window 40, 0 orders.
        let f = Figures {
            orders_sent: 0,
            engine_fills: 0,
            gateway_fills: 0,
            round_trips: 0,
            ticks_taken: 117,
            ticks_published: 117,
            ticks_received: 117,
            ticks_dispatched: 117,
            busiest_symbol_ticks: 39,
            ..good()
        };
        let gate = judge_figures(&options(zscore()), &f);
        let orders = gate.criteria.iter().find(|c| c.name == "orders_sent").map(|c| c.value.clone());
        assert_eq!(failures(&options(zscore()), &f), ["orders_sent", "fills_booked"]);
        assert!(orders.is_some_and(|v| v.contains("run too short")));
    }

    #[test]
    fn a_warmed_up_breakout_run_with_no_order_fails() {
        let strategy = StrategyChoice::Breakout { window: 40, exit_window: 20 };
        let f = Figures { orders_sent: 0, engine_fills: 0, gateway_fills: 0, round_trips: 0, ..good() };
        let gate = judge_figures(&options(strategy), &f);
        assert!(!verdict(&options(strategy), &f, "orders_sent"));
        assert!(gate.criteria[9].value.contains("never traded"), "{:?}", gate.criteria[9]);
    }

    #[test]
    fn a_run_with_orders_but_no_fill_fails() {
        // `stress --reject-rate 1.0`: 122 orders, every one rejected.
        let mut o = options(StrategyChoice::Churn);
        o.reject_rate = 1.0;
        let f = Figures { orders_sent: 122, round_trips: 122, engine_fills: 0, gateway_fills: 0, ..good() };
        assert_eq!(failures(&o, &f), ["fills_booked"]);
    }

    #[test]
    fn a_run_where_every_order_timed_out_fails_even_with_injected_latency() {
        // `stress --latency-ms 1500`: every order timed out; fills were learnt by status
        // query only, so the round trip has n = 0.
        let mut o = options(zscore());
        o.latency_ms = 1500;
        let f =
            Figures { orders_sent: 22, round_trips: 0, timeouts: 22, engine_fills: 11, gateway_fills: 11, ..good() };
        assert_eq!(failures(&o, &f), ["orders_answered"]);
        let gate = judge_figures(&o, &f);
        let value = gate.criteria.iter().find(|c| c.name == "orders_answered").map(|c| c.value.clone());
        assert!(value.is_some_and(|v| v.contains("n = 0")));
    }

    #[test]
    fn timeouts_without_an_injected_fault_fail() {
        let o = options(StrategyChoice::Churn);
        let f = Figures { timeouts: 1, ..good() };
        assert_eq!(failures(&o, &f), ["timeouts"]);
        // Rejects answer every order: they do not excuse a timeout.
        let mut rejecting = o.clone();
        rejecting.reject_rate = 0.5;
        assert_eq!(failures(&rejecting, &f), ["timeouts"]);
    }

    #[test]
    fn timeouts_with_a_reply_delaying_fault_are_reported_only() {
        let f = Figures { timeouts: 5, ..good() };
        let base = options(StrategyChoice::Churn);
        let faulted: [fn(&mut StressOptions); 3] = [
            |o| o.drop_reply_rate = 0.05,
            |o| o.latency_ms = 200,
            |o| {
                o.restart_at = Some(Duration::from_secs(2));
            },
        ];
        for inject in faulted {
            let mut o = base.clone();
            inject(&mut o);
            assert!(verdict(&o, &f, "timeouts"), "{o:?}");
        }
    }

    #[test]
    fn a_position_that_differs_from_the_venue_fails() {
        let f = Figures { position_mismatches: vec!["ETHUSD.s".into()], ..good() };
        assert_eq!(failures(&options(StrategyChoice::Churn), &f), ["positions_match"]);
        let gate = judge_figures(&options(StrategyChoice::Churn), &f);
        let value = gate.criteria.iter().find(|c| c.name == "positions_match").map(|c| c.value.clone());
        assert_eq!(value.as_deref(), Some("1 of 3 differ: ETHUSD.s"));
    }
}

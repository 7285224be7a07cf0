//! The stress gate: every criterion with its measured value, threshold and verdict.
//!
//! 1. locks balanced: every ACQUIRE released, no orphan, no per-symbol overlap (from the log);
//! 2. no EFSM errors (with faults too: timeouts, rejects, dropped replies and restarts are
//!    all legal EFSM paths, so none of them may produce one);
//! 3. total PnL (folded) == sum of per-symbol PnL (books) == gateway ledger, exactly, and
//!    every PnL delta folded exactly once (no gap, duplicate, error or inconsistent fold);
//! 4. no tick or fill lost: ticks published == received == taken by the symbols, fills at
//!    the gateway == fills booked (a restart loses the ticks published while the engine
//!    reconnects: an expected, documented path, reported but not gated);
//! 5. paced runs: the gateway's real per-symbol tick interval stayed under 50 ms.

use protocol::Money;

use super::audit::LockAudit;
use super::StressOptions;
use crate::main_job::JobSummary;

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

fn criterion(name: &str, value: impl ToString, threshold: &str, pass: bool) -> Criterion {
    Criterion { name: name.into(), value: value.to_string(), threshold: threshold.into(), pass }
}

fn sum_u64(dumps: &[serde_json::Value], f: impl Fn(&serde_json::Value) -> u64) -> u64 {
    dumps.iter().map(f).sum()
}

pub fn judge(options: &StressOptions, job: &JobSummary, audit: &LockAudit, dumps: &[serde_json::Value]) -> Gate {
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
        audit.efsm_errors.max(job.efsm_errors),
        "0",
        audit.efsm_errors == 0 && job.efsm_errors == 0,
    ));

    let total = job.metrics.total_net;
    let books = Money::checked_sum(
        job.symbols.iter().map(|r| r.status.realized.checked_sub(r.status.fees).unwrap_or(Money::ZERO)),
    )
    .unwrap_or(Money::ZERO);
    let ledger = job.gateway_ledger_net;
    let pnl_equal = total == job.metrics.sum_symbol_net && total == books && ledger == Some(total);
    c.push(criterion(
        "pnl_exact",
        format!("total {} sum_symbols {} gateway {}", total, books, ledger.map_or("-".into(), |l| l.to_string())),
        "total == sum_symbols == gateway_ledger",
        pnl_equal,
    ));

    let m = &job.metrics;
    let fold_clean = m.gaps == 0 && m.duplicates == 0 && m.fold_errors == 0 && m.inconsistencies == 0;
    c.push(criterion(
        "pnl_deltas_exactly_once",
        format!(
            "gaps {} duplicates {} fold errors {} inconsistent folds {}",
            m.gaps, m.duplicates, m.fold_errors, m.inconsistencies
        ),
        "all 0",
        fold_clean,
    ));

    let published = sum_u64(dumps, |d| d["counters"]["ticks_published"].as_u64().unwrap_or(0));
    let taken: u64 = job.symbols.iter().map(|r| r.status.counters.ticks).sum();
    let ticks_ok =
        published == job.feed.received && job.feed.received == job.feed.dispatched && job.feed.dispatched == taken;
    let restarted = options.restart_at.is_some();
    c.push(criterion(
        "ticks_lost",
        format!("published {published} received {} taken {taken} dropped {}", job.feed.received, job.feed.dropped),
        if restarted { "reported only (gateway restart)" } else { "published == received == taken" },
        ticks_ok || restarted,
    ));
    let gateway_fills = dumps.last().map_or(0, |d| {
        d["symbols"].as_object().map_or(0, |s| s.values().map(|l| l["fills"].as_u64().unwrap_or(0)).sum())
    });
    let engine_fills: u64 = job.symbols.iter().map(|r| r.status.counters.fills).sum();
    c.push(criterion(
        "fills_lost",
        format!("gateway {gateway_fills} engine {engine_fills}"),
        "gateway == engine",
        gateway_fills == engine_fills,
    ));

    if options.max_rate {
        c.push(criterion("tick_interval_under_50ms", "not paced (--max-rate)", "n/a", true));
    } else {
        let gap = dumps.iter().map(|d| d["counters"]["max_publish_gap_us"].as_u64().unwrap_or(0)).max().unwrap_or(0);
        c.push(criterion(
            "tick_interval_under_50ms",
            format!("max gap {gap} us (engine saw {} us)", job.feed.max_gap_us),
            "< 50000 us",
            gap < 50_000 && gap > 0,
        ));
    }
    let pass = c.iter().all(|x| x.pass);
    Gate { criteria: c, pass }
}

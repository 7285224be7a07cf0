//! Global risk under shards: one `PortfolioRisk` shared by every shard's thread. Each test
//! hammers one global limit from several threads at once (a barrier starts them together)
//! and checks that the limit holds exactly: never one admission too many, never a lost one.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Barrier};

use engine::risk::breaker::Admission;
use engine::risk::{PortfolioRisk, Refusal, RiskConfig};
use protocol::{Money, Ppm};

const SHARDS: usize = 4;

/// Runs `per_shard` on `SHARDS` threads started together; returns their results.
fn hammer<T: Send + 'static>(risk: &Arc<PortfolioRisk>, per_shard: fn(&PortfolioRisk, usize) -> T) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(SHARDS));
    let threads: Vec<_> = (0..SHARDS)
        .map(|shard| {
            let (risk, barrier) = (Arc::clone(risk), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                per_shard(&risk, shard)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn total_exposure_admits_exactly_up_to_the_limit_from_every_shard_at_once() {
    // Equity 1,000,000 and total exposure 10 %: 100,000 of room; entries of 1,000 each.
    let config =
        RiskConfig { max_total_exposure: Ppm(100_000), max_orders_per_sec_total: u32::MAX, ..RiskConfig::default() };
    let risk = Arc::new(PortfolioRisk::new(config, 1));
    let admitted: usize = hammer(&risk, |risk, shard| {
        let mut admitted = 0;
        for i in 0..500u64 {
            let now = 1_000 + i * 10 + shard as u64;
            match risk.admit_entry(Money::units(1_000).unwrap(), now) {
                Ok(_) => admitted += 1,
                Err(Refusal::TotalExposure) => {}
                Err(other) => panic!("unexpected refusal {other:?}"),
            }
        }
        admitted
    })
    .into_iter()
    .sum();
    assert_eq!(admitted, 100, "exactly the room, never one more, whatever the interleaving");
    assert_eq!(risk.total_exposure(), Money::units(100_000).unwrap());
}

#[test]
fn the_global_order_rate_holds_across_shards() {
    let config = RiskConfig { max_orders_per_sec_total: 200, ..RiskConfig::default() };
    let risk = Arc::new(PortfolioRisk::new(config, 1));
    // Every attempt inside the same second, tiny notional.
    let admitted: usize = hammer(&risk, |risk, shard| {
        (0..300u64).filter(|i| risk.admit_entry(Money::units(1).unwrap(), 1_000 + i * 4 + shard as u64).is_ok()).count()
    })
    .into_iter()
    .sum();
    assert_eq!(admitted, 200, "the global rate is one budget for every shard");
}

#[test]
fn a_half_open_breaker_grants_one_probe_to_all_shards_together() {
    let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
    let failures = RiskConfig::default().breaker.max_consecutive_failures;
    for _ in 0..failures {
        risk.on_order_failure(1_000);
    }
    assert_eq!(risk.breaker_trips(), 1, "tripped");
    // After the cool-off, every shard asks at the same moment: one probe in all.
    let after = 1_000 + RiskConfig::default().breaker.cooloff_ns + 1;
    let results = hammer(&risk, |risk, _| {
        // (Recomputed: a fn pointer captures nothing.)
        let after = 1_000 + RiskConfig::default().breaker.cooloff_ns + 1;
        (0..50).map(|_| risk.admit_entry(Money::units(1).unwrap(), after)).collect::<Vec<_>>()
    });
    let probes = results.iter().flatten().filter(|r| matches!(r, Ok(Admission::Probe))).count();
    let normal = results.iter().flatten().filter(|r| matches!(r, Ok(Admission::Normal))).count();
    assert_eq!((probes, normal), (1, 0), "one probe, and nothing else while it is out (at {after})");
}

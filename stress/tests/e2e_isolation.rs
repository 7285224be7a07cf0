//! Per-symbol isolation: one symbol whose strategy is very slow and one whose strategy
//! panics do not stall or stop the others, on their own shard or on another. The slow one
//! shares a shard (a thread) with fast symbols: its first overlong step halts it
//! (`step_overrun`), so its shard-mates wait once, and never again.

// The end-to-end helpers shared with the engine app's tests.
#[path = "../../app/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use ::actors::system::{self};
use common::*;
use engine::registry::{default_model, default_order_qty, SymbolSpec};
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::strategy::zscore::{ZScore, ZScoreConfig};
use engine::strategy::{IntentTemplate, Signal, Strategy};
use paper_gateway::server;
use protocol::{Symbol, Tick};

struct Slow;
impl Strategy for Slow {
    fn name(&self) -> &'static str {
        "slow"
    }
    fn on_tick(&mut self, _: &Tick) -> Signal {
        std::thread::sleep(Duration::from_millis(300));
        Signal::HOLD
    }
}

struct Boom(u32);
impl Strategy for Boom {
    fn name(&self) -> &'static str {
        "boom"
    }
    fn on_tick(&mut self, _: &Tick) -> Signal {
        self.0 += 1;
        assert!(self.0 < 20, "strategy bug on tick 20");
        Signal::HOLD
    }
}

#[test]
fn a_slow_and_a_failing_symbol_do_not_stall_the_others() {
    let names = ["FAST1", "FAST2", "FAST3", "SLOW1", "BOOM1"];
    let specs: Vec<SymbolSpec> = names
        .iter()
        .map(|n| {
            let symbol = Symbol::new(n).unwrap();
            SymbolSpec { model: default_model(symbol), order_qty: default_order_qty(symbol) }
        })
        .collect();
    let config = fast_config(&common::names(&names));
    let gateway = server::start(engine_app::main_job::embedded_gateway_config(
        &config,
        specs.iter().map(|s| s.model).collect(),
        None,
    ))
    .unwrap();
    let (orders, md) = (gateway.orders_endpoint.clone(), gateway.market_data_endpoint.clone());
    let statuses = actix_rt::System::new().block_on(async move {
        let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
        let mut wiring = common::wiring(orders, md, "isolation");
        wiring.shards = 2;
        let exits = config.exits;
        let strategy = move |spec: &SymbolSpec| -> Box<dyn Strategy> {
            match spec.model.symbol.as_str() {
                "SLOW1" => Box::new(Slow),
                "BOOM1" => Box::new(Boom(0)),
                _ => Box::new(ZScore::new(ZScoreConfig {
                    window: 15,
                    entry_z: 1.2,
                    exit_z: 0.2,
                    template: IntentTemplate { qty: spec.order_qty, exits },
                })),
            }
        };
        let mut engine =
            system::start(wiring, &zmq::Context::new(), &specs, risk, &strategy, protocol::SessionId(7)).unwrap();
        let slow_shard = engine.shard_of[&Symbol::new("SLOW1").unwrap()];
        let mates: Vec<&str> = ["FAST1", "FAST2", "FAST3"]
            .into_iter()
            .filter(|n| engine.shard_of[&Symbol::new(n).unwrap()] == slow_shard)
            .collect();
        assert!(!mates.is_empty(), "the test needs a fast symbol on the slow one's shard: {:?}", engine.shard_of);
        assert!(engine.shard_of.values().any(|s| *s != slow_shard), "and one on another shard");
        tokio::time::sleep(Duration::from_secs(4)).await;
        let statuses = engine.board.snapshot();
        engine.stop_threads();
        actix::System::current().stop();
        statuses
    });
    let _ = gateway.stop();
    let get = |n: &str| *statuses.iter().find(|s| s.symbol.as_str() == n).unwrap();
    let fast: Vec<_> = ["FAST1", "FAST2", "FAST3"].iter().map(|n| get(n)).collect();
    let most = fast.iter().map(|s| s.counters.ticks).max().unwrap();
    for s in &fast {
        // ~4 s at 1..20 ms per tick is ~380 ticks; every fast symbol kept pace.
        assert!(s.counters.ticks >= 150, "{} processed only {} ticks", s.symbol, s.counters.ticks);
        assert!(s.counters.ticks * 10 >= most * 8, "{} fell behind: {} vs {}", s.symbol, s.counters.ticks, most);
        assert!(!s.is_halted(), "{} halted", s.symbol);
    }
    assert!(fast.iter().map(|s| s.counters.orders).sum::<u64>() > 0, "fast symbols traded");
    assert_eq!(get("SLOW1").counters.ticks, 1, "the slow symbol was stepped once, then halted");
    assert_eq!(get("SLOW1").halt_reason, Some(engine::efsm::HaltReason::Overrun));
    assert!(get("BOOM1").is_halted(), "the failing symbol halted itself only");
}

//! The feed's direct road to a symbol (`TickPort`) on one thread: it refuses a tick before
//! the actor has started (the core must reconcile first) and after it stopped, and in
//! between steps each tick in the symbol's own core, whose count the status board shows.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use ::actors::messages::{FoldPnl, RequestSnapshot, SubmitOrder, SubmitStatusQuery, TickArrived};
use ::actors::status::StatusBoard;
use ::actors::symbol_actor::{hosted_port, PublishStatus, SymbolActor, SymbolOutputs, SymbolState};
use actix::prelude::*;
use engine::risk::{PortfolioRisk, RiskConfig};
use engine::strategy::hold::Hold;
use engine::symbol_core::{CoreConfig, SymbolCore};
use protocol::{Price, SessionId, Symbol, Tick};

/// Takes whatever a symbol sends and keeps nothing.
struct Sink;
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<SubmitOrder> for Sink {
    type Result = ();
    fn handle(&mut self, _: SubmitOrder, _: &mut Context<Self>) {}
}
impl Handler<SubmitStatusQuery> for Sink {
    type Result = ();
    fn handle(&mut self, _: SubmitStatusQuery, _: &mut Context<Self>) {}
}
impl Handler<FoldPnl> for Sink {
    type Result = ();
    fn handle(&mut self, _: FoldPnl, _: &mut Context<Self>) {}
}
impl Handler<RequestSnapshot> for Sink {
    type Result = ();
    fn handle(&mut self, _: RequestSnapshot, _: &mut Context<Self>) {}
}

fn tick(symbol: Symbol, md_seq: u64) -> TickArrived {
    let px = Price::units(100).unwrap();
    TickArrived {
        tick: Tick { symbol, bid: px, ask: px, ts_ns: md_seq, md_seq },
        received_ns: md_seq,
        session_id: SessionId(7),
    }
}

#[actix_rt::test]
async fn a_port_steps_ticks_only_while_its_symbol_runs() {
    let symbol = Symbol::new("PORT1.s").unwrap();
    let sink = Sink.start();
    let outputs = SymbolOutputs {
        orders: sink.clone().recipient(),
        queries: sink.clone().recipient(),
        pnl: sink.clone().recipient(),
        state: None,
        snapshots: sink.recipient(),
        journal: None,
        ledger: None,
        stream: None,
    };
    let risk = Arc::new(PortfolioRisk::new(RiskConfig::default(), 1));
    let core = SymbolCore::new(CoreConfig::new(symbol), Box::new(Hold), &risk);
    let board = StatusBoard::default();
    let actor = SymbolActor::host(SymbolState::new(core, risk, outputs, board.clone()));
    let port = hosted_port(&symbol).expect("hosting lists the port on this thread");
    assert!(port.step(tick(symbol, 1)).is_err(), "refused before the actor has started");

    let addr = actor.start();
    addr.send(PublishStatus).await.unwrap();
    for md_seq in 1..=5 {
        assert!(port.step(tick(symbol, md_seq)).is_ok(), "stepped while running");
    }
    addr.send(PublishStatus).await.unwrap();
    assert_eq!(board.get(&symbol).unwrap().counters.ticks, 5, "each tick stepped once, in the symbol's core");

    addr.send(StopActor).await.unwrap();
    actix_rt::time::sleep(Duration::from_millis(20)).await;
    assert!(port.step(tick(symbol, 6)).is_err(), "refused after the actor stopped");
    assert!(hosted_port(&symbol).is_none(), "a stopped symbol leaves its thread's table");
}

/// Stops the symbol actor (for the test only: a real engine stops its arbiter).
#[derive(Message)]
#[rtype(result = "()")]
struct StopActor;

impl Handler<StopActor> for SymbolActor {
    type Result = ();
    fn handle(&mut self, _: StopActor, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

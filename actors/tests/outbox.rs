//! A shard's outbox hands deltas and states over in batches: every delta once, in order,
//! within a few milliseconds, and one hand-off for many messages.

use std::time::Duration;

use ::actors::messages::FoldPnl;
use ::actors::outbox::{FoldPnlBatch, SaveStates, ShardOutbox};
use ::actors::state_store::SaveSymbolState;
use actix::prelude::*;
use engine::ledger::PnlDelta;
use engine::symbol_core::DurableSymbol;
use protocol::{Money, Symbol};

/// Stands in for the metrics actor and the state store: records what arrives.
struct Sink(crossbeam_channel::Sender<String>);
impl Actor for Sink {
    type Context = Context<Self>;
}
impl Handler<FoldPnlBatch> for Sink {
    type Result = ();
    fn handle(&mut self, msg: FoldPnlBatch, _: &mut Context<Self>) {
        let seqs: Vec<String> = msg.deltas.iter().map(|d| d.seq.to_string()).collect();
        let _ = self.0.send(format!("pnl {}", seqs.join(",")));
    }
}
impl Handler<SaveStates> for Sink {
    type Result = ();
    fn handle(&mut self, msg: SaveStates, _: &mut Context<Self>) {
        let _ = self.0.send(format!("states {}", msg.states.len()));
    }
}

fn delta(seq: u64) -> PnlDelta {
    PnlDelta {
        symbol: Symbol::new("BTCUSD.s").expect("symbol"),
        seq,
        realized: Money::ZERO,
        fee: Money::ZERO,
        closed_trade: None,
        exposure_after: Money::ZERO,
    }
}

#[test]
fn deltas_arrive_once_in_order_in_one_batch_and_states_as_the_latest() {
    let (tx, rx) = crossbeam_channel::unbounded();
    actix_rt::System::new().block_on(async move {
        let sink = Sink(tx).start();
        let outbox = ShardOutbox::new(sink.clone().recipient(), Some(sink.recipient())).start();
        for seq in 1..=5 {
            outbox.do_send(FoldPnl { delta: delta(seq) });
        }
        let (btc, eth) = (Symbol::new("BTCUSD.s").expect("symbol"), Symbol::new("ETHUSD.s").expect("symbol"));
        for symbol in [btc, eth, btc] {
            outbox.do_send(SaveSymbolState { symbol, state: DurableSymbol::default() });
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        outbox.do_send(FoldPnl { delta: delta(6) });
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        System::current().stop();
    });
    let got: Vec<String> = rx.try_iter().collect();
    assert_eq!(got, ["pnl 1,2,3,4,5", "states 2", "pnl 6"], "one batch per flush, in order, latest state per symbol");
}

/// Ledger rows go to the writer thread in the outbox's batches: all of them, in few
/// transactions, and none once the outbox has no ledger.
#[test]
fn ledger_rows_reach_the_writer_in_batches() {
    use ::actors::messages::RecordLedger;
    use engine::trade::BookAdjustment;
    use trade_ledger::{LedgerRow, LedgerWriter};
    let n = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let path = std::env::temp_dir().join(format!("outbox-ledger-{}-{n}", std::process::id())).join("t.sqlite");
    let writer = LedgerWriter::start(&path, "outbox-test", 0).expect("ledger opens");
    let sender = writer.sender();
    let (tx, _rx) = crossbeam_channel::unbounded();
    actix_rt::System::new().block_on(async move {
        let sink = Sink(tx).start();
        let outbox = ShardOutbox::new(sink.clone().recipient(), None).with_ledger(Some(sender)).start();
        let symbol = Symbol::new("BTCUSD.s").expect("symbol");
        for i in 0..500 {
            let row = LedgerRow::Adjustment(BookAdjustment { symbol, realized: Money::ZERO, fees: Money::ZERO, at: i });
            outbox.do_send(RecordLedger { row });
        }
        actix_rt::time::sleep(Duration::from_millis(50)).await;
        System::current().stop();
    });
    let report = writer.finish(Duration::from_secs(10));
    assert!(report.complete(), "{report:?}");
    assert_eq!(report.rows_written, 500);
    assert!(report.transactions <= 3, "one hand-off for many rows: {} transactions", report.transactions);
}

//! A shard's outbox: what the shard's symbols send off the hot path (PnL deltas for the
//! metrics fold, durable states for the state store, rows for the trade ledger's writer
//! thread) is collected on the shard's own
//! thread and handed over in batches, at most one hand-off per destination every
//! [`FLUSH_EVERY`]. A message to an actor on another thread wakes that thread; one wake per
//! batch instead of one per fill keeps those threads off the cores the shards need.
//!
//! The shard's symbols push into it with a direct call through its [`OutboxPort`] (the
//! outbox is on their thread; only the first item of a batch sends a message, to arm the
//! flush); the messages below are the same road for any other sender.
//!
//! Nothing is lost or reordered: deltas and ledger rows keep their order (one batch after
//! another, on one channel), and a symbol's state is the latest one. The ledger's channel
//! is bounded and never waited on: a batch it cannot take is dropped and counted
//! (`trade_ledger::LedgerSender::send`), never a stall of the shard.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use engine::ledger::PnlDelta;
use engine::symbol_core::DurableSymbol;
use protocol::Symbol;

use crate::messages::{FoldPnl, RecordLedger};
use crate::state_store::SaveSymbolState;

/// The longest a delta or a state waits in the outbox.
pub const FLUSH_EVERY: Duration = Duration::from_millis(1);
/// A batch this large goes at once.
const MAX_BATCH: usize = 4_096;

/// outbox → metrics: deltas in the order the symbols produced them.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct FoldPnlBatch {
    pub deltas: Vec<PnlDelta>,
}

/// outbox → state store: the latest durable state of some symbols.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct SaveStates {
    pub states: Vec<(Symbol, DurableSymbol)>,
}

/// What waits in a shard's outbox, and where it goes.
struct Buffers {
    metrics: Recipient<FoldPnlBatch>,
    store: Option<Recipient<SaveStates>>,
    deltas: Vec<PnlDelta>,
    states: HashMap<Symbol, DurableSymbol>,
    /// The trade ledger's writer (`None`: no ledger) and the rows for it.
    ledger: Option<trade_ledger::LedgerSender>,
    rows: Vec<trade_ledger::LedgerRow>,
}

/// One thing for the outbox, whichever road it comes by.
#[derive(Debug)]
pub enum OutboxItem {
    Pnl(PnlDelta),
    /// A symbol's latest durable state (ignored without a state store).
    State(Symbol, DurableSymbol),
    /// A trade-ledger row (ignored without a ledger).
    Row(trade_ledger::LedgerRow),
}

impl Buffers {
    fn len(&self) -> usize {
        self.deltas.len() + self.states.len() + self.rows.len()
    }

    fn add(&mut self, item: OutboxItem) {
        match item {
            OutboxItem::Pnl(delta) => self.deltas.push(delta),
            OutboxItem::State(symbol, state) if self.store.is_some() => {
                self.states.insert(symbol, state);
            }
            OutboxItem::Row(row) if self.ledger.is_some() => self.rows.push(row),
            OutboxItem::State(..) | OutboxItem::Row(_) => {}
        }
    }

    fn flush(&mut self) {
        if !self.deltas.is_empty() {
            self.metrics.do_send(FoldPnlBatch { deltas: std::mem::take(&mut self.deltas) });
        }
        if !self.rows.is_empty() {
            if let Some(ledger) = &self.ledger {
                ledger.send(std::mem::take(&mut self.rows));
            }
        }
        if !self.states.is_empty() {
            let states: Vec<(Symbol, DurableSymbol)> = self.states.drain().collect();
            if let Some(store) = &self.store {
                store.do_send(SaveStates { states });
            }
        }
    }
}

thread_local! {
    /// The outbox of the shard this thread runs (see [`hosted_port`]).
    static HOSTED: RefCell<Option<OutboxPort>> = const { RefCell::new(None) };
}

/// The outbox of the shard running on this thread, if it has started.
pub fn hosted_port() -> Option<OutboxPort> {
    HOSTED.with(|hosted| hosted.borrow().clone())
}

/// A symbol's direct road into its shard's outbox, on the shard's thread: a push is a call,
/// not a message; only the first item of a batch sends one (to arm the flush).
#[derive(Clone)]
pub struct OutboxPort {
    buffers: Rc<RefCell<Buffers>>,
    outbox: Addr<ShardOutbox>,
}

impl OutboxPort {
    /// Adds `item` to the buffers and arms the flush with the first item of a batch (a full
    /// batch goes at once). Should the buffers be in use (never on one thread: a flush never
    /// pushes), the item goes to the outbox as a message instead; it is never dropped.
    pub fn push(&self, item: OutboxItem) {
        let Ok(mut buffers) = self.buffers.try_borrow_mut() else {
            self.outbox.do_send(Take(item));
            return;
        };
        let was_empty = buffers.len() == 0;
        buffers.add(item);
        if buffers.len() >= MAX_BATCH {
            buffers.flush();
        } else if was_empty && buffers.len() > 0 {
            self.outbox.do_send(FlushSoon);
        }
    }
}

/// An item for the outbox by message (the port's road when the buffers are in use).
#[derive(Message)]
#[rtype(result = "()")]
struct Take(OutboxItem);

/// Arms the outbox's flush (sent by a port with the first item of a batch).
#[derive(Message)]
#[rtype(result = "()")]
struct FlushSoon;

pub struct ShardOutbox {
    buffers: Rc<RefCell<Buffers>>,
    flush_scheduled: bool,
}

impl ShardOutbox {
    pub fn new(metrics: Recipient<FoldPnlBatch>, store: Option<Recipient<SaveStates>>) -> ShardOutbox {
        let buffers =
            Buffers { metrics, store, deltas: Vec::new(), states: HashMap::new(), ledger: None, rows: Vec::new() };
        ShardOutbox { buffers: Rc::new(RefCell::new(buffers)), flush_scheduled: false }
    }

    /// Hands ledger rows to this writer (in the same batches, at most every [`FLUSH_EVERY`]).
    pub fn with_ledger(self, ledger: Option<trade_ledger::LedgerSender>) -> ShardOutbox {
        self.buffers.borrow_mut().ledger = ledger;
        self
    }

    fn flush(&mut self) {
        self.flush_scheduled = false;
        self.buffers.borrow_mut().flush();
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.buffers.borrow().len() >= MAX_BATCH {
            self.flush();
            return;
        }
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            ctx.run_later(FLUSH_EVERY, |act, _| act.flush());
        }
    }
}

impl Actor for ShardOutbox {
    type Context = Context<Self>;

    /// Lists this outbox as its thread's (the shard's symbols push into it directly).
    fn started(&mut self, ctx: &mut Context<Self>) {
        let port = OutboxPort { buffers: Rc::clone(&self.buffers), outbox: ctx.address() };
        HOSTED.with(|hosted| *hosted.borrow_mut() = Some(port));
    }

    /// What is still here goes out when the shard stops.
    fn stopped(&mut self, _: &mut Context<Self>) {
        HOSTED.with(|hosted| *hosted.borrow_mut() = None);
        self.flush();
    }
}

impl ShardOutbox {
    fn take(&mut self, item: OutboxItem, ctx: &mut Context<Self>) {
        let added = {
            let mut buffers = self.buffers.borrow_mut();
            let before = buffers.len();
            buffers.add(item);
            buffers.len() > before
        };
        if added {
            self.schedule(ctx);
        }
    }
}

impl Handler<FlushSoon> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, _: FlushSoon, ctx: &mut Context<Self>) {
        self.schedule(ctx);
    }
}

impl Handler<Take> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: Take, ctx: &mut Context<Self>) {
        self.take(msg.0, ctx);
    }
}

impl Handler<FoldPnl> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: FoldPnl, ctx: &mut Context<Self>) {
        self.take(OutboxItem::Pnl(msg.delta), ctx);
    }
}

impl Handler<SaveSymbolState> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: SaveSymbolState, ctx: &mut Context<Self>) {
        self.take(OutboxItem::State(msg.symbol, msg.state), ctx);
    }
}

impl Handler<RecordLedger> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: RecordLedger, ctx: &mut Context<Self>) {
        self.take(OutboxItem::Row(msg.row), ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::Money;
    use std::sync::{Arc, Mutex};

    /// Collects the batches the metrics fold would get.
    struct Collect(Arc<Mutex<Vec<Vec<u64>>>>);
    impl Actor for Collect {
        type Context = Context<Self>;
    }
    impl Handler<FoldPnlBatch> for Collect {
        type Result = ();
        fn handle(&mut self, msg: FoldPnlBatch, _: &mut Context<Self>) {
            self.0.lock().unwrap().push(msg.deltas.iter().map(|d| d.seq).collect());
        }
    }

    fn delta(seq: u64) -> PnlDelta {
        PnlDelta {
            symbol: Symbol::new("BTCUSD.s").unwrap(),
            seq,
            realized: Money::ZERO,
            fee: Money::ZERO,
            closed_trade: None,
            exposure_after: Money::ZERO,
        }
    }

    /// Pushed through the port on the outbox's thread: every delta arrives, in order, in
    /// one batch within the flush interval; a full batch goes at once; while the buffers
    /// are in use a push goes as a message instead, and is not lost.
    #[actix_rt::test]
    async fn pushes_arrive_in_order_batched_and_none_is_lost() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let metrics = Collect(Arc::clone(&seen)).start().recipient();
        let outbox = ShardOutbox::new(metrics, None).start();
        actix_rt::time::sleep(Duration::from_millis(5)).await;
        let port = hosted_port().expect("the outbox lists itself on its thread");
        for seq in 1..=3 {
            port.push(OutboxItem::Pnl(delta(seq)));
        }
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(*seen.lock().unwrap(), vec![vec![1, 2, 3]], "one batch, in order");
        seen.lock().unwrap().clear();

        for seq in 1..=MAX_BATCH as u64 {
            port.push(OutboxItem::Pnl(delta(seq)));
        }
        assert_eq!(port.buffers.borrow().len(), 0, "a full batch is handed over at once");

        seen.lock().unwrap().clear();
        let held = port.buffers.borrow_mut();
        port.push(OutboxItem::Pnl(delta(99)));
        drop(held);
        actix_rt::time::sleep(Duration::from_millis(20)).await;
        let batches = seen.lock().unwrap().clone();
        assert!(batches.iter().flatten().any(|s| *s == 99), "the delta pushed while in use arrived: {batches:?}");
        drop(outbox);
    }
}

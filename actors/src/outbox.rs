//! A shard's outbox: what the shard's symbols send off the hot path (PnL deltas for the
//! metrics fold, durable states for the state store, rows for the trade ledger's writer
//! thread) is collected on the shard's own
//! thread and handed over in batches, at most one hand-off per destination every
//! [`FLUSH_EVERY`]. A message to an actor on another thread wakes that thread; one wake per
//! batch instead of one per fill keeps those threads off the cores the shards need.
//!
//! Nothing is lost or reordered: deltas and ledger rows keep their order (one batch after
//! another, on one channel), and a symbol's state is the latest one. The ledger's channel
//! is bounded and never waited on: a batch it cannot take is dropped and counted
//! (`trade_ledger::LedgerSender::send`), never a stall of the shard.

use std::collections::HashMap;
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

pub struct ShardOutbox {
    metrics: Recipient<FoldPnlBatch>,
    store: Option<Recipient<SaveStates>>,
    deltas: Vec<PnlDelta>,
    states: HashMap<Symbol, DurableSymbol>,
    /// The trade ledger's writer (`None`: no ledger) and the rows for it.
    ledger: Option<trade_ledger::LedgerSender>,
    rows: Vec<trade_ledger::LedgerRow>,
    flush_scheduled: bool,
}

impl ShardOutbox {
    pub fn new(metrics: Recipient<FoldPnlBatch>, store: Option<Recipient<SaveStates>>) -> ShardOutbox {
        ShardOutbox {
            metrics,
            store,
            deltas: Vec::new(),
            states: HashMap::new(),
            ledger: None,
            rows: Vec::new(),
            flush_scheduled: false,
        }
    }

    /// Hands ledger rows to this writer (in the same batches, at most every [`FLUSH_EVERY`]).
    pub fn with_ledger(mut self, ledger: Option<trade_ledger::LedgerSender>) -> ShardOutbox {
        self.ledger = ledger;
        self
    }

    fn flush(&mut self) {
        self.flush_scheduled = false;
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

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.deltas.len() + self.states.len() + self.rows.len() >= MAX_BATCH {
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

    /// What is still here goes out when the shard stops.
    fn stopped(&mut self, _: &mut Context<Self>) {
        self.flush();
    }
}

impl Handler<FoldPnl> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: FoldPnl, ctx: &mut Context<Self>) {
        self.deltas.push(msg.delta);
        self.schedule(ctx);
    }
}

impl Handler<SaveSymbolState> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: SaveSymbolState, ctx: &mut Context<Self>) {
        if self.store.is_some() {
            self.states.insert(msg.symbol, msg.state);
            self.schedule(ctx);
        }
    }
}

impl Handler<RecordLedger> for ShardOutbox {
    type Result = ();
    fn handle(&mut self, msg: RecordLedger, ctx: &mut Context<Self>) {
        if self.ledger.is_some() {
            self.rows.push(msg.row);
            self.schedule(ctx);
        }
    }
}

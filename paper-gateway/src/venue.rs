//! The paper venue: the gateway's matching and books, with no I/O.
//!
//! Market and IOC orders fill at the current touch (buy at the ask, sell at the bid) moved
//! by a configurable slippage; the fee is `fee_ppm` of the notional. Idempotency: a
//! repeated `intent_id` with the same body gets the stored reports again with
//! `poss_dup = true`, never a second fill; the same id with a different body is rejected
//! (and not stored). The ledger books every fill with the engine's accounting rule
//! (docs/PROTOCOL.md §12), so its totals are comparable to the engine's exactly.

use std::collections::{BTreeMap, HashMap, HashSet};

use engine::book::{FillOutcome, PositionBook};
use protocol::{
    ExecId, ExecReport, ExecType, IntentId, Money, NewOrder, OrdStatus, OrdType, OrderId, OrderStatusQuery,
    PositionEntry, PositionSnapshot, Ppm, Price, Qty, RejectCode, Side, Symbol, Tick,
};
use serde::{Deserialize, Serialize};

/// Venue settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VenueConfig {
    pub fee: Ppm,
    /// Price moved against the taker by this many ppm.
    pub slippage_ppm: u32,
}

impl Default for VenueConfig {
    fn default() -> Self {
        VenueConfig { fee: Ppm(250), slippage_ppm: 0 }
    }
}

/// An order and every report it produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub order: NewOrder,
    pub reports: Vec<ExecReport>,
}

/// One symbol's line of the ledger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLine {
    pub realized: Money,
    pub fees: Money,
    pub fills: u64,
}

impl LedgerLine {
    pub fn net(&self) -> Money {
        self.realized.checked_sub(self.fees).unwrap_or(Money::ZERO)
    }
}

/// What the venue did with an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Handled {
    pub reports: Vec<ExecReport>,
    /// True when this order was new (not a repeat), so a journal should record it.
    pub new_record: bool,
}

#[derive(Default)]
pub struct PaperVenue {
    config: VenueConfig,
    symbols: HashSet<Symbol>,
    quotes: HashMap<Symbol, (Price, Price)>,
    orders: HashMap<IntentId, OrderRecord>,
    /// Intents answered `unknown_order`: refused forever after.
    dead: HashSet<IntentId>,
    books: BTreeMap<Symbol, PositionBook>,
    next_order_id: u64,
    next_exec_id: u64,
    duplicates: u64,
    /// Time of the request being handled (stamped on its reports).
    now_ns: u64,
    /// A replay's recorded time of the quote the next order fills at: stamped on its
    /// reports instead of the wall clock (see `set_data_time`).
    data_time: Option<u64>,
}

impl PaperVenue {
    /// `id_base`: where order and execution ids start. Ids must never repeat across gateway
    /// restarts (the engine de-duplicates fills by `exec_id`), so a gateway without a journal
    /// passes the wall clock in microseconds; `restore` moves past any journaled id.
    pub fn new(config: VenueConfig, symbols: impl IntoIterator<Item = Symbol>, id_base: u64) -> PaperVenue {
        let base = id_base.max(1);
        PaperVenue {
            config,
            symbols: symbols.into_iter().collect(),
            next_order_id: base,
            next_exec_id: base,
            ..Default::default()
        }
    }

    pub fn on_tick(&mut self, tick: &Tick) {
        self.set_quote(tick.symbol, tick.bid, tick.ask);
    }

    /// The touch orders fill against.
    pub fn set_quote(&mut self, symbol: Symbol, bid: Price, ask: Price) {
        self.quotes.insert(symbol, (bid, ask));
    }

    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    pub fn orders(&self) -> usize {
        self.orders.len()
    }

    /// In a replay, the recorded time of the quote the next order fills at: its reports
    /// carry it as `transact_ns` (the replayed market's time of the execution). `None`: the
    /// wall clock, as given to `new_order`.
    pub fn set_data_time(&mut self, data_time: Option<u64>) {
        self.data_time = data_time;
    }

    /// Every fill of every order, in execution order.
    pub fn fills(&self) -> Vec<ExecReport> {
        let mut fills: Vec<ExecReport> =
            self.orders.values().flat_map(|r| r.reports.iter().filter(|r| r.is_fill()).cloned()).collect();
        fills.sort_by_key(|f| f.exec_id);
        fills
    }

    /// Handles a `NewOrder`. `inject_reject` forces a risk reject (fault injection).
    pub fn new_order(&mut self, order: &NewOrder, now_ns: u64, inject_reject: bool) -> Handled {
        self.now_ns = self.data_time.unwrap_or(now_ns);
        if let Some(record) = self.orders.get(&order.intent_id) {
            // A retry may recompute its expiry; everything else must be the same order.
            let same = NewOrder { expire_at_ns: record.order.expire_at_ns, ..order.clone() } == record.order;
            if same {
                self.duplicates += 1;
                let reports = record.reports.iter().cloned().map(|mut r| {
                    r.poss_dup = true;
                    r
                });
                return Handled { reports: reports.collect(), new_record: false };
            }
            let reject = self.report(
                order,
                ExecType::Rejected,
                OrdStatus::Rejected,
                RejectCode::DuplicateIntentMismatch,
                "intent id reused with a different order",
            );
            return Handled { reports: vec![reject], new_record: false };
        }
        let reports = vec![self.execute(order, now_ns, inject_reject)];
        self.orders.insert(order.intent_id, OrderRecord { order: order.clone(), reports: reports.clone() });
        Handled { reports, new_record: true }
    }

    fn execute(&mut self, order: &NewOrder, now_ns: u64, inject_reject: bool) -> ExecReport {
        let reject = |venue: &mut Self, code, text: &str| {
            venue.report(order, ExecType::Rejected, OrdStatus::Rejected, code, text)
        };
        if self.dead.contains(&order.intent_id) {
            return reject(self, RejectCode::Expired, "intent already answered unknown_order");
        }
        if order.expire_at_ns != 0 && now_ns > order.expire_at_ns {
            return reject(self, RejectCode::Expired, "arrived after expire_at_ns");
        }
        if !self.symbols.contains(&order.symbol) {
            return reject(self, RejectCode::UnknownSymbol, "symbol not traded here");
        }
        let Some((bid, ask)) = self.quotes.get(&order.symbol).copied() else {
            return reject(self, RejectCode::NoMarket, "no quote yet");
        };
        if inject_reject {
            return reject(self, RejectCode::GatewayRisk, "injected reject");
        }
        let slip = i64::from(self.config.slippage_ppm);
        let price = match order.side {
            Side::Buy => ask.offset_ppm(slip),
            Side::Sell => bid.offset_ppm(-slip),
        };
        let Ok(price) = price else { return reject(self, RejectCode::InvalidPrice, "price out of range") };
        if order.ord_type == OrdType::Ioc {
            let limit = order.limit_price.unwrap_or(Price::ZERO);
            let crosses = match order.side {
                Side::Buy => price <= limit,
                Side::Sell => price >= limit,
            };
            if !crosses {
                return self.report(
                    order,
                    ExecType::Canceled,
                    OrdStatus::Canceled,
                    RejectCode::None,
                    "ioc: no liquidity at the limit",
                );
            }
        }
        let fee = match price.notional(order.qty).and_then(|n| n.mul_ppm(self.config.fee)) {
            Ok(fee) => fee,
            Err(_) => return reject(self, RejectCode::InvalidQty, "notional out of range"),
        };
        let exec_id = ExecId(self.next_exec_id);
        let book = self.books.entry(order.symbol).or_default();
        match book.apply_fill(exec_id, order.side, order.qty, price, fee) {
            Ok(FillOutcome::Applied(_)) => {}
            Ok(FillOutcome::Duplicate) | Err(_) => {
                return reject(self, RejectCode::InvalidQty, "fill could not be booked")
            }
        }
        let mut fill = self.report(order, ExecType::Fill, OrdStatus::Filled, RejectCode::None, "");
        debug_assert_eq!(fill.exec_id, exec_id);
        fill.last_qty = order.qty;
        fill.last_px = price;
        fill.cum_qty = order.qty;
        fill.fee = fee;
        fill
    }

    /// A new report with its own execution id. Rejected orders get no order id (0).
    fn report(
        &mut self,
        order: &NewOrder,
        exec_type: ExecType,
        ord_status: OrdStatus,
        code: RejectCode,
        text: &str,
    ) -> ExecReport {
        let order_id = if ord_status == OrdStatus::Rejected {
            OrderId(0)
        } else {
            self.next_order_id += 1;
            OrderId(self.next_order_id - 1)
        };
        let exec_id = ExecId(self.next_exec_id);
        self.next_exec_id += 1;
        ExecReport {
            intent_id: order.intent_id,
            order_id,
            exec_id,
            symbol: order.symbol,
            side: order.side,
            exec_type,
            ord_status,
            last_qty: Qty::ZERO,
            last_px: Price::ZERO,
            cum_qty: Qty::ZERO,
            leaves_qty: Qty::ZERO,
            fee: Money::ZERO,
            reject_code: code,
            reject_text: text.to_string(),
            poss_dup: false,
            transact_ns: self.now_ns,
        }
    }

    /// Answers a status query: every stored report replayed (`poss_dup`), then a final
    /// `order_status` report. An unknown intent gets `unknown_order` and is refused forever.
    pub fn status_query(&mut self, query: &OrderStatusQuery) -> Vec<ExecReport> {
        let Some(intent_id) = query.intent_id else {
            // Market and IOC orders are never left open, so nothing is open.
            return Vec::new();
        };
        match self.orders.get(&intent_id).map(|record| record.reports.clone()) {
            Some(stored) => {
                let mut reports: Vec<ExecReport> = stored
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.poss_dup = true;
                        r
                    })
                    .collect();
                if let Some(last) = stored.last() {
                    let mut status = last.clone();
                    status.exec_id = ExecId(self.next_exec_id);
                    self.next_exec_id += 1;
                    status.exec_type = ExecType::OrderStatus;
                    status.last_qty = Qty::ZERO;
                    status.last_px = Price::ZERO;
                    status.fee = Money::ZERO;
                    reports.push(status);
                }
                reports
            }
            None => {
                // Decoding guarantees the symbol whenever an intent is named.
                let Some(symbol) = query.symbol else { return Vec::new() };
                self.dead.insert(intent_id);
                let order = NewOrder {
                    intent_id,
                    symbol,
                    side: Side::Buy,
                    qty: Qty::ZERO,
                    ord_type: OrdType::Market,
                    limit_price: None,
                    expire_at_ns: 0,
                };
                vec![self.report(
                    &order,
                    ExecType::OrderStatus,
                    OrdStatus::Rejected,
                    RejectCode::UnknownOrder,
                    "unknown intent",
                )]
            }
        }
    }

    /// Positions and realized PnL per symbol.
    pub fn snapshot(&self, request_id: u64) -> PositionSnapshot {
        let positions = self
            .books
            .iter()
            .map(|(symbol, book)| {
                let position = book.position();
                PositionEntry {
                    symbol: *symbol,
                    side: position.map_or(Side::Buy, |p| p.direction.entry_side()),
                    qty: position.map_or(Qty::ZERO, |p| p.qty),
                    cost: position.map_or(Money::ZERO, |p| p.cost),
                    realized_pnl: book.realized(),
                    fees: book.fees(),
                    fills: book.fills(),
                }
            })
            .collect();
        PositionSnapshot { request_id, positions, open_orders: Vec::new() }
    }

    /// The ledger per symbol.
    pub fn ledger(&self) -> BTreeMap<Symbol, LedgerLine> {
        self.books
            .iter()
            .map(|(s, b)| (*s, LedgerLine { realized: b.realized(), fees: b.fees(), fills: b.fills() }))
            .collect()
    }

    /// Net realized PnL over all symbols.
    pub fn ledger_total_net(&self) -> Money {
        Money::checked_sum(self.ledger().values().map(LedgerLine::net)).unwrap_or(Money::ZERO)
    }

    /// Rebuilds state from journaled records (a restart).
    pub fn restore(
        &mut self,
        records: impl IntoIterator<Item = OrderRecord>,
        dead: impl IntoIterator<Item = IntentId>,
    ) {
        for record in records {
            for r in &record.reports {
                if r.is_fill() {
                    let book = self.books.entry(r.symbol).or_default();
                    let _ = book.apply_fill(r.exec_id, r.side, r.last_qty, r.last_px, r.fee);
                    self.next_exec_id = self.next_exec_id.max(r.exec_id.0 + 1);
                }
                self.next_order_id = self.next_order_id.max(r.order_id.0 + 1);
            }
            self.orders.insert(record.order.intent_id, record);
        }
        self.dead.extend(dead);
    }

    /// The stored record of an intent.
    pub fn record(&self, intent: IntentId) -> Option<&OrderRecord> {
        self.orders.get(&intent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym() -> Symbol {
        Symbol::new("BTCUSD.s").unwrap()
    }

    fn venue() -> PaperVenue {
        let mut v = PaperVenue::new(VenueConfig { fee: Ppm(1_000), slippage_ppm: 0 }, [sym()], 1);
        v.on_tick(&Tick {
            symbol: sym(),
            bid: "99".parse().unwrap(),
            ask: "101".parse().unwrap(),
            ts_ns: 0,
            md_seq: 1,
        });
        v
    }

    fn order(intent: u64, side: Side, qty: &str) -> NewOrder {
        NewOrder {
            intent_id: IntentId(intent),
            symbol: sym(),
            side,
            qty: qty.parse().unwrap(),
            ord_type: OrdType::Market,
            limit_price: None,
            expire_at_ns: 0,
        }
    }

    #[test]
    fn fills_at_the_touch_with_fee_and_books_the_ledger() {
        let mut v = venue();
        let buy = v.new_order(&order(1, Side::Buy, "2"), 0, false).reports.remove(0);
        assert_eq!(
            (buy.ord_status, buy.last_px, buy.fee),
            (OrdStatus::Filled, "101".parse().unwrap(), "0.202".parse().unwrap())
        );
        let sell = v.new_order(&order(2, Side::Sell, "2"), 0, false).reports.remove(0);
        assert_eq!(sell.last_px, "99".parse().unwrap());
        let line = v.ledger()[&sym()];
        assert_eq!(line.realized, "-4".parse().unwrap());
        assert_eq!(line.fees, "0.4".parse().unwrap());
        assert_eq!(v.ledger_total_net(), "-4.4".parse().unwrap());
    }

    #[test]
    fn a_repeated_intent_never_fills_twice() {
        let mut v = venue();
        let first = v.new_order(&order(1, Side::Buy, "1"), 0, false);
        let again = v.new_order(&order(1, Side::Buy, "1"), 0, false);
        assert!(!again.new_record);
        assert!(again.reports[0].poss_dup);
        assert_eq!(again.reports[0].exec_id, first.reports[0].exec_id);
        assert_eq!(v.ledger()[&sym()].fills, 1);
        let mismatch = v.new_order(&order(1, Side::Sell, "1"), 0, false);
        assert_eq!(mismatch.reports[0].reject_code, RejectCode::DuplicateIntentMismatch);
        assert_eq!(v.record(IntentId(1)).unwrap().order.side, Side::Buy, "original unaffected");
    }

    #[test]
    fn rejects_expired_unknown_symbol_no_market_and_injected() {
        let mut v = venue();
        let mut late = order(1, Side::Buy, "1");
        late.expire_at_ns = 10;
        assert_eq!(v.new_order(&late, 11, false).reports[0].reject_code, RejectCode::Expired);
        let mut other = order(2, Side::Buy, "1");
        other.symbol = Symbol::new("ETHUSD.s").unwrap();
        assert_eq!(v.new_order(&other, 0, false).reports[0].reject_code, RejectCode::UnknownSymbol);
        assert_eq!(v.new_order(&order(3, Side::Buy, "1"), 0, true).reports[0].reject_code, RejectCode::GatewayRisk);
        let mut fresh = PaperVenue::new(VenueConfig::default(), [sym()], 1);
        assert_eq!(fresh.new_order(&order(4, Side::Buy, "1"), 0, false).reports[0].reject_code, RejectCode::NoMarket);
        assert_eq!(v.ledger_total_net(), Money::ZERO);
    }

    #[test]
    fn status_query_replays_then_answers_and_unknown_is_final() {
        let mut v = venue();
        v.new_order(&order(1, Side::Buy, "1"), 0, false);
        let replies = v.status_query(&OrderStatusQuery { intent_id: Some(IntentId(1)), symbol: Some(sym()) });
        assert_eq!(replies.len(), 2);
        assert!(replies[0].poss_dup && replies[0].is_fill());
        assert_eq!(replies[1].exec_type, ExecType::OrderStatus);
        let unknown = v.status_query(&OrderStatusQuery { intent_id: Some(IntentId(9)), symbol: Some(sym()) });
        assert_eq!((unknown[0].reject_code, unknown[0].symbol), (RejectCode::UnknownOrder, sym()));
        // the order arriving late is refused: the unknown answer stays true
        assert_eq!(v.new_order(&order(9, Side::Buy, "1"), 0, false).reports[0].reject_code, RejectCode::Expired);
    }

    #[test]
    fn ioc_cancels_when_the_limit_does_not_cross() {
        let mut v = venue();
        let mut ioc = order(1, Side::Buy, "1");
        ioc.ord_type = OrdType::Ioc;
        ioc.limit_price = Some("100".parse().unwrap());
        assert_eq!(v.new_order(&ioc, 0, false).reports[0].ord_status, OrdStatus::Canceled);
        ioc.intent_id = IntentId(2);
        ioc.limit_price = Some("101".parse().unwrap());
        assert_eq!(v.new_order(&ioc, 0, false).reports[0].ord_status, OrdStatus::Filled);
    }

    #[test]
    fn restore_rebuilds_the_ledger() {
        let mut v = venue();
        v.new_order(&order(1, Side::Buy, "1"), 0, false);
        v.new_order(&order(2, Side::Sell, "1"), 0, false);
        let records: Vec<_> = [1, 2].iter().map(|i| v.record(IntentId(*i)).unwrap().clone()).collect();
        let mut restored = PaperVenue::new(VenueConfig::default(), [sym()], 1);
        restored.restore(records, [IntentId(7)]);
        assert_eq!(restored.ledger(), v.ledger());
        restored.set_quote(sym(), "99".parse().unwrap(), "101".parse().unwrap());
        let next = restored.new_order(&order(8, Side::Buy, "1"), 0, false).reports.remove(0);
        assert!(
            next.exec_id.0 > v.record(IntentId(2)).unwrap().reports[0].exec_id.0,
            "ids never repeat after a restore"
        );
        assert_eq!(restored.new_order(&order(7, Side::Buy, "1"), 0, false).reports[0].reject_code, RejectCode::Expired);
    }
}

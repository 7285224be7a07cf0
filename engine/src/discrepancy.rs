//! Discrepancies: execution reports that contradict what the engine asked for.
//!
//! The venue is the truth about what happened; the engine is the truth about what it asked
//! for. A fill is vetted against the order it answers ([`SentOrder`]) before it may touch a
//! book: the wrong side, more than the order's quantity, a fill for an order already done
//! or never sent, or a price far outside the market is a [`DiscrepancyCode`]. The core never
//! books such a fill; it halts the symbol, and the books follow the venue only through a
//! position snapshot that an operator adopts.

use protocol::{ExecReport, IntentId, Price, Qty, Side};

use crate::efsm::Direction;

/// What was wrong with a report. Stable codes for logs, status and the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DiscrepancyCode {
    /// A fill on the other side than the order.
    WrongSide,
    /// Fills beyond the order's quantity (`cum_qty` or the sum of `last_qty` > qty).
    Overfill,
    /// A fill with a new `exec_id` for an order that already had its terminal report.
    FillAfterTerminal,
    /// A fill for an intent this symbol never sent (or no longer remembers).
    UnknownIntent,
    /// A fill price outside the allowed band around the market at the time of the fill.
    PriceOutOfBand,
    /// The fill cannot be booked (fixed-point overflow).
    Unbookable,
    /// The gateway's position snapshot disagrees with the book (side, qty, cost, PnL, fees).
    SnapshotMismatch,
    /// `cum_qty` contradicts the fills booked for the order: less than booked (it goes
    /// backwards), or, in a status answer, more than its replay delivered.
    CumQtyMismatch,
}

impl DiscrepancyCode {
    pub const ALL: [DiscrepancyCode; 8] = [
        DiscrepancyCode::WrongSide,
        DiscrepancyCode::Overfill,
        DiscrepancyCode::FillAfterTerminal,
        DiscrepancyCode::UnknownIntent,
        DiscrepancyCode::PriceOutOfBand,
        DiscrepancyCode::Unbookable,
        DiscrepancyCode::SnapshotMismatch,
        DiscrepancyCode::CumQtyMismatch,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            DiscrepancyCode::WrongSide => "WRONG_SIDE",
            DiscrepancyCode::Overfill => "OVERFILL",
            DiscrepancyCode::FillAfterTerminal => "FILL_AFTER_TERMINAL",
            DiscrepancyCode::UnknownIntent => "UNKNOWN_INTENT",
            DiscrepancyCode::PriceOutOfBand => "PRICE_OUT_OF_BAND",
            DiscrepancyCode::Unbookable => "UNBOOKABLE",
            DiscrepancyCode::SnapshotMismatch => "SNAPSHOT_MISMATCH",
            DiscrepancyCode::CumQtyMismatch => "CUM_QTY_MISMATCH",
        }
    }

    pub const fn index(self) -> usize {
        self as usize
    }
}

impl std::fmt::Display for DiscrepancyCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Discrepancies counted by code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiscrepancyCounts([u64; DiscrepancyCode::ALL.len()]);

impl DiscrepancyCounts {
    pub fn record(&mut self, code: DiscrepancyCode) {
        self.0[code.index()] += 1;
    }
    pub fn get(&self, code: DiscrepancyCode) -> u64 {
        self.0[code.index()]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn add(&mut self, other: &DiscrepancyCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }
    /// `(code, count)` for every code seen at least once.
    pub fn nonzero(&self) -> impl Iterator<Item = (DiscrepancyCode, u64)> + '_ {
        DiscrepancyCode::ALL.iter().map(|c| (*c, self.get(*c))).filter(|(_, n)| *n > 0)
    }
}

/// The order the engine put on the wire, as far as vetting its reports needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentOrder {
    pub intent: IntentId,
    pub side: Side,
    pub qty: Qty,
    /// Sum of the `last_qty` booked for it so far.
    pub filled: Qty,
    /// An entry's direction; `None` for an exit.
    pub entry: Option<Direction>,
    /// Restored from the journal after a crash: `filled` was booked by the previous process,
    /// whose fill ids are not known, so a replayed fill up to `filled` is already booked.
    pub restored: bool,
}

/// The report's side of a discrepancy, for the log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportFacts {
    pub intent: IntentId,
    pub exec_id: u64,
    pub side: Side,
    pub last_qty: Qty,
    pub last_px: Price,
    pub cum_qty: Qty,
    pub terminal: bool,
}

impl ReportFacts {
    pub fn of(report: &ExecReport) -> ReportFacts {
        ReportFacts {
            intent: report.intent_id,
            exec_id: report.exec_id.0,
            side: report.side,
            last_qty: report.last_qty,
            last_px: report.last_px,
            cum_qty: report.cum_qty,
            terminal: report.ord_status.is_terminal(),
        }
    }
}

/// One discrepancy, with the order and the report side by side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Discrepancy {
    pub code: DiscrepancyCode,
    /// What the engine asked for (`None`: nothing it knows of).
    pub expected: Option<SentOrder>,
    /// The reference price the fill was judged against (price band), if any.
    pub reference: Option<Price>,
    pub report: ReportFacts,
}

/// How far a fill price may be from the touch (ask for a buy, bid for a sell), in parts
/// per million of the touch. `0` disables the check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PriceBand {
    pub max_deviation_ppm: u64,
}

impl Default for PriceBand {
    fn default() -> Self {
        // 10 %: far beyond any slippage a market order should see, far below a fat finger.
        PriceBand { max_deviation_ppm: 100_000 }
    }
}

impl PriceBand {
    /// Is `price` within the band around `reference`? Exact integer arithmetic.
    pub fn allows(&self, price: Price, reference: Price) -> bool {
        if self.max_deviation_ppm == 0 || reference.raw() <= 0 {
            return true;
        }
        let diff = (i128::from(price.raw()) - i128::from(reference.raw())).abs();
        diff * 1_000_000 <= i128::from(reference.raw()) * i128::from(self.max_deviation_ppm)
    }
}

/// Vets a new fill (an `exec_id` not booked before) for the order it claims to answer.
/// `order`: the order with this intent if the symbol has it on the wire (or left over from a
/// halt); `finished`: the intent's order is known and already done; `reference`: the touch
/// price on the fill's side at the time of the fill, if a tick was seen.
pub fn vet_fill(
    order: Option<&SentOrder>,
    finished: bool,
    report: &ExecReport,
    band: PriceBand,
    reference: Option<Price>,
) -> Result<(), DiscrepancyCode> {
    let Some(order) = order.filter(|o| o.intent == report.intent_id) else {
        return Err(if finished { DiscrepancyCode::FillAfterTerminal } else { DiscrepancyCode::UnknownIntent });
    };
    if report.side != order.side {
        return Err(DiscrepancyCode::WrongSide);
    }
    let total = order.filled.checked_add(report.last_qty).map_err(|_| DiscrepancyCode::Overfill)?;
    if total > order.qty || report.cum_qty > order.qty {
        return Err(DiscrepancyCode::Overfill);
    }
    if report.cum_qty < total {
        // The venue says less has executed than this fill would make booked.
        return Err(DiscrepancyCode::CumQtyMismatch);
    }
    if reference.is_some_and(|r| !band.allows(report.last_px, r)) {
        return Err(DiscrepancyCode::PriceOutOfBand);
    }
    Ok(())
}

/// A bounded memory of orders that are done (for `FillAfterTerminal`, and to show the
/// order beside the report).
#[derive(Clone, Debug, Default)]
pub struct FinishedIntents {
    ring: std::collections::VecDeque<SentOrder>,
}

impl FinishedIntents {
    /// How many finished orders a symbol remembers.
    pub const CAPACITY: usize = 64;

    pub fn insert(&mut self, order: SentOrder) {
        if self.get(order.intent).is_some() {
            return;
        }
        if self.ring.len() == Self::CAPACITY {
            self.ring.pop_front();
        }
        self.ring.push_back(order);
    }
    pub fn get(&self, intent: IntentId) -> Option<SentOrder> {
        self.ring.iter().rev().find(|o| o.intent == intent).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExecId, ExecType, Money, OrdStatus, OrderId, RejectCode, Symbol};

    fn qty(units: i64) -> Qty {
        Qty::from_raw(units * 100_000_000).expect("qty")
    }
    fn px(units: i64) -> Price {
        Price::from_raw(units * 100_000_000).expect("price")
    }
    fn order() -> SentOrder {
        SentOrder { intent: IntentId(7), side: Side::Buy, qty: qty(2), filled: Qty::ZERO, entry: None, restored: false }
    }
    fn fill(side: Side, last: i64, cum: i64, price: i64) -> ExecReport {
        ExecReport {
            intent_id: IntentId(7),
            order_id: OrderId(1),
            exec_id: ExecId(100),
            symbol: Symbol::new("BTCUSD.s").expect("symbol"),
            side,
            exec_type: if cum == 2 { ExecType::Fill } else { ExecType::PartialFill },
            ord_status: if cum == 2 { OrdStatus::Filled } else { OrdStatus::PartiallyFilled },
            last_qty: qty(last),
            last_px: px(price),
            cum_qty: qty(cum),
            leaves_qty: Qty::ZERO,
            fee: Money::ZERO,
            reject_code: RejectCode::None,
            reject_text: String::new(),
            poss_dup: false,
            transact_ns: 0,
        }
    }
    const BAND: PriceBand = PriceBand { max_deviation_ppm: 100_000 };

    #[test]
    fn a_matching_fill_passes() {
        assert_eq!(vet_fill(Some(&order()), false, &fill(Side::Buy, 2, 2, 100), BAND, Some(px(100))), Ok(()));
    }

    #[test]
    fn each_contradiction_has_its_code() {
        let o = order();
        let cases = [
            (vet_fill(Some(&o), false, &fill(Side::Sell, 2, 2, 100), BAND, None), DiscrepancyCode::WrongSide),
            (vet_fill(Some(&o), false, &fill(Side::Buy, 3, 3, 100), BAND, None), DiscrepancyCode::Overfill),
            (vet_fill(Some(&o), false, &fill(Side::Buy, 1, 3, 100), BAND, None), DiscrepancyCode::Overfill),
            (vet_fill(Some(&o), false, &fill(Side::Buy, 2, 1, 100), BAND, None), DiscrepancyCode::CumQtyMismatch),
            (vet_fill(None, true, &fill(Side::Buy, 2, 2, 100), BAND, None), DiscrepancyCode::FillAfterTerminal),
            (vet_fill(None, false, &fill(Side::Buy, 2, 2, 100), BAND, None), DiscrepancyCode::UnknownIntent),
            (
                vet_fill(Some(&o), false, &fill(Side::Buy, 2, 2, 100_000), BAND, Some(px(100))),
                DiscrepancyCode::PriceOutOfBand,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, Err(want));
        }
    }

    #[test]
    fn a_second_partial_beyond_the_order_is_an_overfill() {
        let mut o = order();
        o.filled = qty(1);
        assert_eq!(vet_fill(Some(&o), false, &fill(Side::Buy, 1, 2, 100), BAND, None), Ok(()));
        assert_eq!(vet_fill(Some(&o), false, &fill(Side::Buy, 2, 2, 100), BAND, None), Err(DiscrepancyCode::Overfill));
    }

    #[test]
    fn the_band_is_exact_at_its_edge_and_can_be_off() {
        assert!(BAND.allows(px(110), px(100)));
        assert!(BAND.allows(px(90), px(100)));
        assert!(!BAND.allows(Price::from_raw(110 * 100_000_000 + 1).expect("price"), px(100)));
        assert!(PriceBand { max_deviation_ppm: 0 }.allows(px(1_000_000), px(1)));
    }

    #[test]
    fn finished_intents_are_bounded() {
        let mut f = FinishedIntents::default();
        for i in 0..(FinishedIntents::CAPACITY as u64 + 10) {
            f.insert(SentOrder { intent: IntentId(i), ..order() });
        }
        assert!(f.get(IntentId(0)).is_none());
        assert_eq!(f.get(IntentId(FinishedIntents::CAPACITY as u64 + 9)).map(|o| o.qty), Some(qty(2)));
    }

    #[test]
    fn counts_add_up_by_code() {
        let mut c = DiscrepancyCounts::default();
        c.record(DiscrepancyCode::Overfill);
        c.record(DiscrepancyCode::Overfill);
        c.record(DiscrepancyCode::WrongSide);
        assert_eq!(c.total(), 3);
        assert_eq!(
            c.nonzero().collect::<Vec<_>>(),
            vec![(DiscrepancyCode::WrongSide, 1), (DiscrepancyCode::Overfill, 2)]
        );
    }
}

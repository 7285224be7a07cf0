//! Reconciliation: comparing one symbol's book with the venue's ledger, like with like.
//!
//! The venue's ledger (docs/PROTOCOL.md §12.2) may have begun long before this engine
//! session: its `realized_pnl` and `fees` are all-time figures, while the engine's book
//! starts every session at zero. The first snapshot a symbol sees fixes a
//! [`VenueBaseline`] (the venue's realized PnL and fees at first contact, less the book's),
//! and every later comparison is:
//! - the position (side, qty and cost basis) absolutely;
//! - realized PnL and fees over the session: `venue − baseline == book`.

use std::collections::HashMap;

use protocol::{Money, PositionEntry, PositionSnapshot, Qty, Symbol};

use crate::book::{Position, PositionBook};
use crate::efsm::Direction;

/// One symbol in the venue's position snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VenueView {
    /// `None`: flat at the venue.
    pub position: Option<Position>,
    /// Gross realized PnL and fees since the venue's ledger began.
    pub realized: Money,
    pub fees: Money,
}

impl VenueView {
    /// From a snapshot entry (`None`: the symbol is not listed, i.e. all zero).
    pub fn from_entry(entry: Option<&PositionEntry>) -> VenueView {
        let Some(e) = entry else { return VenueView::default() };
        let position = (!e.qty.is_zero()).then(|| Position {
            direction: Direction::from_entry_side(e.side),
            qty: e.qty,
            cost: e.cost,
        });
        VenueView { position, realized: e.realized_pnl, fees: e.fees }
    }
}

/// Every symbol's line of a snapshot, by symbol (a symbol not in it is flat with zeros:
/// `VenueView::default()`).
pub fn venue_views(snapshot: &PositionSnapshot) -> HashMap<Symbol, VenueView> {
    snapshot.positions.iter().map(|p| (p.symbol, VenueView::from_entry(Some(p)))).collect()
}

/// The venue's realized PnL and fees that predate this session's book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VenueBaseline {
    pub realized: Money,
    pub fees: Money,
}

impl VenueBaseline {
    /// The baseline that makes `venue` and `book` agree on PnL and fees right now.
    pub fn between(venue: &VenueView, book: &PositionBook) -> VenueBaseline {
        VenueBaseline {
            realized: venue.realized.checked_sub(book.realized()).unwrap_or(Money::ZERO),
            fees: venue.fees.checked_sub(book.fees()).unwrap_or(Money::ZERO),
        }
    }

    /// The venue's session figures: `(realized, fees)` since the baseline.
    pub fn session(&self, venue: &VenueView) -> Option<(Money, Money)> {
        Some((venue.realized.checked_sub(self.realized).ok()?, venue.fees.checked_sub(self.fees).ok()?))
    }
}

/// The first field in which the book and the venue disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MismatchField {
    Side,
    Qty,
    Cost,
    Realized,
    Fees,
}

impl MismatchField {
    pub const fn as_str(self) -> &'static str {
        match self {
            MismatchField::Side => "side",
            MismatchField::Qty => "qty",
            MismatchField::Cost => "cost",
            MismatchField::Realized => "realized_pnl",
            MismatchField::Fees => "fees",
        }
    }
}

/// The book and the venue side by side, with the first field that differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub field: MismatchField,
    pub local: Option<Position>,
    pub venue: Option<Position>,
    /// This session's realized PnL and fees: the book's and the venue's (baseline removed).
    pub local_session: (Money, Money),
    pub venue_session: (Money, Money),
}

/// Compares the book with the venue over the same span.
pub fn compare(book: &PositionBook, venue: &VenueView, baseline: &VenueBaseline) -> Result<(), Mismatch> {
    let local = book.position();
    let local_session = (book.realized(), book.fees());
    let venue_session = baseline.session(venue).unwrap_or((Money::ZERO, Money::ZERO));
    let field = position_field(local, venue.position).or_else(|| {
        if book.realized() != venue_session.0 || baseline.session(venue).is_none() {
            Some(MismatchField::Realized)
        } else if book.fees() != venue_session.1 {
            Some(MismatchField::Fees)
        } else {
            None
        }
    });
    match field {
        None => Ok(()),
        Some(field) => Err(Mismatch { field, local, venue: venue.position, local_session, venue_session }),
    }
}

fn position_field(local: Option<Position>, venue: Option<Position>) -> Option<MismatchField> {
    let qty = |p: Option<Position>| p.map_or(Qty::ZERO, |p| p.qty);
    match (local, venue) {
        (None, None) => None,
        (Some(l), Some(v)) if l.direction != v.direction => Some(MismatchField::Side),
        (Some(l), Some(v)) if l.qty != v.qty => Some(MismatchField::Qty),
        (Some(l), Some(v)) if l.cost != v.cost => Some(MismatchField::Cost),
        (Some(_), Some(_)) => None,
        _ if qty(local) != qty(venue) => Some(MismatchField::Qty),
        _ => Some(MismatchField::Side),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{ExecId, Price, Side};

    fn m(units: i64) -> Money {
        Money::units(units).expect("money")
    }
    fn long(qty: i64, cost: i64) -> Option<Position> {
        Some(Position { direction: Direction::Long, qty: Qty::units(qty).expect("qty"), cost: m(cost) })
    }
    fn book_long_one_at_100() -> PositionBook {
        let mut b = PositionBook::default();
        b.apply_fill(ExecId(1), Side::Buy, Qty::units(1).expect("qty"), Price::units(100).expect("px"), m(1))
            .expect("fill");
        b
    }

    #[test]
    fn an_all_time_ledger_compares_over_the_session_span() {
        // The venue made 500 realized and paid 20 in fees before this session began.
        let before = VenueView { position: None, realized: m(500), fees: m(20) };
        let base = VenueBaseline::between(&before, &PositionBook::default());
        let book = book_long_one_at_100();
        let after = VenueView { position: long(1, 100), realized: m(500), fees: m(21) };
        assert_eq!(compare(&book, &after, &base), Ok(()));
        // Compared all-time, the same books would not balance.
        assert!(compare(&book, &after, &VenueBaseline::default()).is_err());
    }

    #[test]
    fn every_field_is_compared() {
        let book = book_long_one_at_100();
        let base = VenueBaseline::default();
        let cases = [
            (VenueView { position: None, realized: m(0), fees: m(1) }, MismatchField::Qty),
            (
                VenueView {
                    position: Some(Position {
                        direction: Direction::Short,
                        qty: Qty::units(1).expect("q"),
                        cost: m(100),
                    }),
                    realized: m(0),
                    fees: m(1),
                },
                MismatchField::Side,
            ),
            (VenueView { position: long(2, 100), realized: m(0), fees: m(1) }, MismatchField::Qty),
            (VenueView { position: long(1, 101), realized: m(0), fees: m(1) }, MismatchField::Cost),
            (VenueView { position: long(1, 100), realized: m(3), fees: m(1) }, MismatchField::Realized),
            (VenueView { position: long(1, 100), realized: m(0), fees: m(2) }, MismatchField::Fees),
        ];
        for (venue, field) in cases {
            assert_eq!(compare(&book, &venue, &base).map_err(|e| e.field), Err(field), "{venue:?}");
        }
        let agree = VenueView { position: long(1, 100), realized: m(0), fees: m(1) };
        assert_eq!(compare(&book, &agree, &base), Ok(()));
    }
}

//! Table tests for every EFSM edge, legal and illegal, and a property test that random
//! event sequences never reach an undeclared state or change state on an illegal event.

use engine::efsm::{
    Direction, Efsm, ExecEvent, ExecState, ExitReason, HaltReason, OpenTrade, PendingOrder, ReportOutcome,
};
use engine::intent::ExitRules;
use proptest::prelude::*;
use protocol::IntentId;
use rstest::rstest;

const I: IntentId = IntentId(1);
const OTHER: IntentId = IntentId(2);
const R: ExitRules =
    ExitRules { take_profit: None, stop_loss: None, trailing: None, max_hold_secs: None, cooldown_secs: 0 };
const TRADE: OpenTrade = OpenTrade { direction: Direction::Long, opened_at: 5, rules: R };

fn entry_pending() -> ExecState {
    ExecState::EntryPending { intent: I, direction: Direction::Long, rules: R, sent_at: 1 }
}
fn open() -> ExecState {
    ExecState::Open { trade: TRADE }
}
fn exit_pending() -> ExecState {
    ExecState::ExitPending { intent: I, trade: TRADE, reason: ExitReason::TakeProfit, sent_at: 6 }
}
fn unknown_entry() -> ExecState {
    ExecState::Unknown { intent: I, order: PendingOrder::Entry { direction: Direction::Long, rules: R }, since: 2 }
}
fn unknown_exit() -> ExecState {
    ExecState::Unknown { intent: I, order: PendingOrder::Exit { trade: TRADE, reason: ExitReason::StopLoss }, since: 7 }
}
fn halted() -> ExecState {
    ExecState::Halted { reason: HaltReason::Manual }
}
fn reconciling() -> ExecState {
    ExecState::Reconciling { since: 3 }
}

fn submit_entry() -> ExecEvent {
    ExecEvent::SubmitEntry { intent: I, direction: Direction::Long, rules: R, at: 1 }
}
fn submit_exit() -> ExecEvent {
    ExecEvent::SubmitExit { intent: I, reason: ExitReason::TakeProfit, at: 6 }
}
fn working(intent: IntentId) -> ExecEvent {
    ExecEvent::Report { intent, outcome: ReportOutcome::Working, at: 9 }
}
fn done(intent: IntentId, position: Option<Direction>) -> ExecEvent {
    ExecEvent::Report { intent, outcome: ReportOutcome::Done { position }, at: 9 }
}
fn timeout(intent: IntentId) -> ExecEvent {
    ExecEvent::Timeout { intent, at: 9 }
}
fn halt() -> ExecEvent {
    ExecEvent::Halt { reason: HaltReason::Manual }
}
fn begin_reconcile() -> ExecEvent {
    ExecEvent::BeginReconcile { at: 9 }
}
fn reconciled(position: Option<Direction>) -> ExecEvent {
    ExecEvent::Reconciled { position, rules: R, at: 9 }
}

const LONG: Option<Direction> = Some(Direction::Long);
const SHORT: Option<Direction> = Some(Direction::Short);

/// Every legal edge, one per line.
#[rstest]
#[case::flat_submit_entry(ExecState::Flat, submit_entry(), entry_pending())]
#[case::entry_working(entry_pending(), working(I), entry_pending())]
#[case::entry_filled(entry_pending(), done(I, LONG), ExecState::Open { trade: OpenTrade { opened_at: 9, ..TRADE } })]
#[case::entry_rejected(entry_pending(), done(I, None), ExecState::Flat)]
#[case::entry_timeout(entry_pending(), timeout(I), ExecState::Unknown { intent: I, order: PendingOrder::Entry { direction: Direction::Long, rules: R }, since: 9 })]
#[case::open_submit_exit(open(), submit_exit(), exit_pending())]
#[case::exit_working(exit_pending(), working(I), exit_pending())]
#[case::exit_filled(exit_pending(), done(I, None), ExecState::Flat)]
#[case::exit_partial_then_done(exit_pending(), done(I, LONG), open())]
#[case::exit_overfill_flips(exit_pending(), done(I, SHORT), ExecState::Halted { reason: HaltReason::PositionFlipped })]
#[case::exit_timeout(exit_pending(), timeout(I), ExecState::Unknown { intent: I, order: PendingOrder::Exit { trade: TRADE, reason: ExitReason::TakeProfit }, since: 9 })]
#[case::unknown_entry_alive(unknown_entry(), working(I), ExecState::EntryPending { intent: I, direction: Direction::Long, rules: R, sent_at: 9 })]
#[case::unknown_entry_filled(unknown_entry(), done(I, LONG), ExecState::Open { trade: OpenTrade { opened_at: 9, ..TRADE } })]
#[case::entry_filled_the_wrong_way(entry_pending(), done(I, SHORT), ExecState::Halted { reason: HaltReason::PositionFlipped })]
#[case::unknown_entry_never_happened(unknown_entry(), done(I, None), ExecState::Flat)]
#[case::unknown_exit_alive(unknown_exit(), working(I), ExecState::ExitPending { intent: I, trade: TRADE, reason: ExitReason::StopLoss, sent_at: 9 })]
#[case::unknown_exit_filled(unknown_exit(), done(I, None), ExecState::Flat)]
#[case::unknown_exit_not_filled(unknown_exit(), done(I, LONG), open())]
#[case::unknown_query_timeout(unknown_entry(), timeout(I), unknown_entry())]
#[case::halt_from_flat(ExecState::Flat, halt(), halted())]
#[case::halt_from_entry_pending(entry_pending(), halt(), halted())]
#[case::halt_from_open(open(), halt(), halted())]
#[case::halt_from_exit_pending(exit_pending(), halt(), halted())]
#[case::halt_from_unknown(unknown_exit(), halt(), halted())]
#[case::halt_from_reconciling(reconciling(), halt(), halted())]
#[case::halt_again(halted(), ExecEvent::Halt { reason: HaltReason::ReconcileMismatch }, ExecState::Halted { reason: HaltReason::ReconcileMismatch })]
#[case::halted_books_late_report(halted(), done(I, LONG), halted())]
#[case::halted_absorbs_timeout(halted(), timeout(I), halted())]
#[case::reconcile_from_flat(ExecState::Flat, begin_reconcile(), ExecState::Reconciling { since: 9 })]
#[case::reconcile_from_open(open(), begin_reconcile(), ExecState::Reconciling { since: 9 })]
#[case::reconcile_from_halted(halted(), begin_reconcile(), ExecState::Reconciling { since: 9 })]
#[case::reconciled_flat(reconciling(), reconciled(None), ExecState::Flat)]
#[case::reconciled_open(reconciling(), reconciled(SHORT), ExecState::Open { trade: OpenTrade { direction: Direction::Short, opened_at: 9, rules: R } })]
fn legal_edges(#[case] from: ExecState, #[case] event: ExecEvent, #[case] to: ExecState) {
    assert_eq!(from.transition(&event), Ok(to));
}

/// Illegal events: an error, and (through `Efsm::apply`) no state change.
#[rstest]
#[case::entry_while_pending(entry_pending(), submit_entry())]
#[case::entry_while_open(open(), submit_entry())]
#[case::entry_while_exiting(exit_pending(), submit_entry())]
#[case::entry_while_unknown(unknown_entry(), submit_entry())]
#[case::entry_while_halted(halted(), submit_entry())]
#[case::entry_while_reconciling(reconciling(), submit_entry())]
#[case::double_exit(exit_pending(), submit_exit())]
#[case::exit_while_flat(ExecState::Flat, submit_exit())]
#[case::exit_while_entry_pending(entry_pending(), submit_exit())]
#[case::exit_while_unknown(unknown_exit(), submit_exit())]
#[case::report_while_flat(ExecState::Flat, done(I, None))]
#[case::report_while_open(open(), working(I))]
#[case::report_for_other_intent(entry_pending(), done(OTHER, LONG))]
#[case::timeout_for_other_intent(exit_pending(), timeout(OTHER))]
#[case::unknown_other_intent(unknown_entry(), done(OTHER, None))]
#[case::timeout_while_flat(ExecState::Flat, timeout(I))]
#[case::report_while_reconciling(reconciling(), done(I, None))]
#[case::reconcile_with_order_in_flight(entry_pending(), begin_reconcile())]
#[case::reconcile_while_unknown(unknown_entry(), begin_reconcile())]
#[case::reconcile_twice(reconciling(), begin_reconcile())]
#[case::reconciled_without_reconciling(ExecState::Flat, reconciled(None))]
fn illegal_edges(#[case] from: ExecState, #[case] event: ExecEvent) {
    let err = from.transition(&event).unwrap_err();
    assert_eq!(err.state, from.name());
    assert_eq!(err.event, event.name());
}

#[test]
fn efsm_counts_errors_and_keeps_state() {
    let mut efsm = Efsm::default();
    assert!(efsm.apply(&submit_exit()).is_err());
    assert_eq!(efsm.state(), &ExecState::Flat);
    assert_eq!(efsm.errors(), 1);
    assert!(efsm.apply(&submit_entry()).is_ok());
    assert_eq!(efsm.transitions(), 1);
    assert_eq!(efsm.errors(), 1);
}

fn any_event() -> impl Strategy<Value = ExecEvent> {
    let intent = prop_oneof![Just(I), Just(OTHER)];
    let position = prop_oneof![Just(None), Just(LONG), Just(SHORT)];
    let direction = prop_oneof![Just(Direction::Long), Just(Direction::Short)];
    prop_oneof![
        (intent.clone(), direction.clone()).prop_map(|(intent, direction)| ExecEvent::SubmitEntry {
            intent,
            direction,
            rules: R,
            at: 1
        }),
        intent.clone().prop_map(|intent| ExecEvent::SubmitExit { intent, reason: ExitReason::Strategy, at: 2 }),
        intent.clone().prop_map(|intent| ExecEvent::Report { intent, outcome: ReportOutcome::Working, at: 3 }),
        (intent.clone(), position.clone()).prop_map(|(intent, position)| ExecEvent::Report {
            intent,
            outcome: ReportOutcome::Done { position },
            at: 4
        }),
        intent.prop_map(|intent| ExecEvent::Timeout { intent, at: 5 }),
        Just(halt()),
        Just(begin_reconcile()),
        position.prop_map(|position| ExecEvent::Reconciled { position, rules: R, at: 6 }),
    ]
}

const DECLARED: [&str; 7] = ["flat", "entry_pending", "open", "exit_pending", "unknown", "halted", "reconciling"];

proptest! {
    #[test]
    fn random_sequences_stay_in_declared_states(events in proptest::collection::vec(any_event(), 0..200)) {
        let mut efsm = Efsm::default();
        let mut errors = 0;
        for event in &events {
            let before = *efsm.state();
            match efsm.apply(event) {
                Ok((from, to)) => {
                    prop_assert_eq!(from, before);
                    prop_assert_eq!(&to, efsm.state());
                    // Only edges in the table: applying the table again gives the same answer.
                    prop_assert_eq!(before.transition(event), Ok(to));
                }
                Err(_) => {
                    errors += 1;
                    prop_assert_eq!(efsm.state(), &before, "illegal event changed state");
                }
            }
            prop_assert!(DECLARED.contains(&efsm.state().name()));
            // Structural invariants of the declared states.
            match efsm.state() {
                ExecState::ExitPending { trade, .. } | ExecState::Open { trade } => prop_assert_eq!(trade.rules, R),
                _ => {}
            }
        }
        prop_assert_eq!(efsm.errors(), errors);
        prop_assert_eq!(efsm.transitions() + efsm.errors(), events.len() as u64);
    }

    /// A second exit can never be in flight: from ExitPending, SubmitExit always fails.
    #[test]
    fn never_two_exits_in_flight(events in proptest::collection::vec(any_event(), 0..100)) {
        let mut efsm = Efsm::default();
        for event in &events {
            let was_exiting = matches!(efsm.state(), ExecState::ExitPending { .. });
            let result = efsm.apply(event);
            if was_exiting && matches!(event, ExecEvent::SubmitExit { .. }) {
                prop_assert!(result.is_err());
            }
        }
    }
}

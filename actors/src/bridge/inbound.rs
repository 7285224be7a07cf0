//! What the gateway sends, as the bridge takes it: session tracking (a new gateway
//! session starts a reconciliation), sequence checks (gaps and repeats counted, warned at
//! most once a second), execution reports (the lock released on a terminal report, the
//! report routed to its symbol, or forwarded to the shard that trades the symbol), and
//! session rejects (the request they name never reached the gateway).

use std::time::{Duration, Instant};

use protocol::{Envelope, ExecReport, Message, OrdStatus, RejectCode, Side};
use tracing::{error, info, warn};

use super::locks::{Outcome, RequestKind};
use super::*;

impl BridgeActor {
    /// One decoded frame from the gateway.
    pub(super) fn on_frame(&mut self, envelope: Envelope) {
        self.last_inbound = Instant::now();
        let header = envelope.header;
        // An ack above what we sent belongs to an earlier process under our identity.
        if header.ack_seq <= self.seq_out {
            self.gateway_acked = self.gateway_acked.max(header.ack_seq);
        }
        if self.unacknowledged && self.sent_history.front().is_some_and(|(_, seq)| self.gateway_acked >= *seq) {
            self.unacknowledged = false;
        }
        if !self.unacknowledged {
            self.mark_gateway(true, "frame received");
        }
        if self.gateway_session != Some(header.session_id) {
            match self.gateway_session {
                Some(previous) => {
                    warn!(target: "bridge", previous = previous.0, current = header.session_id.0, "GATEWAY_SESSION_CHANGED: gateway restarted; reconciling");
                }
                None => {
                    info!(target: "bridge", session = header.session_id.0, "first contact with the gateway; reconciling")
                }
            }
            if self.gateway_session.is_some() {
                self.begin_venue_reconcile();
            }
            // Our start-up request may have gone nowhere (no connection yet): ask again.
            self.last_reconcile_request = None;
            self.retry_reconcile();
            self.gateway_session = Some(header.session_id);
            self.stats.gateway_sessions += 1;
            self.last_seq_in = 0;
        }
        if header.seq != self.last_seq_in + 1 && self.last_seq_in != 0 {
            self.note_seq_anomaly(self.last_seq_in + 1, header.seq);
        }
        self.last_seq_in = header.seq;
        match envelope.body {
            Message::ExecReport(report) => self.on_report(report),
            Message::PositionSnapshot(snapshot) => self.on_snapshot(snapshot),
            Message::Heartbeat(_) => {}
            Message::SessionReject(reject) => {
                self.stats.session_rejects += 1;
                warn!(target: "bridge", ref_seq = reject.ref_seq, code = %reject.code, text = %reject.text, "SESSION_REJECT from the gateway");
                self.on_session_reject(reject.ref_seq);
            }
            other => {
                warn!(target: "bridge", msg_type = other.msg_type().as_str(), "unexpected message type from the gateway; ignored");
            }
        }
    }

    pub(super) fn on_report(&mut self, report: ExecReport) {
        self.stats.reports_received += 1;
        self.handle_report(report);
    }

    /// A report received here, or forwarded by the shard whose connection received it.
    pub(super) fn handle_report(&mut self, report: ExecReport) {
        if !self.routes.contains_key(&report.symbol) && self.forward(&report) {
            return;
        }
        if let Some(lock) = self.locks.by_intent(report.intent_id) {
            if lock.symbol != report.symbol {
                // The gateway names another symbol for an order we know: trust neither. Keep
                // the lock; its deadline makes the symbol ask for the order's status.
                self.stats.mismatched_reports += 1;
                error!(target: "bridge", intent_id = report.intent_id.0, expected = %lock.symbol, got = %report.symbol, "REPORT_SYMBOL_MISMATCH: report dropped");
                return;
            }
        }
        if report.is_fill() {
            self.stats.fills_received += 1;
        }
        if report.ord_status.is_terminal() {
            let outcome = match report.ord_status {
                OrdStatus::Filled => Outcome::Filled,
                OrdStatus::Canceled if !report.cum_qty.is_zero() => Outcome::PartiallyFilled,
                OrdStatus::Canceled => Outcome::Canceled,
                OrdStatus::Expired => Outcome::Expired,
                _ => Outcome::Rejected,
            };
            // A duplicate-intent reject says nothing about the order in flight.
            if report.reject_code != RejectCode::DuplicateIntentMismatch {
                self.release(report.intent_id, outcome);
            }
        }
        match self.route(&report.symbol) {
            Some(route) => route.reports.do_send(GatewayReport { report }),
            None => {
                self.stats.unroutable_reports += 1;
                warn!(target: "bridge", symbol = %report.symbol, intent_id = report.intent_id.0, "report for a symbol this engine does not trade; dropped");
            }
        }
    }

    /// Hands a report for another shard's symbol to that shard's bridge (a gateway may
    /// answer on any of the engine's connections). False if no other shard has the symbol.
    pub(super) fn forward(&mut self, report: &ExecReport) -> bool {
        let owner = crate::shard::shard_of(&report.symbol, self.shards.len());
        if self.shards.len() < 2 || owner == self.locks.shard() {
            return false;
        }
        let Some(bridge) = self.shards.get(owner) else { return false };
        self.stats.reports_forwarded += 1;
        bridge.do_send(ForwardedReport { report: report.clone() });
        true
    }

    /// The gateway could not read one of our frames: the request it carried never reached
    /// it, so its lock is released now (an order is rejected locally, a query retried).
    pub(super) fn on_session_reject(&mut self, ref_seq: u64) {
        if ref_seq == 0 {
            return;
        }
        let Some(lock) = self.locks.by_seq(ref_seq).copied() else { return };
        let side = self.submitted.get(&lock.intent_id).map_or(Side::Buy, |(_, side)| *side);
        self.release(lock.intent_id, Outcome::Rejected);
        self.submitted.remove(&lock.intent_id);
        match lock.kind {
            RequestKind::Order => {
                self.local_reject(lock.symbol, lock.intent_id, side, "session reject from the gateway")
            }
            RequestKind::StatusQuery => {
                self.retry_later(SubmitStatusQuery { symbol: lock.symbol, intent_id: lock.intent_id })
            }
        }
    }

    /// Counts a sequence anomaly and logs at WARN at most once a second.
    pub(super) fn note_seq_anomaly(&mut self, expected: u64, got: u64) {
        if got > expected {
            self.stats.seq_gaps += 1;
        } else {
            self.stats.seq_repeats += 1;
        }
        self.seq_unreported += 1;
        if self.last_seq_warn.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            warn!(target: "bridge", expected, got, since_last_warning = self.seq_unreported, gaps = self.stats.seq_gaps, repeats = self.stats.seq_repeats, "GATEWAY_SEQ_ANOMALY: order-channel sequence gap or repeat (reports are de-duplicated by exec_id; lost ones are recovered by deadlines and status queries)");
            self.last_seq_warn = Some(Instant::now());
            self.seq_unreported = 0;
        }
    }
}

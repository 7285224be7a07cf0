//! Snapshots: the reconciling snapshot asked for at start and after a disconnect or a
//! gateway restart (every 50 ms until it arrives, no order out meanwhile), the snapshot a
//! symbol asks for (one outstanding request shared by every ask), the snapshot fetched for
//! a report or an operator, and the fan-out of a snapshot to the shard's symbols.

use std::time::Instant;

use actix::prelude::*;
use protocol::{Message, PositionSnapshot, PositionSnapshotRequest};
use tokio::sync::oneshot;
use tracing::info;

use super::socket::Sent;
use super::*;

impl BridgeActor {
    pub(super) fn on_snapshot(&mut self, snapshot: PositionSnapshot) {
        self.stats.snapshots_received += 1;
        if let Some(waiter) = self.snapshot_waiters.remove(&snapshot.request_id) {
            // Fetched for a report (e.g. the final ledger) or an operator, not for
            // reconciliation.
            let _ = waiter.send(snapshot);
            return;
        }
        let after_reconnect = std::mem::replace(&mut self.reconcile_pending, false);
        self.asked_at = None;
        if let Some(started) = self.started_at.take() {
            let ms = started.elapsed().as_secs_f64() * 1e3;
            self.stats.first_contact_ms = Some(ms);
            info!(target: "bridge", first_contact_ms = ms, requests = self.stats.reconcile_requests, "FIRST_CONTACT: the gateway's snapshot reached every symbol");
        }
        let views = engine::reconcile::venue_views(&snapshot);
        for (symbol, route) in &self.routes {
            let venue = views.get(symbol).copied().unwrap_or_default();
            route.reconcile.do_send(Reconcile { venue, after_reconnect });
        }
        if let Some(socket) = self.socket.as_mut() {
            socket.release_orders();
        }
        if self.risk.set_venue_reconciling(false) {
            info!(target: "bridge", "VENUE_RECONCILED: the gateway's snapshot reached every symbol; orders resume");
        }
    }

    /// A disconnect or a new gateway session: no order (entry or exit) until the snapshot
    /// that follows has been handed to every symbol; asked for until it arrives.
    pub(super) fn begin_venue_reconcile(&mut self) {
        self.risk.set_venue_reconciling(true);
        self.reconcile_pending = true;
    }

    /// Asks again for the reconciling snapshot while it has not arrived (and for a snapshot a
    /// symbol asked for, if its request or reply was lost).
    pub(super) fn retry_reconcile(&mut self) {
        if self.asked_at.is_some_and(|at| at.elapsed() >= ASKED_RETRY) {
            self.asked_at = Some(Instant::now());
            self.request_snapshot();
        }
        if !self.reconcile_pending || self.socket.is_none() {
            return;
        }
        if self.last_reconcile_request.is_some_and(|at| at.elapsed() < RECONCILE_RETRY) {
            return;
        }
        self.last_reconcile_request = Some(Instant::now());
        self.stats.reconcile_requests += 1;
        self.request_snapshot();
    }

    pub(super) fn request_snapshot(&mut self) -> Sent {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.send(Message::PositionSnapshotRequest(PositionSnapshotRequest { request_id }))
    }
}

impl Handler<FetchSnapshot> for BridgeActor {
    type Result = ResponseFuture<Option<PositionSnapshot>>;
    fn handle(&mut self, msg: FetchSnapshot, _: &mut Context<Self>) -> Self::Result {
        // The waiter is in place before the request goes (its reply can come in the same
        // turn as the send).
        let request_id = self.next_request_id;
        let (tx, rx) = oneshot::channel();
        self.snapshot_waiters.insert(request_id, tx);
        self.stats.snapshot_fetches += 1;
        if self.request_snapshot() != Sent::Queued {
            self.stats.snapshot_fetches_unsent += 1;
            self.snapshot_waiters.remove(&request_id);
        }
        Box::pin(async move { tokio::time::timeout(msg.timeout, rx).await.ok().and_then(Result::ok) })
    }
}

/// Ask the gateway for positions; the reply reconciles every symbol.
impl Handler<RequestSnapshot> for BridgeActor {
    type Result = ();
    fn handle(&mut self, _: RequestSnapshot, _: &mut Context<Self>) {
        // The reply reaches every symbol. One outstanding request serves every ask made
        // before its reply: on the ordered order channel that reply left the gateway after
        // the reports that made each symbol ask. (One request per symbol, with 10,000
        // symbols, is 10,000 snapshots of 10,000 lines each.)
        if self.asked_at.is_some() {
            return;
        }
        self.asked_at = Some(Instant::now());
        self.request_snapshot();
    }
}

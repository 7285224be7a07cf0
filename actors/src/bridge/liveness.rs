//! Liveness of the gateway link: heartbeats out, silence detection, and a gateway that
//! answers but acknowledges none of our frames treated as down until it catches up.

use std::time::{Duration, Instant};

use protocol::{Heartbeat, Message};
use tracing::{info, warn};

use super::*;

impl BridgeActor {
    pub(super) fn heartbeat(&mut self) {
        let silent_for = self.last_inbound.elapsed();
        let limit = self.config.heartbeat_interval * self.config.heartbeats_missed_for_down;
        if silent_for >= limit {
            let reason = format!("no frame from the gateway for {} ms", silent_for.as_millis());
            self.mark_gateway(false, &reason);
        }
        self.check_acknowledged(limit);
        let body = Message::Heartbeat(Heartbeat {
            session_id: self.session_id,
            last_seq_sent: self.seq_out,
            last_seq_received: self.last_seq_in,
        });
        self.send(body);
    }

    /// A gateway that keeps sending (heartbeats) while acknowledging none of our frames sent
    /// more than `limit` ago is not processing them: treat it as down until it catches up.
    pub(super) fn check_acknowledged(&mut self, limit: Duration) {
        let now = Instant::now();
        self.sent_history.push_back((now, self.seq_out));
        while self.sent_history.len() > 2 && self.sent_history[1].0 + limit <= now {
            self.sent_history.pop_front();
        }
        let old_enough = self.sent_history.front().filter(|(at, _)| *at + limit <= now).map(|(_, seq)| *seq);
        let behind = old_enough.is_some_and(|seq| seq > 0 && self.gateway_acked < seq);
        if behind && !self.unacknowledged {
            self.unacknowledged = true;
            self.stats.unacknowledged_spells += 1;
            let reason = format!(
                "the gateway acknowledges none of our frames since seq {} for {} ms",
                self.gateway_acked,
                limit.as_millis()
            );
            self.mark_gateway(false, &reason);
        } else if !behind && self.unacknowledged {
            self.unacknowledged = false;
        }
    }

    pub(super) fn mark_gateway(&mut self, up: bool, reason: &str) {
        if self.gateway_up == up {
            return;
        }
        self.gateway_up = up;
        self.risk.set_gateway_up(up);
        if up {
            info!(target: "bridge", reason, "GATEWAY_UP: entries resume");
        } else {
            warn!(target: "bridge", reason, "GATEWAY_DOWN: entries blocked");
        }
    }
}

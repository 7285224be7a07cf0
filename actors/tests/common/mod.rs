//! A stand-in for a symbol actor in bridge tests: it records the reports and the
//! reconciliations the bridge hands it, and ignores the rest.
#![allow(dead_code)]

use ::actors::bridge::SymbolRoute;
use ::actors::messages::{GatewayReport, JournalWriteFailed, Reconcile, RequestTimedOut};
use actix::prelude::*;
use protocol::ExecReport;

pub struct Probe {
    pub reports: crossbeam_channel::Sender<ExecReport>,
    pub reconciles: crossbeam_channel::Sender<Reconcile>,
}

impl Probe {
    /// Starts the probe and returns the route the bridge needs for it.
    pub fn route(self) -> SymbolRoute {
        let probe = self.start();
        SymbolRoute {
            reports: probe.clone().recipient(),
            timeouts: probe.clone().recipient(),
            reconcile: probe.clone().recipient(),
            journal_failed: probe.recipient(),
        }
    }
}

impl Actor for Probe {
    type Context = Context<Self>;
}
impl Handler<GatewayReport> for Probe {
    type Result = ();
    fn handle(&mut self, msg: GatewayReport, _: &mut Context<Self>) {
        let _ = self.reports.send(msg.report);
    }
}
impl Handler<Reconcile> for Probe {
    type Result = ();
    fn handle(&mut self, msg: Reconcile, _: &mut Context<Self>) {
        let _ = self.reconciles.send(msg);
    }
}
impl Handler<RequestTimedOut> for Probe {
    type Result = ();
    fn handle(&mut self, _: RequestTimedOut, _: &mut Context<Self>) {}
}
impl Handler<JournalWriteFailed> for Probe {
    type Result = ();
    fn handle(&mut self, _: JournalWriteFailed, _: &mut Context<Self>) {}
}

//! A minimal intent-endpoint client for the end-to-end tests: a DEALER that sends one JSON
//! frame and waits (bounded) for the answer (docs/AGENTS.md).

use std::time::Duration;

use serde_json::Value;

pub struct AgentClient {
    _ctx: zmq::Context,
    dealer: zmq::Socket,
}

impl AgentClient {
    pub fn connect(endpoint: &str) -> AgentClient {
        let ctx = zmq::Context::new();
        let dealer = ctx.socket(zmq::DEALER).expect("dealer");
        dealer.set_linger(0).expect("linger");
        dealer.connect(endpoint).expect("connect");
        AgentClient { _ctx: ctx, dealer }
    }

    /// Sends `frame` and returns the answer (panics after 5 s without one).
    pub fn ask(&self, frame: &Value) -> Value {
        self.dealer.send(frame.to_string().as_bytes(), 0).expect("send");
        let ready = self.dealer.poll(zmq::POLLIN, Duration::from_secs(5).as_millis() as i64).expect("poll");
        assert!(ready > 0, "no answer within 5 s to {frame}");
        let bytes = self.dealer.recv_bytes(0).expect("recv");
        serde_json::from_slice(&bytes).expect("the answer is JSON")
    }
}

//! The stress harness: runs the engine (`engine-app`) against the paper gateway
//! (`paper-gateway`, a child process by default) over ZeroMQ, then measures and judges the
//! run. The binaries are `stress` (the harness, and `stress gateway ...` for its child) and
//! `pingpong` (the bare ZeroMQ round trip, the floor under the engine's).
//!
//! Layout:
//! - [`harness`]: the stress harness (gateway child, log audit, gate, reports).
//! - [`intent_bench`]: an agent's intent → order on the wire, beside the engine's own tick →
//!   order time and one ZeroMQ hop (`intent-bench`).
//! - [`zmq_hop`]: one timed ZeroMQ DEALER↔ROUTER hop on loopback (`pingpong`, `intent-bench`).

pub mod harness;
pub mod intent_bench;
pub mod zmq_hop;

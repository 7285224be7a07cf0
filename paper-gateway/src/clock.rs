//! Wall time for the gateway's frames and ledger. (The session id of a gateway run is
//! `protocol::SessionId::fresh()`, shared with the engine.)

use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch.
pub fn wall_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

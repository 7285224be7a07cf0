//! Identifiers: intent (client order id), gateway order id, execution id, session id.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }
    };
}

id_type!(
    /// The client order id (FIX ClOrdID). Chosen by the engine, unique per order; a retry
    /// reuses it, and the gateway answers a repeated id with the original result.
    IntentId
);
id_type!(
    /// The gateway's id for an accepted order (FIX OrderID).
    OrderId
);
id_type!(
    /// The gateway's id for one execution (FIX ExecID); fills are de-duplicated by it.
    ExecId
);
id_type!(
    /// Identifies one run of a process; a new value after a restart.
    SessionId
);

impl SessionId {
    /// A session id that differs between process starts: the wall clock mixed with the pid
    /// (splitmix64 finaliser), so two starts in the same nanosecond still differ by pid.
    pub fn fresh() -> SessionId {
        let now_ns = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let mut z = now_ns ^ (u64::from(std::process::id()) << 32);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        SessionId(z ^ (z >> 31))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_session_ids_differ_over_time() {
        let a = SessionId::fresh();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_ne!(a, SessionId::fresh());
    }
}

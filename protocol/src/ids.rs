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

//! Runtime control flags. They allow or refuse; they never create or choose an order.
//!
//! The same three flags exist globally and per symbol; a decision needs both levels to
//! allow it. `global_lock` (at either level) stops every order, exits included.

use std::sync::atomic::{AtomicU8, Ordering};

/// One level of control flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ControlFlags {
    pub entry_enabled: bool,
    pub exit_enabled: bool,
    pub global_lock: bool,
}

impl Default for ControlFlags {
    fn default() -> Self {
        ControlFlags { entry_enabled: true, exit_enabled: true, global_lock: false }
    }
}

const ENTRY: u8 = 1;
const EXIT: u8 = 2;
const LOCK: u8 = 4;

impl ControlFlags {
    /// Both levels combined: each enable needs both, a lock at either level locks.
    pub fn combine(self, other: ControlFlags) -> ControlFlags {
        ControlFlags {
            entry_enabled: self.entry_enabled && other.entry_enabled,
            exit_enabled: self.exit_enabled && other.exit_enabled,
            global_lock: self.global_lock || other.global_lock,
        }
    }
    pub fn allows_entry(self) -> bool {
        self.entry_enabled && !self.global_lock
    }
    pub fn allows_exit(self) -> bool {
        self.exit_enabled && !self.global_lock
    }
    fn to_bits(self) -> u8 {
        (if self.entry_enabled { ENTRY } else { 0 })
            | (if self.exit_enabled { EXIT } else { 0 })
            | (if self.global_lock { LOCK } else { 0 })
    }
    fn from_bits(bits: u8) -> ControlFlags {
        ControlFlags { entry_enabled: bits & ENTRY != 0, exit_enabled: bits & EXIT != 0, global_lock: bits & LOCK != 0 }
    }
}

/// Flags shared between threads; a store is visible to the next read on any thread.
#[derive(Debug)]
pub struct AtomicFlags(AtomicU8);

impl AtomicFlags {
    pub fn new(flags: ControlFlags) -> AtomicFlags {
        AtomicFlags(AtomicU8::new(flags.to_bits()))
    }
    pub fn load(&self) -> ControlFlags {
        ControlFlags::from_bits(self.0.load(Ordering::Acquire))
    }
    /// Stores new flags and returns the old ones.
    pub fn swap(&self, flags: ControlFlags) -> ControlFlags {
        ControlFlags::from_bits(self.0.swap(flags.to_bits(), Ordering::AcqRel))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combining_needs_both_enables_and_either_lock() {
        let on = ControlFlags::default();
        let no_entry = ControlFlags { entry_enabled: false, ..on };
        let locked = ControlFlags { global_lock: true, ..on };
        assert!(on.combine(on).allows_entry());
        assert!(!on.combine(no_entry).allows_entry());
        assert!(on.combine(no_entry).allows_exit());
        assert!(!locked.combine(on).allows_exit());
        assert!(!on.combine(locked).allows_entry());
    }

    #[test]
    fn atomic_flags_round_trip_every_combination() {
        for bits in 0..8u8 {
            let flags = ControlFlags::from_bits(bits);
            let shared = AtomicFlags::new(ControlFlags::default());
            assert_eq!(shared.swap(flags), ControlFlags::default());
            assert_eq!(shared.load(), flags);
        }
    }
}

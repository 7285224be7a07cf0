//! Binaries and harness (see issues: end-to-end engine, stress gate).

//! Actor shell (see issue: end-to-end engine).

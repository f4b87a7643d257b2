//! numerics (to be filled).

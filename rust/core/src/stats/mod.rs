//! stats (to be filled).

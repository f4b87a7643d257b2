//! timing (to be filled).

//! A/B comparison of two sample sets: is `b` faster, slower, or no different?
//!
//! * [`normal`]: the standard normal tail (for p-values).
//! * [`mann_whitney`]: the Mann–Whitney U rank test.
//! * [`compare`]: bootstrap CI of the ratio of medians, the rank test, and
//!   the noise threshold combined into one verdict; [`compare_groups`] for
//!   several runs per side (two-level bootstrap).

pub mod compare;
pub mod mann_whitney;
pub mod normal;

pub use compare::{compare, compare_groups, compare_log_var, CompareConfig, Comparison, Verdict};
pub use mann_whitney::{mann_whitney_u, MannWhitney};
pub use normal::{erfc, normal_sf};

#[cfg(test)]
mod tests;

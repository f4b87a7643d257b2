//! Tukey's fences.
//!
//! With quartiles `q1`, `q3` (type-7 quantiles, see [`super::summary`]) and
//! `iqr = q3 - q1`: a sample is a *mild* outlier when it lies beyond
//! `1.5 iqr` from the quartiles but within `3 iqr`, and *severe* beyond
//! `3 iqr` (Tukey, *Exploratory Data Analysis*, 1977; the same
//! classification as criterion.rs). Points exactly on a fence are not
//! outliers of that class.
use super::{quantile_sorted, sorted_copy};
use crate::Result;

/// Counts of Tukey outliers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outliers {
    /// Below `q1 - 3 iqr`.
    pub low_severe: usize,
    /// In `[q1 - 3 iqr, q1 - 1.5 iqr)`.
    pub low_mild: usize,
    /// In `(q3 + 1.5 iqr, q3 + 3 iqr]`.
    pub high_mild: usize,
    /// Above `q3 + 3 iqr`.
    pub high_severe: usize,
    /// All four counts divided by `n`.
    pub fraction: f64,
}

/// Outlier counts of sorted, validated samples.
#[must_use]
pub fn outliers_sorted(sorted: &[f64]) -> Outliers {
    let q1 = quantile_sorted(sorted, 0.25);
    let q3 = quantile_sorted(sorted, 0.75);
    let iqr = q3 - q1;
    let (ls, lm) = (q1 - 3.0 * iqr, q1 - 1.5 * iqr);
    let (hm, hs) = (q3 + 1.5 * iqr, q3 + 3.0 * iqr);
    let mut o = Outliers {
        low_severe: 0,
        low_mild: 0,
        high_mild: 0,
        high_severe: 0,
        fraction: 0.0,
    };
    for &x in sorted {
        if x < ls {
            o.low_severe += 1;
        } else if x < lm {
            o.low_mild += 1;
        } else if x > hs {
            o.high_severe += 1;
        } else if x > hm {
            o.high_mild += 1;
        }
    }
    let all = o.low_severe + o.low_mild + o.high_mild + o.high_severe;
    o.fraction = all as f64 / sorted.len() as f64;
    o
}

/// Tukey outlier counts of raw samples.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`].
pub fn outliers(samples: &[f64]) -> Result<Outliers> {
    Ok(outliers_sorted(&sorted_copy(samples)?))
}

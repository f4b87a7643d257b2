//! Tukey's fences.
//!
//! With quartiles `q1`, `q3` (type-7 quantiles, see [`super::summary`]) and
//! `iqr = q3 - q1`: a sample is a *mild* outlier when it lies beyond
//! `1.5 iqr` from the quartiles but within `3 iqr`, and *severe* beyond
//! `3 iqr` (Tukey, *Exploratory Data Analysis*, 1977; the same
//! classification as criterion.rs). Points exactly on a fence are not
//! outliers of that class.
use super::select::{quantile_ranks, select_ranks};
use super::{quantile_sorted, validate};
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

/// Outlier counts of validated samples (any order) given their quartiles.
#[must_use]
pub fn count_outliers(samples: &[f64], q1: f64, q3: f64) -> Outliers {
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
    for &x in samples {
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
    o.fraction = all as f64 / samples.len() as f64;
    o
}

/// Tukey outlier counts of raw samples.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`].
pub fn outliers(samples: &[f64]) -> Result<Outliers> {
    validate(samples)?;
    let mut v = samples.to_vec();
    let n = v.len();
    let [a, b] = quantile_ranks(n, 0.25);
    let [c, d] = quantile_ranks(n, 0.75);
    let mut ranks = vec![a, b, c, d];
    ranks.sort_unstable();
    ranks.dedup();
    select_ranks(&mut v, &ranks);
    let (q1, q3) = (quantile_sorted(&v, 0.25), quantile_sorted(&v, 0.75));
    Ok(count_outliers(samples, q1, q3))
}

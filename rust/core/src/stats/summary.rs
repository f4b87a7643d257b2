//! Robust summary of a sample set.
//!
//! Quantiles use linear interpolation between order statistics: for a
//! probability `p` and `n` sorted values `x[0..n]`, the position is
//! `h = (n - 1) p`, and the quantile is `x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])`.
//! This is Hyndman & Fan's definition 7, the default of `numpy.percentile`,
//! R's `quantile` and Excel's `PERCENTILE.INC`, so figures agree with what a
//! user recomputes from the raw samples.
use super::sorted_copy;
use crate::Result;

/// Robust summary of raw samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (ddof = 1); 0 when `n == 1`.
    pub std: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Median (quantile 0.5).
    pub median: f64,
    /// First quartile (quantile 0.25).
    pub q1: f64,
    /// Third quartile (quantile 0.75).
    pub q3: f64,
    /// Interquartile range `q3 - q1`.
    pub iqr: f64,
    /// Quantile 0.05.
    pub p5: f64,
    /// Quantile 0.95.
    pub p95: f64,
    /// Quantile 0.99.
    pub p99: f64,
    /// Coefficient of variation `std / mean` (0 when the mean is 0).
    pub cv: f64,
}

/// Quantile `p` (in `[0, 1]`) of a sorted, non-empty slice by linear
/// interpolation (Hyndman–Fan type 7, numpy's default).
///
/// # Panics
/// If `sorted` is empty.
#[must_use]
pub fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "quantile of an empty slice");
    let h = (sorted.len() - 1) as f64 * p.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let frac = h - lo as f64;
    let (a, b) = (sorted[lo], sorted[hi]);
    // `a + frac * (b - a)` is numpy's formulation; for frac == 0 it is exact.
    if frac == 0.0 {
        a
    } else {
        a + frac * (b - a)
    }
}

/// Summary of an already sorted and validated slice.
#[must_use]
pub fn summarize_sorted(sorted: &[f64]) -> Summary {
    let n = sorted.len();
    let nf = n as f64;
    // Mean shifted by the minimum: exact for all-equal samples (so std and
    // cv are exactly 0 there) and more accurate when the spread is small
    // relative to the values, as for timings.
    let x0 = sorted[0];
    let mean = x0 + sorted.iter().map(|x| x - x0).sum::<f64>() / nf;
    // Two-pass variance around that mean.
    let std = if n > 1 {
        let ss: f64 = sorted.iter().map(|x| (x - mean) * (x - mean)).sum();
        (ss / (nf - 1.0)).sqrt()
    } else {
        0.0
    };
    let q = |p| quantile_sorted(sorted, p);
    let (q1, q3) = (q(0.25), q(0.75));
    Summary {
        n,
        mean,
        std,
        min: sorted[0],
        max: sorted[n - 1],
        median: q(0.5),
        q1,
        q3,
        iqr: q3 - q1,
        p5: q(0.05),
        p95: q(0.95),
        p99: q(0.99),
        cv: if mean == 0.0 { 0.0 } else { std / mean },
    }
}

/// Summary of raw samples (any order).
///
/// Cost: one sort, `O(n log n)`.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`].
pub fn summarize(samples: &[f64]) -> Result<Summary> {
    Ok(summarize_sorted(&sorted_copy(samples)?))
}

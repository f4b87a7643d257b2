//! Robust summary of a sample set.
//!
//! Quantiles use linear interpolation between order statistics: for a
//! probability `p` and `n` sorted values `x[0..n]`, the position is
//! `h = (n - 1) p`, and the quantile is `x[⌊h⌋] + (h - ⌊h⌋)(x[⌊h⌋+1] - x[⌊h⌋])`.
//! This is Hyndman & Fan's definition 7, the default of `numpy.percentile`,
//! R's `quantile` and Excel's `PERCENTILE.INC`, so figures agree with what a
//! user recomputes from the raw samples.
use super::select::{quantile_ranks, select_ranks};
use super::validate;
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
/// Only positions `floor((n-1)p)` and the next one are read, so a slice
/// prepared by [`super::select::select_ranks`] for those ranks works too.
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

/// Probabilities of the quantiles a [`Summary`] reports.
const PROBS: [f64; 6] = [0.05, 0.25, 0.5, 0.75, 0.95, 0.99];

/// Ascending, unique ranks a summary of `n` values needs, plus `extra`.
pub(crate) fn summary_ranks(n: usize, extra: &[usize]) -> Vec<usize> {
    let mut ranks: Vec<usize> = PROBS.iter().flat_map(|&p| quantile_ranks(n, p)).collect();
    ranks.extend_from_slice(&[0, n - 1]);
    ranks.extend_from_slice(extra);
    ranks.sort_unstable();
    ranks.dedup();
    ranks
}

/// Summary of a validated slice in which the ranks of [`summary_ranks`]
/// have been selected (a sorted slice qualifies).
pub(crate) fn summary_of_selected(v: &[f64]) -> Summary {
    let n = v.len();
    let nf = n as f64;
    // Mean shifted by the minimum: exact for all-equal samples (so std and
    // cv are exactly 0 there) and more accurate when the spread is small
    // relative to the values, as for timings.
    let x0 = v[0];
    let mean = x0 + v.iter().map(|x| x - x0).sum::<f64>() / nf;
    // Two-pass variance around that mean.
    let std = if n > 1 {
        let ss: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
        (ss / (nf - 1.0)).sqrt()
    } else {
        0.0
    };
    let q = |p| quantile_sorted(v, p);
    let (q1, q3) = (q(0.25), q(0.75));
    Summary {
        n,
        mean,
        std,
        min: v[0],
        max: v[n - 1],
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

/// Summary of an already sorted, finite, non-empty slice.
#[must_use]
pub fn summarize_sorted(sorted: &[f64]) -> Summary {
    summary_of_selected(sorted)
}

/// Summary of raw samples, reordering them in place (no copy).
///
/// Cost: `O(n)` passes plus a multi-rank selection, `O(n log m)` for the
/// `m ≈ 14` order statistics needed (see [`super::select`]); no full sort.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`].
pub fn summarize_mut(samples: &mut [f64]) -> Result<Summary> {
    validate(samples)?;
    select_ranks(samples, &summary_ranks(samples.len(), &[]));
    Ok(summary_of_selected(samples))
}

/// Summary of raw samples (any order); copies them once.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`].
pub fn summarize(samples: &[f64]) -> Result<Summary> {
    summarize_mut(&mut samples.to_vec())
}

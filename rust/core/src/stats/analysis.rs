//! Everything the result table needs from one sample set, in one pass.
use super::ci::median_ci_sorted;
use super::drift::drift_with_median;
use super::outliers::outliers_sorted;
use super::summary::summarize_sorted;
use super::{check_confidence, sorted_copy, Outliers, Summary};
use crate::Result;

/// Summary, median confidence interval, outliers and drift of one run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Analysis {
    /// Robust summary.
    pub summary: Summary,
    /// Lower end of the exact confidence interval of the median.
    pub ci_low: f64,
    /// Upper end of the exact confidence interval of the median.
    pub ci_high: f64,
    /// Relative half-width: `max(median - ci_low, ci_high - median) / median`.
    pub rel_ci: f64,
    /// Tukey outliers.
    pub outliers: Outliers,
    /// `(median of last third - median of first third) / median`.
    pub drift: f64,
}

/// Relative half-width of an interval around `median`:
/// `max(median - low, high - median) / |median|`; 0 for a zero-width
/// interval, infinity for a non-zero width around a zero median.
#[must_use]
pub fn rel_ci(median: f64, low: f64, high: f64) -> f64 {
    let half = (median - low).max(high - median);
    if half == 0.0 {
        0.0
    } else {
        half / median.abs()
    }
}

/// Analyses raw samples in measurement order (order matters for drift
/// only). Sorts once.
///
/// # Errors
/// [`crate::Error::Empty`], [`crate::Error::NonFinite`], or
/// [`crate::Error::InvalidArgument`] for a confidence outside `(0, 1)`.
pub fn analyze(samples: &[f64], confidence: f64) -> Result<Analysis> {
    check_confidence(confidence)?;
    let sorted = sorted_copy(samples)?;
    let summary = summarize_sorted(&sorted);
    let (ci_low, ci_high) = median_ci_sorted(&sorted, confidence);
    Ok(Analysis {
        summary,
        ci_low,
        ci_high,
        rel_ci: rel_ci(summary.median, ci_low, ci_high),
        outliers: outliers_sorted(&sorted),
        drift: drift_with_median(samples, summary.median),
    })
}

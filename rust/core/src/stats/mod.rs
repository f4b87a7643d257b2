//! Statistics on raw timing samples.
//!
//! Every function takes the samples as a slice of finite `f64` (seconds, by
//! convention) and validates it first: an empty slice is [`Error::Empty`],
//! a NaN or infinity is [`Error::NonFinite`] with its position.
//!
//! * [`summary`]: mean, standard deviation, quantiles (Hyndman–Fan type 7).
//! * [`ci`]: the exact, distribution-free confidence interval of the median.
//! * [`bootstrap`]: seeded, parallel percentile bootstrap (median, mean, ratio).
//! * [`hierarchical`]: two-level bootstrap of the ratio for groups of runs.
//! * [`student`]: central normal and Student-t quantiles (few-runs calibration).
//! * [`outliers`]: Tukey fences.
//! * [`pooled`]: a run median's error from rounds pooled over cases, and drift.
//! * [`drift`]: first third vs last third of a run.
//! * [`analysis`]: all of the above in one pass, as the result table needs.
//! * [`ab`]: A/B comparison (Mann–Whitney U, bootstrap ratio, verdict).
//!
//! [`Error::Empty`]: crate::Error::Empty
//! [`Error::NonFinite`]: crate::Error::NonFinite

pub mod ab;
pub mod analysis;
pub mod bootstrap;
pub mod ci;
pub mod drift;
pub mod hierarchical;
pub mod outliers;
pub mod pooled;
pub mod rng;
pub mod select;
pub mod student;
pub mod summary;

pub use analysis::{analyze, analyze_mut, analyze_rounds, Analysis, RoundsAnalysis};
pub use bootstrap::{bootstrap_ci, bootstrap_ratio_ci, Statistic};
pub use ci::{median_ci, median_ci_ranks, median_ci_sorted};
pub use drift::drift;
pub use hierarchical::{
    group_factor, hierarchical_ci, hierarchical_ratio_ci, run_factors, RunGroup,
};
pub use outliers::{outliers, Outliers};
pub use pooled::{
    balanced_median, excess_between_runs, round_variances, satterthwaite_df, within_run_variances,
    WithinVariance, MIN_POOLED_CASES,
};
pub use summary::{quantile_sorted, summarize, summarize_mut, Summary};

use crate::{Error, Result};

/// Checks that `samples` is non-empty and finite.
///
/// # Errors
/// [`Error::Empty`] for an empty slice, [`Error::NonFinite`] naming the first
/// NaN or infinite value.
pub fn validate(samples: &[f64]) -> Result<()> {
    if samples.is_empty() {
        return Err(Error::Empty);
    }
    match samples.iter().position(|x| !x.is_finite()) {
        Some(index) => Err(Error::NonFinite { index }),
        None => Ok(()),
    }
}

/// Validates `samples` and returns a sorted copy (ascending).
///
/// # Errors
/// As [`validate`].
pub fn sorted_copy(samples: &[f64]) -> Result<Vec<f64>> {
    validate(samples)?;
    let mut v = samples.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    Ok(v)
}

/// Checks that a confidence level lies strictly between 0 and 1.
///
/// # Errors
/// [`Error::InvalidArgument`] otherwise.
pub fn check_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "confidence must be strictly between 0 and 1, got {confidence}"
        )))
    }
}

/// Median of an already sorted, non-empty slice (mean of the two middle
/// values for an even length, as `numpy.median`).
#[must_use]
pub fn median_sorted(sorted: &[f64]) -> f64 {
    quantile_sorted(sorted, 0.5)
}

#[cfg(test)]
mod tests;

//! Everything the result table needs from one sample set, in one pass.
use super::bootstrap::Statistic;
use super::ci::median_ci_ranks;
use super::drift::drift_with_median;
use super::hierarchical::{hierarchical_ci, RunGroup};
use super::outliers::count_outliers;
use super::select::{median_select, select_ranks};
use super::summary::{summary_of_selected, summary_ranks};
use super::{check_confidence, validate, Outliers, Summary};
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

/// Analyses raw samples given in measurement order, reordering them in
/// place. Drift (the only order-dependent figure) is computed first, on
/// copies of the first and last thirds; then one multi-rank selection
/// serves the summary and the median's confidence interval.
///
/// # Errors
/// [`crate::Error::Empty`], [`crate::Error::NonFinite`], or
/// [`crate::Error::InvalidArgument`] for a confidence outside `(0, 1)`.
pub fn analyze_mut(samples: &mut [f64], confidence: f64) -> Result<Analysis> {
    check_confidence(confidence)?;
    validate(samples)?;
    let n = samples.len();
    let median = median_select(&mut samples.to_vec());
    let drift = drift_with_median(samples, median);
    let ci = median_ci_ranks(n, confidence);
    let (lo, hi) = ci.unwrap_or((0, n - 1));
    select_ranks(samples, &summary_ranks(n, &[lo, hi]));
    let summary = summary_of_selected(samples);
    let (ci_low, ci_high) = (samples[lo], samples[hi]);
    Ok(Analysis {
        summary,
        ci_low,
        ci_high,
        rel_ci: rel_ci(summary.median, ci_low, ci_high),
        outliers: count_outliers(samples, summary.q1, summary.q3),
        drift,
    })
}

/// As [`analyze_mut`], on a copy of the samples.
///
/// # Errors
/// As [`analyze_mut`].
pub fn analyze(samples: &[f64], confidence: f64) -> Result<Analysis> {
    analyze_mut(&mut samples.to_vec(), confidence)
}

/// [`Analysis`] of a run measured in rounds, and how the rounds agree.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundsAnalysis {
    /// Summary, outliers and drift of the pooled samples (in round order);
    /// its `ci_low`, `ci_high` and `rel_ci` are those of the two-level
    /// bootstrap over rounds ([`hierarchical_ci`]).
    pub pooled: Analysis,
    /// Median of each round, in the order given.
    pub round_medians: Vec<f64>,
    /// `(max - min) / median` of the round medians (`None` for one round).
    pub spread: Option<f64>,
}

/// Analyses a run measured in rounds (each round's samples in measurement
/// order): the pooled summary, and the median's confidence interval from
/// the two-level bootstrap over rounds, so that it includes the variation
/// between rounds.
///
/// # Errors
/// As [`analyze`] and [`RunGroup::new`] (a round that is empty or holds a
/// non-finite value is named), and [`crate::Error::InvalidArgument`] for
/// `resamples == 0`.
pub fn analyze_rounds<R: AsRef<[f64]>>(
    rounds: &[R],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Result<RoundsAnalysis> {
    check_confidence(confidence)?;
    let group = RunGroup::new(rounds)?;
    let mut pooled: Vec<f64> = rounds
        .iter()
        .flat_map(|r| r.as_ref().iter().copied())
        .collect();
    let mut analysis = analyze_mut(&mut pooled, confidence)?;
    let (lo, hi) = hierarchical_ci(&group, Statistic::Median, resamples, confidence, seed)?;
    analysis.ci_low = lo;
    analysis.ci_high = hi;
    analysis.rel_ci = rel_ci(analysis.summary.median, lo, hi);
    Ok(RoundsAnalysis {
        pooled: analysis,
        round_medians: group.run_medians().to_vec(),
        spread: group.spread(),
    })
}

//! One verdict per case from two sample sets: faster, slower or no change.
//!
//! # Method
//! `a` is the baseline and `b` the candidate; both are times, so a ratio
//! `median(b) / median(a)` above 1 means `b` is slower. Three pieces of
//! evidence are combined:
//!
//! 1. the percentile-bootstrap confidence interval `[lo, hi]` of that ratio
//!    (resampling `a` and `b` independently,
//!    [`crate::stats::bootstrap_ratio_ci`]);
//! 2. the two-sided Mann–Whitney U test (no assumption on the shape of the
//!    distributions, robust to the long right tail of timings);
//! 3. a noise threshold `t` (default 2%): run-to-run variation that the
//!    samples of one run cannot show (clock and power state, placement,
//!    other tenants), measured by A/A comparisons of repeated runs.
//!
//! The verdict is **slower** when `lo > 1 + t` *and* `p < alpha`,
//! **faster** when `hi < 1 / (1 + t)` *and* `p < alpha`, and **no change**
//! otherwise. Requiring the whole interval beyond the threshold makes the
//! claim "slower by more than the noise" at 97.5% one-sided confidence, not
//! merely "the point estimate moved"; the rank test must agree, which
//! guards against a bootstrap interval made narrow by a few heavy ties.
//! The faster bound `1 / (1 + t)` makes the rule symmetric: swapping `a`
//! and `b` turns slower into faster and nothing else. Criterion.rs uses the
//! same two-part rule (p-value and a noise band around the change).
//!
//! # Several runs per side
//! [`compare_groups`] takes a group of runs for each side. The ratio is
//! then that of the medians of the pooled samples, and its interval comes
//! from the two-level bootstrap of [`crate::stats::hierarchical`]
//! (runs, then samples within runs, both with replacement, calibrated for
//! few runs by Student's t), so it contains the run-to-run variation that
//! one run's samples cannot show. With one run per side everything equals
//! [`compare`] exactly.
//!
//! The rank test stays the Mann–Whitney U test of the pooled samples, and
//! the verdict rule is unchanged: both the interval and the test must
//! agree. The pooled test ignores the runs (its p-value is that of
//! pseudo-replicated samples, too small when runs differ), so with several
//! runs it is only the guard against tie-narrowed intervals it is with
//! one; the run-to-run evidence is the hierarchical interval's. A test on
//! the run medians instead would be the honest run-level test, but with
//! three runs per side its smallest attainable two-sided p-value is
//! `2 / C(6, 3) = 0.1`: it could never reject at `alpha = 0.05`.
use super::mann_whitney::mann_whitney_u;
use crate::stats::bootstrap::Statistic;
use crate::stats::check_confidence;
use crate::stats::hierarchical::{hierarchical_ratio_ci, RunGroup};
use crate::stats::pooled::balanced_median;
use crate::stats::student::normal_central_quantile;
use crate::{Error, Result};

/// Settings of [`compare`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompareConfig {
    /// Relative noise threshold `t` (0.02 = 2%).
    pub threshold: f64,
    /// Significance level of the rank test.
    pub alpha: f64,
    /// Confidence level of the bootstrap interval of the ratio.
    pub confidence: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Bootstrap seed (the result depends only on the data and the seed).
    pub seed: u64,
}

impl Default for CompareConfig {
    fn default() -> Self {
        Self {
            threshold: 0.02,
            alpha: 0.05,
            confidence: 0.95,
            resamples: 10_000,
            seed: 0,
        }
    }
}

impl CompareConfig {
    /// Checks every field's range.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the field.
    pub fn validate(&self) -> Result<()> {
        check_confidence(self.confidence)?;
        if !(self.threshold >= 0.0 && self.threshold.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "threshold must be a finite number >= 0, got {}",
                self.threshold
            )));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(Error::InvalidArgument(format!(
                "alpha must be strictly between 0 and 1, got {}",
                self.alpha
            )));
        }
        if self.resamples == 0 {
            return Err(Error::InvalidArgument(
                "resamples must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// The verdict of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `b` is faster than `a` beyond the noise threshold, significantly.
    Faster,
    /// `b` is slower than `a` beyond the noise threshold, significantly.
    Slower,
    /// Neither.
    NoChange,
}

impl Verdict {
    /// `"faster"`, `"slower"` or `"no change"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Faster => "faster",
            Self::Slower => "slower",
            Self::NoChange => "no change",
        }
    }

    /// The verdict rule of the module docs, from the ratio's interval and
    /// the rank test's p-value.
    #[must_use]
    pub fn decide(ci_low: f64, ci_high: f64, p_value: f64, threshold: f64, alpha: f64) -> Self {
        if p_value < alpha && ci_low > 1.0 + threshold {
            Self::Slower
        } else if p_value < alpha && ci_high < 1.0 / (1.0 + threshold) {
            Self::Faster
        } else {
            Self::NoChange
        }
    }
}

/// Everything [`compare`] found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// Median of the baseline `a` (of its pooled samples for several runs).
    pub median_a: f64,
    /// Median of the candidate `b` (of its pooled samples for several runs).
    pub median_b: f64,
    /// `median_b / median_a`.
    pub ratio: f64,
    /// Lower end of the bootstrap CI of the ratio.
    pub ci_low: f64,
    /// Upper end of the bootstrap CI of the ratio.
    pub ci_high: f64,
    /// Two-sided Mann–Whitney p-value.
    pub p_value: f64,
    /// Probability that a sample of `b` exceeds one of `a` (0.5: no shift).
    pub effect: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Number of runs of `a`.
    pub n_runs_a: usize,
    /// Number of runs of `b`.
    pub n_runs_b: usize,
    /// Between-run spread of `a` ([`RunGroup::spread`]); `None` for one run.
    pub spread_a: Option<f64>,
    /// Between-run spread of `b`; `None` for one run.
    pub spread_b: Option<f64>,
}

/// Compares candidate `b` against baseline `a` (times; larger is slower).
///
/// The same as [`compare_groups`] with one run per side.
///
/// # Errors
/// [`Error::Empty`], [`Error::NonFinite`], or [`Error::InvalidArgument`] for
/// a bad configuration or a non-positive value in `a`.
pub fn compare(a: &[f64], b: &[f64], config: &CompareConfig) -> Result<Comparison> {
    compare_groups(&[a], &[b], config)
}

/// Compares a group of candidate runs `b` against a group of baseline runs
/// `a` (see the module docs for the method).
///
/// # Errors
/// [`Error::InvalidArgument`] for a bad configuration, an empty group or
/// run, a NaN/infinite value (naming the run), or a non-positive value in
/// `a`.
pub fn compare_groups<A: AsRef<[f64]>, B: AsRef<[f64]>>(
    a: &[A],
    b: &[B],
    config: &CompareConfig,
) -> Result<Comparison> {
    config.validate()?;
    let ga = RunGroup::new(a)?;
    let gb = RunGroup::new(b)?;
    let (ci_low, ci_high) = hierarchical_ratio_ci(
        &ga,
        &gb,
        Statistic::Median,
        config.resamples,
        config.confidence,
        config.seed,
    )?;
    let medians = (ga.median(), gb.median());
    assemble(&ga, &gb, medians, (ci_low, ci_high), config)
}

/// Compares `b` against `a` (each one run's samples, by round) when the
/// variance of `ln(median)` of each side is known from the run's rounds
/// ([`crate::stats::round_variances`]): each side's median is its rounds'
/// [`balanced_median`], the interval of the ratio is `ratio * exp(±z *
/// sqrt(var_a + var_b))`; the rank test (of each side's pooled samples) and
/// the verdict rule are those of [`compare_groups`]. A side's `usual`
/// median (its machine's history; `None`: none) is an equally likely
/// level for it: the interval is the hull over the ratios of every pair of
/// levels, as each run's own interval is.
///
/// # Errors
/// As [`compare`], and [`Error::InvalidArgument`] for a variance that is
/// negative or not finite.
pub fn compare_log_var<R: AsRef<[f64]>>(
    a: &[R],
    b: &[R],
    (var_a, var_b): (f64, f64),
    (usual_a, usual_b): (Option<f64>, Option<f64>),
    config: &CompareConfig,
) -> Result<Comparison> {
    config.validate()?;
    for v in [var_a, var_b] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::InvalidArgument(format!(
                "a log-scale variance must be finite and >= 0, got {v}"
            )));
        }
    }
    let pooled = |rounds: &[R]| {
        rounds
            .iter()
            .flat_map(|r| r.as_ref().iter().copied())
            .collect()
    };
    let (xa, xb): (Vec<f64>, Vec<f64>) = (pooled(a), pooled(b));
    let ga = RunGroup::new(&[xa])?;
    let gb = RunGroup::new(&[xb])?;
    let (median_a, median_b) = (balanced_median(a)?, balanced_median(b)?);
    if median_a.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Err(Error::InvalidArgument(format!(
            "the baseline's median must be positive, got {median_a}"
        )));
    }
    let levels = |m: f64, u: Option<f64>| [Some(m), u.filter(|u| u.is_finite() && *u > 0.0)];
    let ratios: Vec<f64> = levels(median_a, usual_a)
        .into_iter()
        .flatten()
        .flat_map(|a| {
            levels(median_b, usual_b)
                .into_iter()
                .flatten()
                .map(move |b| b / a)
        })
        .collect();
    let low = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let high = ratios.iter().copied().fold(0.0, f64::max);
    let half = normal_central_quantile(config.confidence)? * (var_a + var_b).sqrt();
    assemble(
        &ga,
        &gb,
        (median_a, median_b),
        (low * (-half).exp(), high * half.exp()),
        config,
    )
}

/// The [`Comparison`] of two groups given the interval of their ratio: the
/// rank test of the pooled samples, the medians and the verdict.
fn assemble(
    ga: &RunGroup,
    gb: &RunGroup,
    (median_a, median_b): (f64, f64),
    (ci_low, ci_high): (f64, f64),
    config: &CompareConfig,
) -> Result<Comparison> {
    let test = mann_whitney_u(gb.pooled_sorted(), ga.pooled_sorted())?;
    Ok(Comparison {
        median_a,
        median_b,
        ratio: median_b / median_a,
        ci_low,
        ci_high,
        p_value: test.p_value,
        effect: test.effect,
        verdict: Verdict::decide(
            ci_low,
            ci_high,
            test.p_value,
            config.threshold,
            config.alpha,
        ),
        n_runs_a: ga.n_runs(),
        n_runs_b: gb.n_runs(),
        spread_a: ga.spread(),
        spread_b: gb.spread(),
    })
}

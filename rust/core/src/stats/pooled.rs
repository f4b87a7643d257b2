//! The error of a run's median from its rounds, pooled over the run's cases,
//! and the machine's drift between runs.
//!
//! A run measures each case in `R` rounds (a fresh worker process each). The
//! rounds of one case are few (3 by default), so the variance of its round
//! medians alone is a poor estimate: with 2 degrees of freedom it is often
//! far too small, and an interval built on it (even with Student's t) misses
//! a rerun's median. The cases of one run share the machine, so on the log
//! scale their between-round variances are alike; [`round_variances`] pools
//! them (the median of the scaled per-case variances, robust to a few cases
//! with a bad round) and gives each case the larger of the pooled and its
//! own variance, so that a case whose rounds disagree more than the others'
//! keeps its wider interval (as in moderated variance estimators; Smyth,
//! 2004).
//!
//! Some variation is shared by all rounds of a run and differs between runs:
//! slow machine states that last longer than a run (a neighbour's load, a
//! clock or power state). No run can see it in its own rounds, so the
//! machine's *drift*, the standard deviation (log scale) of the between-run
//! variation the rounds do not explain, is measured separately by runs of the
//! same cases ([`excess_between_runs`]) and added to every case's variance.
//! It is estimated from a few runs, so the interval uses Student's t with the
//! Welch–Satterthwaite degrees of freedom of the sum (within-run part pooled
//! over many cases, drift part from the runs behind it): a drift learned from
//! five runs widens the interval by `t_4 / z` = 1.42, one learned from twenty
//! by 1.07.
use crate::stats::select::median_select;
use crate::stats::student::{normal_central_quantile, student_central_quantile};
use crate::{Error, Result};

/// Cases with at least two rounds needed before their variances are pooled.
pub const MIN_POOLED_CASES: usize = 3;

/// Median of a chi-square variable with `d` degrees of freedom, divided by
/// `d` (Wilson–Hilferty; 0.70 for `d = 2`, within 1.5% of the exact value).
fn chi2_median_ratio(d: usize) -> f64 {
    let d = d as f64;
    (1.0 - 2.0 / (9.0 * d)).powi(3)
}

fn log_variance(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let logs: Vec<f64> = values.iter().map(|v| v.ln()).collect();
    let mean = logs.iter().sum::<f64>() / n;
    logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0)
}

fn check_positive(what: &str, i: usize, values: &[f64]) -> Result<()> {
    if let Some(v) = values.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(Error::InvalidArgument(format!(
            "{what} {i}: every median must be a finite positive time, got {v}"
        )));
    }
    Ok(())
}

/// Degrees of freedom from which Student's t is taken as the normal (they
/// differ by less than 0.1% at 95%).
const NORMAL_DF: f64 = 2000.0;

/// A case's within-run variance of its run median (log scale) and its
/// degrees of freedom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WithinVariance {
    /// Variance of the log run median from the rounds (pooled or own) over `R`.
    pub variance: f64,
    /// Degrees of freedom of that estimate: the pooled cases' `R - 1` summed,
    /// or the case's own `R - 1` when there was nothing to pool.
    pub df: f64,
}

/// The variance, on the log scale, of each case's run median from the
/// medians of its rounds, without the drift: the larger of the pooled and
/// its own between-round variance, over `R`. When fewer than
/// [`MIN_POOLED_CASES`] cases have two rounds, a case's own variance with
/// `R - 1` degrees of freedom. A case with one round has none (`None`).
///
/// # Errors
/// [`Error::InvalidArgument`] for a median that is not a finite positive time.
pub fn within_run_variances<R: AsRef<[f64]>>(
    round_medians: &[R],
) -> Result<Vec<Option<WithinVariance>>> {
    let mut own: Vec<Option<(usize, f64)>> = Vec::with_capacity(round_medians.len());
    for (i, case) in round_medians.iter().enumerate() {
        let m = case.as_ref();
        check_positive("case", i, m)?;
        own.push((m.len() >= 2).then(|| (m.len(), log_variance(m))));
    }
    let mut scaled: Vec<f64> = own
        .iter()
        .flatten()
        .map(|(r, s2)| s2 / chi2_median_ratio(r - 1))
        .collect();
    let pooled_df: usize = own.iter().flatten().map(|(r, _)| r - 1).sum();
    let pooled = (scaled.len() >= MIN_POOLED_CASES).then(|| median_select(&mut scaled));
    Ok(own
        .into_iter()
        .map(|o| {
            o.map(|(r, s2)| match pooled {
                Some(p) => WithinVariance {
                    variance: p.max(s2) / r as f64,
                    df: pooled_df as f64,
                },
                None => WithinVariance {
                    variance: s2 / r as f64,
                    df: (r - 1) as f64,
                },
            })
        })
        .collect())
}

/// The median of a run measured in rounds, each round weighing the same
/// however many samples it has: the weighted median of the pooled samples,
/// a sample of round `r` weighing `1 / (R n_r)` (the midpoint where the
/// cumulative weight is exactly one half). A round's sample count is not
/// evidence: an adaptive sampler stops a quiet round early and lets a noisy
/// (often slow) one run to its budget, so the plain pooled median leans
/// toward the slow round. Rounds with no samples are skipped.
///
/// # Errors
/// [`Error::InvalidArgument`] for no samples at all or a sample that is not
/// finite.
pub fn balanced_median<R: AsRef<[f64]>>(rounds: &[R]) -> Result<f64> {
    let live: Vec<&[f64]> = rounds
        .iter()
        .map(AsRef::as_ref)
        .filter(|r| !r.is_empty())
        .collect();
    if live.is_empty() {
        return Err(Error::InvalidArgument("no samples in any round".into()));
    }
    let mut weighted: Vec<(f64, f64)> = Vec::new();
    for (i, round) in live.iter().enumerate() {
        if let Some(v) = round.iter().find(|v| !v.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "round {i}: samples must be finite, got {v}"
            )));
        }
        let w = 1.0 / (live.len() * round.len()) as f64;
        weighted.extend(round.iter().map(|&x| (x, w)));
    }
    weighted.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let mut cumulative = 0.0;
    for (i, &(x, w)) in weighted.iter().enumerate() {
        cumulative += w;
        if cumulative > 0.5 + 1e-12 {
            return Ok(x);
        }
        if cumulative >= 0.5 - 1e-12 {
            // exactly half below: the midpoint with the next sample
            return Ok(weighted.get(i + 1).map_or(x, |next| 0.5 * (x + next.0)));
        }
    }
    Ok(weighted[weighted.len() - 1].0)
}

/// Welch–Satterthwaite degrees of freedom of a sum of independent variance
/// estimates, each `(variance, df)`; a part with infinite `df` is known
/// exactly. Infinite when every part is known (or all are zero).
#[must_use]
pub fn satterthwaite_df(parts: &[(f64, f64)]) -> f64 {
    let total: f64 = parts.iter().map(|p| p.0).sum();
    let denominator: f64 = parts
        .iter()
        .filter(|(_, df)| df.is_finite())
        .map(|(v, df)| v * v / df)
        .sum();
    if denominator > 0.0 {
        total * total / denominator
    } else {
        f64::INFINITY
    }
}

/// `t / z` at `confidence` for Student's t with `df` degrees of freedom
/// (at least 1; a fractional `df` interpolates linearly in `1 / df`
/// between its neighbours, accurate to about 0.1%): how much wider an
/// interval must be when its variance is estimated rather than known.
fn t_over_z(confidence: f64, df: f64) -> Result<f64> {
    let z = normal_central_quantile(confidence)?;
    if df >= NORMAL_DF {
        return Ok(1.0);
    }
    let df = df.max(1.0);
    let lo = df.floor();
    let t_lo = student_central_quantile(confidence, lo as usize)?;
    if (df - lo).abs() < f64::EPSILON {
        return Ok(t_lo / z);
    }
    let t_hi = student_central_quantile(confidence, lo as usize + 1)?;
    let w = (1.0 / lo - 1.0 / df) / (1.0 / lo - 1.0 / (lo + 1.0));
    Ok((t_lo + w * (t_hi - t_lo)) / z)
}

/// The variance, on the log scale, of each case's run median, given the
/// medians of its rounds: the within-run variance
/// ([`within_run_variances`]) plus the drift's, `drift_sd^2`, estimated with
/// `drift_df` degrees of freedom (infinite: known, or none). The variances are
/// scaled so that `z * sqrt(v)`, with `z` the normal quantile of
/// `confidence`, is the half-width of the case's interval: by `(t / z)^2`,
/// Student's t with the Welch–Satterthwaite degrees of freedom of the sum, so
/// that a drift estimated from a short history, or rounds that could not be
/// pooled, widen the interval as their uncertainty requires. A case with one
/// round has no variance (`None`).
///
/// # Errors
/// [`Error::InvalidArgument`] for a median that is not a finite positive
/// time, a negative or non-finite `drift_sd`, `drift_df` below 1 (or NaN), or a
/// bad confidence.
pub fn round_variances<R: AsRef<[f64]>>(
    round_medians: &[R],
    drift_sd: f64,
    drift_df: f64,
    confidence: f64,
) -> Result<Vec<Option<f64>>> {
    if !(drift_sd.is_finite() && drift_sd >= 0.0) {
        return Err(Error::InvalidArgument(format!(
            "drift must be a finite standard deviation >= 0, got {drift_sd}"
        )));
    }
    if drift_df.is_nan() || drift_df < 1.0 {
        return Err(Error::InvalidArgument(format!(
            "the drift's degrees of freedom must be >= 1 (infinite: known), got {drift_df}"
        )));
    }
    normal_central_quantile(confidence)?;
    let drift2 = drift_sd * drift_sd;
    within_run_variances(round_medians)?
        .into_iter()
        .map(|w| {
            w.map(|w| {
                let df = satterthwaite_df(&[(w.variance, w.df), (drift2, drift_df)]);
                Ok((w.variance + drift2) * t_over_z(confidence, df)?.powi(2))
            })
            .transpose()
        })
        .collect()
}

/// The machine's drift: the standard deviation (log scale) of run medians
/// between runs beyond what their rounds explain. `run_medians[i]` holds
/// case `i`'s median in each run (at least two runs), `within[i]` a
/// typical (the caller's choice: median) over those runs of the case's
/// [`within_run_variances`]. The excess `var(log run medians) - within` is taken per case and
/// its median over the cases (robust to one case with its own trouble),
/// clamped at 0, is the drift's variance.
///
/// # Errors
/// [`Error::InvalidArgument`] for no cases, lengths that do not match, a
/// case with fewer than two runs, or a median that is not a positive time.
pub fn excess_between_runs<R: AsRef<[f64]>>(run_medians: &[R], within: &[f64]) -> Result<f64> {
    if run_medians.is_empty() || run_medians.len() != within.len() {
        return Err(Error::InvalidArgument(format!(
            "need one within-run variance per case: {} cases, {} variances",
            run_medians.len(),
            within.len()
        )));
    }
    let mut excess = Vec::with_capacity(within.len());
    for (i, (case, w)) in run_medians.iter().zip(within).enumerate() {
        let m = case.as_ref();
        if m.len() < 2 {
            return Err(Error::InvalidArgument(format!(
                "case {i}: the drift needs the case's median in at least two runs"
            )));
        }
        check_positive("case", i, m)?;
        excess.push(log_variance(m) - w);
    }
    Ok(median_select(&mut excess).max(0.0).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooling_lifts_a_case_whose_rounds_agree_by_chance() {
        let cases = [
            vec![1.0, 1.1, 0.9],
            vec![2.0, 2.2, 1.8],
            vec![3.0, 3.0, 3.0],
            vec![1.0, 1.12, 0.88],
        ];
        let v = round_variances(&cases, 0.0, f64::INFINITY, 0.95).unwrap();
        let pooled = v[0].unwrap();
        assert!(pooled > 0.0);
        // the agreeing case gets the pooled variance, not its own zero
        assert!((v[2].unwrap() - pooled).abs() < 1e-12);
        // the case that disagrees more keeps its own, larger variance
        assert!(v[3].unwrap() > pooled);
    }

    #[test]
    fn drift_adds_to_every_case_and_one_round_has_none() {
        let cases = [vec![1.0, 1.1], vec![1.0, 1.1], vec![1.0, 1.1], vec![5.0]];
        let w = within_run_variances(&cases).unwrap()[0].unwrap();
        assert!((w.df - 3.0).abs() < 1e-12);
        let b = round_variances(&cases, 0.02, f64::INFINITY, 0.95).unwrap();
        // a known drift adds its variance; the sum has more degrees of freedom than the rounds
        let df = (w.variance + 0.0004).powi(2) / (w.variance.powi(2) / 3.0);
        let expected = (w.variance + 0.0004) * t_over_z(0.95, df).unwrap().powi(2);
        assert!((b[0].unwrap() - expected).abs() < 1e-15);
        assert_eq!(b[3], None);
    }

    #[test]
    fn a_drift_from_few_runs_widens_by_students_t() {
        // rounds that agree exactly: the interval is the drift's alone
        let cases = [
            vec![1.0, 1.0, 1.0],
            vec![2.0, 2.0, 2.0],
            vec![3.0, 3.0, 3.0],
        ];
        let known = round_variances(&cases, 0.02, f64::INFINITY, 0.95).unwrap();
        assert!((known[0].unwrap() - 0.0004).abs() < 1e-15);
        let five_runs = round_variances(&cases, 0.02, 4.0, 0.95).unwrap();
        let t = student_central_quantile(0.95, 4).unwrap();
        let z = normal_central_quantile(0.95).unwrap();
        assert!((five_runs[0].unwrap() - 0.0004 * (t / z).powi(2)).abs() < 1e-15);
    }

    #[test]
    fn balanced_median_weighs_rounds_not_samples() {
        // a slow round with many samples does not outvote two quick ones
        let slow = vec![2.0; 100];
        let rounds = [vec![1.0, 1.1, 0.9], vec![1.0, 1.05, 0.95], slow];
        let m = balanced_median(&rounds).unwrap();
        assert!((0.9..=1.1).contains(&m), "{m}");
        // one round: its own median; equal counts: the pooled median
        assert!((balanced_median(&[vec![3.0, 1.0, 2.0]]).unwrap() - 2.0).abs() < 1e-15);
        let even = [vec![1.0, 2.0], vec![3.0, 4.0]];
        assert!((balanced_median(&even).unwrap() - 2.5).abs() < 1e-15);
        assert!(balanced_median(&[Vec::<f64>::new()]).is_err());
        assert!(balanced_median(&[vec![1.0, f64::NAN]]).is_err());
    }

    #[test]
    fn satterthwaite_of_known_sums() {
        assert!((satterthwaite_df(&[(1.0, 4.0), (1.0, 4.0)]) - 8.0).abs() < 1e-12);
        assert!((satterthwaite_df(&[(1.0, 4.0), (0.0, 2.0)]) - 4.0).abs() < 1e-12);
        assert!(satterthwaite_df(&[(1.0, f64::INFINITY)]).is_infinite());
        assert!((t_over_z(0.95, 1e9).unwrap() - 1.0).abs() < 1e-15);
        // between neighbours, and close to the exact t_{4.5} = 2.6589
        let z = normal_central_quantile(0.95).unwrap();
        let t = t_over_z(0.95, 4.5).unwrap() * z;
        assert!((t - 2.6589).abs() < 0.005, "{t}");
    }

    #[test]
    fn too_few_cases_use_students_t() {
        let cases = [vec![1.0, 1.1, 0.9]];
        let v = round_variances(&cases, 0.0, f64::INFINITY, 0.95).unwrap()[0].unwrap();
        let own = log_variance(&cases[0]) / 3.0;
        let t = student_central_quantile(0.95, 2).unwrap();
        let z = normal_central_quantile(0.95).unwrap();
        assert!((v - own * (t / z).powi(2)).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_named() {
        assert!(round_variances(&[vec![1.0, -1.0]], 0.0, f64::INFINITY, 0.95).is_err());
        assert!(round_variances(&[vec![1.0, 1.0]], f64::NAN, f64::INFINITY, 0.95).is_err());
        assert!(round_variances(&[vec![1.0, 1.0]], 0.01, 0.5, 0.95).is_err());
        assert!(round_variances(&[vec![1.0, 1.0]], 0.01, f64::NAN, 0.95).is_err());
        assert!(excess_between_runs(&[vec![1.0]], &[0.0]).is_err());
        assert!(excess_between_runs(&[vec![1.0, 1.0]], &[]).is_err());
    }

    #[test]
    fn excess_is_what_the_rounds_do_not_explain() {
        // log run medians with variance ln(1.1)^2 / 2 * ...: compute directly
        let runs = [
            vec![1.0, 1.1, 1.0, 1.1],
            vec![2.0, 2.2, 2.0, 2.2],
            vec![3.0, 3.3, 3.0, 3.3],
        ];
        let total = log_variance(&runs[0]);
        let d = excess_between_runs(&runs, &[total / 4.0; 3]).unwrap();
        assert!((d * d - 0.75 * total).abs() < 1e-12);
        // rounds that explain it all leave no drift
        assert!(excess_between_runs(&runs, &[total; 3]).unwrap().abs() < 1e-15);
    }
}

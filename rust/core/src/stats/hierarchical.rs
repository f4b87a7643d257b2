//! Two-level (hierarchical) bootstrap for groups of runs.
//!
//! # Why
//! Timings of one benchmark run are not independent draws from "the speed
//! of the code": every run has its own clock and power state, thread
//! placement, memory layout and neighbours, which shift its whole sample
//! distribution by a few percent. Resampling the pooled samples of several
//! runs as if they were one run treats that shift as if it averaged out
//! sample by sample, the pseudo-replication error (Hurlbert, 1984; Lazic,
//! 2010), and gives intervals far too narrow. Kalibera & Jones ("Rigorous
//! benchmarking in reasonable time", 2013) model benchmark timings as such
//! a multi-level random-effects design and bootstrap each level.
//!
//! # Method
//! Each side (`a` baseline, `b` candidate) is a group of `k` runs. The
//! statistic of a side is the statistic (median or mean) of its pooled
//! samples. One bootstrap replicate:
//!
//! 1. draws `k` runs of the side **with replacement**;
//! 2. draws, **with replacement**, as many samples from each drawn run as
//!    that run has;
//! 3. pools the drawn samples and takes their statistic;
//!
//! for `a` and then `b` (independently), and records
//! `statistic(b) / statistic(a)`. The percentile interval of those
//! replicates is the confidence interval ([`super::bootstrap`]).
//!
//! Resampling both levels with replacement (Davison & Hinkley, *Bootstrap
//! Methods and their Application*, 1997, §3.8; the hierarchical bootstrap
//! of Saravanan et al., 2020) keeps the within-run noise, and with one run
//! per side it **is** the ordinary bootstrap of [`super::bootstrap`]: step 1
//! then has one choice and draws no random number, so the replicates are
//! bit-identical. For the mean, Davison & Hinkley show that it counts the
//! within-run variance about twice (wider, the safe side) while the top
//! level gives the between-run variance only `(k - 1) / k` of its weight.
//!
//! **Few runs.** With 2 to 5 runs per side a percentile bootstrap is too
//! narrow for two reasons (Cameron, Gelbach & Miller, 2008, show cluster
//! bootstraps over-rejecting with few clusters): the top level gives the
//! between-run variance only `(k - 1) / k` of its weight, and the between-
//! run spread is itself estimated from `k` values, so the interval should
//! be `t`, not `z`, standard errors wide (with few clusters, use critical
//! values of Student's t on the cluster degrees of freedom: Cameron &
//! Miller, "A practitioner's guide to cluster-robust inference", 2015).
//! Both are corrected on the run level before resampling: each run `r` of a
//! side with `k >= 2` runs is rescaled so that its median moves from `m_r`
//! to `g · (m_r / g)^c`, with `g` the geometric mean of the side's run
//! medians and
//!
//! `c = sqrt(k / (k - 1)) · t_nu / z`,  `nu = (k_a - 1) + (k_b - 1)`,
//!
//! `t_nu` and `z` the central quantiles of the interval's confidence
//! ([`super::student`]). The run-level deviations (on the log scale, where
//! timings vary by ratios) then have the bootstrap spread a `t` interval
//! would give them, as Davison & Hinkley adjust the upper stage of
//! two-stage data; the within-run resampling is unchanged. Runs that agree
//! stay close together however large `c` is; runs that disagree widen the
//! interval, the more so the fewer they are (2 runs a side: `c ≈ 3.1` at
//! 95%; 3: `c ≈ 1.73`; 5: `c ≈ 1.32`). Point estimates (medians, spread,
//! the rank test) use the samples as measured. With one run per side, or a
//! run median that is not positive (not a time), nothing is rescaled.
//! `benchmarks/bench_compare.py` measures the resulting A/A false-positive
//! rate on real runs.
//!
//! Alternatives considered: resampling runs only (each drawn run kept
//! whole, Davison & Hinkley's other strategy) gives a zero-width interval
//! with one run per side and ignores the within-run noise that dominates
//! short runs; the median of per-run medians can take only a handful of
//! values with three runs, and its interval is as coarse.
//!
//! # Cost
//! As the one-sample bootstrap: the pooled samples of a side are sorted
//! once, each run keeps the positions of its own values in that order, and
//! a replicate counts drawn positions in a histogram whose cumulative walk
//! gives the median. `O(total samples)` per replicate.
use super::bootstrap::{
    check_denominator, median_of_counts, sorted_for_bootstrap, Draw, Percentile, Statistic,
};
use super::median_sorted;
use super::rng::Xoshiro256PlusPlus;
use super::student::{normal_central_quantile, student_central_quantile};
use crate::{Error, Result};

/// The runs of one side: each run's samples sorted, their pool, their
/// medians.
#[derive(Debug, Clone)]
pub struct RunGroup {
    /// Each run's samples, sorted.
    runs: Vec<Vec<f64>>,
    /// Every sample of every run, sorted.
    sorted: Vec<f64>,
    /// Median of each run.
    medians: Vec<f64>,
}

impl RunGroup {
    /// Builds the group from the samples of each run.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when there is no run, when one of several
    /// runs is empty or has a NaN/infinite value (the message names the run
    /// and the position; a single run gives [`Error::Empty`] or
    /// [`Error::NonFinite`] as the one-sample functions do), or when
    /// `runs × samples` exceeds `u32::MAX` (the resample histogram counts
    /// in 32 bits).
    pub fn new<R: AsRef<[f64]>>(runs: &[R]) -> Result<Self> {
        if runs.is_empty() {
            return Err(Error::InvalidArgument(
                "a group needs at least one run".into(),
            ));
        }
        let mut sorted_runs = Vec::with_capacity(runs.len());
        let mut medians = Vec::with_capacity(runs.len());
        for (r, run) in runs.iter().enumerate() {
            // One run keeps the one-sample errors; several name the run.
            let sorted = sorted_for_bootstrap(run.as_ref()).map_err(|e| match e {
                e if runs.len() == 1 => e,
                Error::InvalidArgument(m) => Error::InvalidArgument(format!("run {r}: {m}")),
                e => Error::InvalidArgument(format!("run {r}: {e}")),
            })?;
            medians.push(median_sorted(&sorted));
            sorted_runs.push(sorted);
        }
        let total: usize = sorted_runs.iter().map(Vec::len).sum();
        if total
            .checked_mul(runs.len())
            .is_none_or(|x| x > u32::MAX as usize)
        {
            return Err(Error::InvalidArgument(format!(
                "hierarchical bootstrap supports runs x samples <= {}, got {} runs of {} samples",
                u32::MAX,
                runs.len(),
                total
            )));
        }
        let mut sorted = sorted_runs.concat();
        sorted.sort_unstable_by(f64::total_cmp);
        Ok(Self {
            runs: sorted_runs,
            sorted,
            medians,
        })
    }

    /// Number of runs.
    #[must_use]
    pub fn n_runs(&self) -> usize {
        self.runs.len()
    }

    /// Every sample of every run, sorted ascending.
    #[must_use]
    pub fn pooled_sorted(&self) -> &[f64] {
        &self.sorted
    }

    /// Median of the pooled samples.
    #[must_use]
    pub fn median(&self) -> f64 {
        median_sorted(&self.sorted)
    }

    /// Median of each run, in the order given.
    #[must_use]
    pub fn run_medians(&self) -> &[f64] {
        &self.medians
    }

    /// Between-run spread: `(max - min) / median` of the run medians, the
    /// relative range (the median of the run medians is the middle run's for
    /// an odd count). `None` for one run, where it cannot be seen.
    #[must_use]
    pub fn spread(&self) -> Option<f64> {
        if self.medians.len() < 2 {
            return None;
        }
        let mut m = self.medians.clone();
        m.sort_unstable_by(f64::total_cmp);
        let mid = median_sorted(&m);
        Some((m[m.len() - 1] - m[0]) / mid.abs())
    }

    /// The pool the bootstrap draws from, each run's deviation from the
    /// geometric mean of the run medians raised to the power `c` (its median
    /// moves to `g · (m_r / g)^c`). `c = 1`, one run, or a run median that
    /// is not positive: the runs as measured.
    fn pool(&self, c: f64) -> Pool {
        let k = self.runs.len();
        #[allow(clippy::float_cmp)] // exactly 1 means: leave the runs alone
        let rescale = k >= 2 && c != 1.0 && self.medians.iter().all(|&m| m > 0.0);
        let factors: Vec<f64> = if rescale {
            let mean_log = self.medians.iter().map(|m| m.ln()).sum::<f64>() / k as f64;
            self.medians
                .iter()
                .map(|m| ((c - 1.0) * (m.ln() - mean_log)).exp())
                .collect()
        } else {
            vec![1.0; k]
        };
        // A positive factor keeps each run's order, and the stable sort of
        // the tagged values pushes each run's positions in ascending order:
        // `runs[r][i]` is where the i-th smallest value of run r went.
        let mut tagged: Vec<(f64, u32)> = Vec::with_capacity(self.sorted.len());
        for (r, (run, f)) in self.runs.iter().zip(&factors).enumerate() {
            tagged.extend(run.iter().map(|&v| (v * f, r as u32)));
        }
        tagged.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut runs: Vec<Vec<u32>> = self
            .runs
            .iter()
            .map(|run| Vec::with_capacity(run.len()))
            .collect();
        for (p, &(_, r)) in tagged.iter().enumerate() {
            runs[r as usize].push(p as u32);
        }
        Pool {
            values: tagged.into_iter().map(|(v, _)| v).collect(),
            runs,
        }
    }
}

/// What one side's resampler draws from: sorted values and, per run, the
/// positions of its values.
struct Pool {
    values: Vec<f64>,
    runs: Vec<Vec<u32>>,
}

/// The run-level factor `c` of each side (see the module docs): with
/// `nu = (k_a - 1) + (k_b - 1)` degrees of freedom for the between-run
/// variance, `c = sqrt(k / (k - 1)) · t_nu / z` for a side of `k >= 2`
/// runs, at the interval's confidence; 1 for one run.
///
/// # Errors
/// [`Error::InvalidArgument`] for a confidence outside `(0, 1)`.
pub fn run_factors(k_a: usize, k_b: usize, confidence: f64) -> Result<(f64, f64)> {
    let nu = k_a.saturating_sub(1) + k_b.saturating_sub(1);
    if nu == 0 {
        return Ok((1.0, 1.0));
    }
    let t_over_z = student_central_quantile(confidence, nu)? / normal_central_quantile(confidence)?;
    let side = |k: usize| {
        if k < 2 {
            1.0
        } else {
            let kf = k as f64;
            (kf / (kf - 1.0)).sqrt() * t_over_z
        }
    };
    Ok((side(k_a), side(k_b)))
}

/// The run-level factor `c` of one group of `k` runs on its own (the
/// rounds of one run): `nu = k - 1` degrees of freedom for the between-run
/// variance, `c = sqrt(k / (k - 1)) · t_nu / z`; 1 for one run.
///
/// # Errors
/// [`Error::InvalidArgument`] for a confidence outside `(0, 1)`.
pub fn group_factor(k: usize, confidence: f64) -> Result<f64> {
    super::check_confidence(confidence)?;
    if k < 2 {
        return Ok(1.0);
    }
    let t_over_z =
        student_central_quantile(confidence, k - 1)? / normal_central_quantile(confidence)?;
    let kf = k as f64;
    Ok((kf / (kf - 1.0)).sqrt() * t_over_z)
}

/// Two-level percentile-bootstrap confidence interval of `statistic` of
/// the pooled samples of one group of runs (the rounds of a run): runs,
/// then samples within each drawn run, with replacement, the run level
/// widened for few runs by [`group_factor`] as [`hierarchical_ratio_ci`]
/// widens each side. The interval therefore covers the variation between
/// runs (process states, clocks, neighbours), not only the noise inside
/// one. With one run it equals [`super::bootstrap_ci`] of that run, bit for
/// bit. Reproducible for a given `seed` whatever the thread count.
///
/// # Errors
/// [`Error::InvalidArgument`] for `resamples == 0` or a confidence outside
/// `(0, 1)`.
pub fn hierarchical_ci(
    group: &RunGroup,
    statistic: Statistic,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    let percentile = Percentile::new(resamples, confidence, seed)?;
    let pool = group.pool(group_factor(group.n_runs(), confidence)?);
    Ok(percentile.of(|| RunsResampler::new(&pool, statistic)))
}

/// Per-thread scratch space for one side.
struct RunsResampler<'a> {
    pool: &'a Pool,
    counts: Vec<u32>,
    statistic: Statistic,
}

impl<'a> RunsResampler<'a> {
    fn new(pool: &'a Pool, statistic: Statistic) -> Self {
        let counts = match statistic {
            Statistic::Median => vec![0; pool.values.len()],
            Statistic::Mean => Vec::new(),
        };
        Self {
            pool,
            counts,
            statistic,
        }
    }
}

impl Draw for RunsResampler<'_> {
    /// The draw order within a run (pairs of indices from one 64-bit draw,
    /// then one for an odd size) is that of the one-sample resampler, so
    /// that one run reproduces it exactly.
    fn draw(&mut self, rng: &mut Xoshiro256PlusPlus) -> f64 {
        let (values, runs) = (&self.pool.values, &self.pool.runs);
        let k = runs.len();
        let mut total = 0usize;
        let mut sum = 0.0;
        if self.statistic == Statistic::Median {
            self.counts.fill(0);
        }
        for _ in 0..k {
            let r = if k == 1 {
                0
            } else {
                rng.below(k as u32) as usize
            };
            let pos = &runs[r];
            let n = pos.len();
            let n32 = n as u32;
            total += n;
            match self.statistic {
                Statistic::Mean => {
                    for _ in 0..n / 2 {
                        let (i, j) = rng.two_below(n32);
                        sum += values[pos[i as usize] as usize] + values[pos[j as usize] as usize];
                    }
                    if n % 2 == 1 {
                        sum += values[pos[rng.below(n32) as usize] as usize];
                    }
                }
                Statistic::Median => {
                    let counts = &mut self.counts;
                    for _ in 0..n / 2 {
                        let (i, j) = rng.two_below(n32);
                        counts[pos[i as usize] as usize] += 1;
                        counts[pos[j as usize] as usize] += 1;
                    }
                    if n % 2 == 1 {
                        counts[pos[rng.below(n32) as usize] as usize] += 1;
                    }
                }
            }
        }
        match self.statistic {
            Statistic::Mean => sum / total as f64,
            Statistic::Median => median_of_counts(&self.counts, values, total),
        }
    }
}

/// Two-level percentile-bootstrap confidence interval of
/// `statistic(b) / statistic(a)` for two groups of runs, calibrated for few
/// runs (see the module docs); `a` is the baseline, so a value above 1
/// means `b` is slower.
///
/// With one run per group the result equals
/// [`super::bootstrap_ratio_ci`] of those runs, bit for bit. Reproducible
/// for a given `seed` whatever the thread count.
///
/// # Errors
/// [`Error::InvalidArgument`] for `resamples == 0`, a confidence outside
/// `(0, 1)`, or a value of `a` that is not strictly positive.
pub fn hierarchical_ratio_ci(
    a: &RunGroup,
    b: &RunGroup,
    statistic: Statistic,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    let percentile = Percentile::new(resamples, confidence, seed)?;
    check_denominator("hierarchical_ratio_ci", &a.sorted)?;
    let (ca, cb) = run_factors(a.n_runs(), b.n_runs(), confidence)?;
    // Positive factors keep the pool of `a` positive.
    let (pa, pb) = (a.pool(ca), b.pool(cb));
    Ok(percentile.of_ratio(|| {
        (
            RunsResampler::new(&pa, statistic),
            RunsResampler::new(&pb, statistic),
        )
    }))
}

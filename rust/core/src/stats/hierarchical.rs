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
//! Methods and their Application*, 1997, §3.8, "strategy 2"; the
//! hierarchical bootstrap of Saravanan et al., 2020) keeps the within-run
//! noise that the top level alone would lose when runs are few, and with
//! one run per side it **is** the ordinary bootstrap of [`super::bootstrap`]
//! (step 1 then has one choice and draws no random number, so the
//! replicates are bit-identical). Davison & Hinkley show that it
//! overstates the within-run part of the variance slightly while the top
//! level understates the between-run part by `(k - 1) / k`; for the 2 to 10
//! runs of a benchmark comparison the net is close to honest and errs on
//! the side of wider intervals.
//!
//! Alternatives considered: the median of per-run medians resampled at the
//! run level only cannot reduce to the one-run comparison (its interval
//! would be a point) and, with three runs, can take only a handful of
//! values; resampling runs without replacement at the second level
//! (Davison & Hinkley's strategy 1) does not apply to the median.
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
use crate::{Error, Result};

/// The pooled samples of a group of runs, sorted once, with each run's
/// positions in the pooled order.
#[derive(Debug, Clone)]
pub struct RunGroup {
    sorted: Vec<f64>,
    /// `runs[r][i]`: pooled position of the `i`-th smallest value of run `r`.
    runs: Vec<Vec<u32>>,
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
    /// [`Error::NonFinite`] as the one-sample functions do), or when `runs × samples` exceeds `u32::MAX` (the
    /// resample histogram counts in 32 bits).
    pub fn new<R: AsRef<[f64]>>(runs: &[R]) -> Result<Self> {
        if runs.is_empty() {
            return Err(Error::InvalidArgument(
                "a group needs at least one run".into(),
            ));
        }
        let mut tagged: Vec<(f64, u32)> = Vec::new();
        let mut medians = Vec::with_capacity(runs.len());
        for (r, run) in runs.iter().enumerate() {
            let run = run.as_ref();
            // One run keeps the one-sample errors; several name the run.
            let sorted = sorted_for_bootstrap(run).map_err(|e| match e {
                e if runs.len() == 1 => e,
                Error::InvalidArgument(m) => Error::InvalidArgument(format!("run {r}: {m}")),
                e => Error::InvalidArgument(format!("run {r}: {e}")),
            })?;
            medians.push(median_sorted(&sorted));
            tagged.extend(sorted.into_iter().map(|v| (v, r as u32)));
        }
        let total = tagged.len();
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
        // A stable sort keeps each run's values in their own sorted order,
        // so positions are pushed in ascending value order per run.
        tagged.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut positions: Vec<Vec<u32>> = runs
            .iter()
            .map(|run| Vec::with_capacity(run.as_ref().len()))
            .collect();
        for (p, &(_, r)) in tagged.iter().enumerate() {
            positions[r as usize].push(p as u32);
        }
        Ok(Self {
            sorted: tagged.into_iter().map(|(v, _)| v).collect(),
            runs: positions,
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
}

/// Per-thread scratch space for one group.
pub(super) struct RunsResampler<'a> {
    group: &'a RunGroup,
    counts: Vec<u32>,
    statistic: Statistic,
}

impl<'a> RunsResampler<'a> {
    fn new(group: &'a RunGroup, statistic: Statistic) -> Self {
        let counts = match statistic {
            Statistic::Median => vec![0; group.sorted.len()],
            Statistic::Mean => Vec::new(),
        };
        Self {
            group,
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
        let g = self.group;
        let k = g.runs.len();
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
            let pos = &g.runs[r];
            let n = pos.len();
            let n32 = n as u32;
            total += n;
            match self.statistic {
                Statistic::Mean => {
                    for _ in 0..n / 2 {
                        let (i, j) = rng.two_below(n32);
                        sum +=
                            g.sorted[pos[i as usize] as usize] + g.sorted[pos[j as usize] as usize];
                    }
                    if n % 2 == 1 {
                        sum += g.sorted[pos[rng.below(n32) as usize] as usize];
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
            Statistic::Median => median_of_counts(&self.counts, &g.sorted, total),
        }
    }
}

/// Two-level percentile-bootstrap confidence interval of
/// `statistic(b) / statistic(a)` for two groups of runs (see the module
/// docs); `a` is the baseline, so a value above 1 means `b` is slower.
///
/// With one run per group the result equals
/// [`super::bootstrap_ratio_ci`] of those runs, bit for bit. Reproducible
/// for a given `seed` whatever the thread count.
///
/// # Errors
/// [`Error::InvalidArgument`] for `resamples == 0`, a confidence outside
/// `(0, 1)`, a value of `a` that is not strictly positive, or a group
/// [`RunGroup::new`] refuses.
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
    Ok(percentile.of_ratio(|| {
        (
            RunsResampler::new(a, statistic),
            RunsResampler::new(b, statistic),
        )
    }))
}

//! Percentile bootstrap, seeded, parallel and reproducible.
//!
//! # Method
//! Monte-Carlo percentile bootstrap (Efron & Tibshirani, 1993, §13.3): draw
//! `resamples` resamples of size `n` with replacement, compute the
//! statistic of each, and report the `(1-c)/2` and `(1+c)/2` quantiles of
//! those values (linear interpolation, as `numpy.percentile` and
//! `scipy.stats.bootstrap(method="percentile")`).
//!
//! # Reproducibility
//! Resamples are processed in fixed chunks of [`CHUNK`]; chunk `c` draws
//! from xoshiro256++ stream `c` of the seed (see [`super::rng`]). The
//! result therefore depends only on `(samples, resamples, seed)`, never on
//! the number of rayon threads or on scheduling.
//!
//! # Cost
//! The median of a resample needs no sort: the data are sorted once, each
//! resample draws `n` indices into the sorted data and counts them in a
//! histogram of `n` buckets, and a walk of the cumulative counts finds the
//! middle rank(s). `O(n)` per resample, with two 32-bit indices per 64-bit
//! random draw. The mean is a sum of drawn values. Total `O(resamples · n)`.
//!
//! # Structure
//! One loop, `Percentile`, runs every bootstrap of the crate: a
//! resampler (the `Draw` trait) gives one replicate's statistic, and the
//! loop turns `resamples` of them (or of a ratio of two resamplers) into
//! the percentile interval. One sample set here; groups of runs in
//! [`super::hierarchical`].
use rayon::prelude::*;

use super::rng::Xoshiro256PlusPlus;
use super::{check_confidence, quantile_sorted, sorted_copy};
use crate::{Error, Result};

/// Resamples per reproducibility chunk (one RNG stream each).
pub const CHUNK: usize = 64;

/// The statistic whose sampling distribution is bootstrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// Median (mean of the two middle values for even `n`, as `numpy.median`).
    Median,
    /// Arithmetic mean.
    Mean,
}

impl Statistic {
    /// Parses `"median"` or `"mean"`.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for any other name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "median" => Ok(Self::Median),
            "mean" => Ok(Self::Mean),
            other => Err(Error::InvalidArgument(format!(
                "statistic must be \"median\" or \"mean\", got {other:?}"
            ))),
        }
    }
}

/// One bootstrap replicate: a resampler draws a resample with the given
/// generator and returns its statistic. Implemented for one sample set
/// ([`Resampler`]) and for a group of runs
/// ([`super::hierarchical::RunsResampler`]), so that one-sample and ratio
/// intervals of both share [`Percentile`].
pub(super) trait Draw {
    /// The statistic of one resample drawn from `rng`.
    fn draw(&mut self, rng: &mut Xoshiro256PlusPlus) -> f64;
}

/// Median of a resample given as `counts[i]` copies of `sorted[i]`
/// (`total` values in all): a walk of the cumulative counts to the middle
/// rank(s), the mean of the two middle values for an even `total`.
pub(super) fn median_of_counts(counts: &[u32], sorted: &[f64], total: usize) -> f64 {
    // 0-based middle ranks of `total` drawn values.
    let (r1, r2) = ((total - 1) / 2, total / 2);
    let mut cum = 0usize;
    let mut first = None;
    for (idx, &c) in counts.iter().enumerate() {
        cum += c as usize;
        if first.is_none() && cum > r1 {
            first = Some(sorted[idx]);
        }
        if cum > r2 {
            let a = first.unwrap_or(sorted[idx]);
            return 0.5 * (a + sorted[idx]);
        }
    }
    unreachable!("counts sum to total > r2")
}

/// Per-thread scratch space for one sample set.
struct Resampler<'a> {
    sorted: &'a [f64],
    counts: Vec<u32>,
    statistic: Statistic,
}

impl<'a> Resampler<'a> {
    fn new(sorted: &'a [f64], statistic: Statistic) -> Self {
        let counts = match statistic {
            Statistic::Median => vec![0; sorted.len()],
            Statistic::Mean => Vec::new(),
        };
        Self {
            sorted,
            counts,
            statistic,
        }
    }
}

impl Draw for Resampler<'_> {
    fn draw(&mut self, rng: &mut Xoshiro256PlusPlus) -> f64 {
        let n = self.sorted.len();
        let n32 = n as u32;
        match self.statistic {
            Statistic::Mean => {
                let mut sum = 0.0;
                for _ in 0..n / 2 {
                    let (i, j) = rng.two_below(n32);
                    sum += self.sorted[i as usize] + self.sorted[j as usize];
                }
                if n % 2 == 1 {
                    sum += self.sorted[rng.below(n32) as usize];
                }
                sum / n as f64
            }
            Statistic::Median => {
                let counts = &mut self.counts;
                counts.fill(0);
                for _ in 0..n / 2 {
                    let (i, j) = rng.two_below(n32);
                    counts[i as usize] += 1;
                    counts[j as usize] += 1;
                }
                if n % 2 == 1 {
                    counts[rng.below(n32) as usize] += 1;
                }
                median_of_counts(counts, self.sorted, n)
            }
        }
    }
}

pub(super) fn sorted_for_bootstrap(samples: &[f64]) -> Result<Vec<f64>> {
    if samples.len() > u32::MAX as usize {
        return Err(Error::InvalidArgument(format!(
            "bootstrap supports at most {} samples, got {}",
            u32::MAX,
            samples.len()
        )));
    }
    sorted_copy(samples)
}

/// The denominator of a ratio must be positive in every resample: checks
/// the smallest value of `a` (sorted ascending).
pub(super) fn check_denominator(function: &str, sorted_a: &[f64]) -> Result<()> {
    if sorted_a[0] <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "{function}: every value of `a` (the denominator) must be > 0, found {}",
            sorted_a[0]
        )));
    }
    Ok(())
}

/// The one bootstrap loop: validated settings, and the percentile interval
/// of `resamples` replicates computed in reproducible chunks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Percentile {
    resamples: usize,
    confidence: f64,
    seed: u64,
}

impl Percentile {
    /// Checks the settings (before any data is touched).
    pub(super) fn new(resamples: usize, confidence: f64, seed: u64) -> Result<Self> {
        check_confidence(confidence)?;
        if resamples == 0 {
            return Err(Error::InvalidArgument(
                "resamples must be at least 1".into(),
            ));
        }
        Ok(Self {
            resamples,
            confidence,
            seed,
        })
    }

    /// Percentile interval of the replicates `f(rng, scratch)`; `init`
    /// builds per-thread scratch. Chunk `c` of [`CHUNK`] replicates draws
    /// from stream `c` of the seed, whatever thread runs it.
    fn interval<S, I, F>(self, init: I, f: F) -> (f64, f64)
    where
        I: Fn() -> S + Sync + Send,
        F: Fn(&mut Xoshiro256PlusPlus, &mut S) -> f64 + Sync + Send,
    {
        let mut reps = vec![0.0; self.resamples];
        reps.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each_init(init, |scratch, (c, out)| {
                let mut rng = Xoshiro256PlusPlus::from_seed_stream(self.seed, c as u64);
                for r in out {
                    *r = f(&mut rng, scratch);
                }
            });
        reps.sort_unstable_by(f64::total_cmp);
        let alpha = (1.0 - self.confidence) / 2.0;
        (
            quantile_sorted(&reps, alpha),
            quantile_sorted(&reps, 1.0 - alpha),
        )
    }

    /// Interval of the statistic of one resampler.
    pub(super) fn of<R: Draw, I>(self, init: I) -> (f64, f64)
    where
        I: Fn() -> R + Sync + Send,
    {
        self.interval(init, |rng, r: &mut R| r.draw(rng))
    }

    /// Interval of `statistic(b) / statistic(a)`: each replicate draws a
    /// resample of `a`, then one of `b`, from the same stream.
    pub(super) fn of_ratio<A: Draw, B: Draw, I>(self, init: I) -> (f64, f64)
    where
        I: Fn() -> (A, B) + Sync + Send,
    {
        self.interval(init, |rng, (ra, rb): &mut (A, B)| {
            let den = ra.draw(rng);
            rb.draw(rng) / den
        })
    }
}

/// Percentile-bootstrap confidence interval of `statistic` of `samples`.
///
/// Reproducible for a given `seed` whatever the thread count (see the
/// module docs). With one sample, the interval is `(x, x)`.
///
/// # Errors
/// [`Error::Empty`], [`Error::NonFinite`], or [`Error::InvalidArgument`]
/// for `resamples == 0` or a confidence outside `(0, 1)`.
pub fn bootstrap_ci(
    samples: &[f64],
    statistic: Statistic,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    let percentile = Percentile::new(resamples, confidence, seed)?;
    let sorted = sorted_for_bootstrap(samples)?;
    Ok(percentile.of(|| Resampler::new(&sorted, statistic)))
}

/// Percentile-bootstrap confidence interval of the ratio
/// `statistic(b) / statistic(a)` of two independent samples (for A/B
/// comparisons: `b` new, `a` baseline, so a value above 1 means `b` is
/// slower). Each replicate resamples `a` and `b` independently.
///
/// # Errors
/// As [`bootstrap_ci`] for either sample, and [`Error::InvalidArgument`] when
/// `a` has a value that is not strictly positive (the ratio divides by
/// `statistic` of a resample of `a`, which is then always positive).
pub fn bootstrap_ratio_ci(
    a: &[f64],
    b: &[f64],
    statistic: Statistic,
    resamples: usize,
    confidence: f64,
    seed: u64,
) -> Result<(f64, f64)> {
    let percentile = Percentile::new(resamples, confidence, seed)?;
    let sa = sorted_for_bootstrap(a)?;
    let sb = sorted_for_bootstrap(b)?;
    check_denominator("bootstrap_ratio_ci", &sa)?;
    Ok(percentile.of_ratio(|| {
        (
            Resampler::new(&sa, statistic),
            Resampler::new(&sb, statistic),
        )
    }))
}

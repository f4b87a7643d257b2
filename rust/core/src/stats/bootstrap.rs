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

    /// The statistic of one resample drawn from `rng`.
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
                // 0-based middle ranks of n drawn values.
                let (r1, r2) = ((n - 1) / 2, n / 2);
                let mut cum = 0usize;
                let mut first = None;
                for (idx, &c) in counts.iter().enumerate() {
                    cum += c as usize;
                    if first.is_none() && cum > r1 {
                        first = Some(self.sorted[idx]);
                    }
                    if cum > r2 {
                        let a = first.unwrap_or(self.sorted[idx]);
                        return 0.5 * (a + self.sorted[idx]);
                    }
                }
                unreachable!("counts sum to n > r2")
            }
        }
    }
}

fn check_resamples(resamples: usize) -> Result<()> {
    if resamples == 0 {
        return Err(Error::InvalidArgument(
            "resamples must be at least 1".into(),
        ));
    }
    Ok(())
}

fn sorted_for_bootstrap(samples: &[f64]) -> Result<Vec<f64>> {
    if samples.len() > u32::MAX as usize {
        return Err(Error::InvalidArgument(format!(
            "bootstrap supports at most {} samples, got {}",
            u32::MAX,
            samples.len()
        )));
    }
    sorted_copy(samples)
}

/// Percentile interval of bootstrap replicates.
fn percentile_interval(mut reps: Vec<f64>, confidence: f64) -> (f64, f64) {
    reps.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    (
        quantile_sorted(&reps, alpha),
        quantile_sorted(&reps, 1.0 - alpha),
    )
}

/// Fills `reps` in reproducible chunks: `f(rng, scratch)` computes one
/// replicate; `init` builds per-thread scratch.
fn replicate<S, I, F>(resamples: usize, seed: u64, init: I, f: F) -> Vec<f64>
where
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut Xoshiro256PlusPlus, &mut S) -> f64 + Sync + Send,
{
    let mut reps = vec![0.0; resamples];
    reps.par_chunks_mut(CHUNK)
        .enumerate()
        .for_each_init(init, |scratch, (c, out)| {
            let mut rng = Xoshiro256PlusPlus::from_seed_stream(seed, c as u64);
            for r in out {
                *r = f(&mut rng, scratch);
            }
        });
    reps
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
    check_confidence(confidence)?;
    check_resamples(resamples)?;
    let sorted = sorted_for_bootstrap(samples)?;
    let reps = replicate(
        resamples,
        seed,
        || Resampler::new(&sorted, statistic),
        |rng, rs| rs.draw(rng),
    );
    Ok(percentile_interval(reps, confidence))
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
    check_confidence(confidence)?;
    check_resamples(resamples)?;
    let sa = sorted_for_bootstrap(a)?;
    let sb = sorted_for_bootstrap(b)?;
    if sa[0] <= 0.0 {
        return Err(Error::InvalidArgument(format!(
            "bootstrap_ratio_ci: every value of `a` (the denominator) must be > 0, found {}",
            sa[0]
        )));
    }
    let reps = replicate(
        resamples,
        seed,
        || {
            (
                Resampler::new(&sa, statistic),
                Resampler::new(&sb, statistic),
            )
        },
        |rng, (ra, rb)| {
            let den = ra.draw(rng);
            rb.draw(rng) / den
        },
    );
    Ok(percentile_interval(reps, confidence))
}

//! The adaptive sampling plan of DESIGN §2.
//!
//! 1. **Warm-up** for `warmup_s` seconds (at least one iteration). The
//!    batch size doubles from 1 (without overshooting the remaining
//!    budget), so the warm-up also estimates the time per iteration from
//!    its last, warmest batch.
//! 2. **Calibration** of `k`, the iterations per sample, so that one sample
//!    lasts at least `max(min_sample_s, 1000 × clock resolution)`: long
//!    enough that clock quantisation (< 0.1%) and per-batch costs (clock
//!    reads, a device synchronisation) vanish, short enough for many
//!    samples. The estimate is checked by running a batch; a batch that
//!    falls short grows `k` and is discarded, the first batch that lasts
//!    long enough is the first sample.
//! 3. **Sampling** with that `k` until (a) at least `min_samples` samples
//!    have been drawn and the relative half-width of the exact
//!    `confidence` interval of the median (see [`crate::stats::ci`]) is at
//!    most `target_rel_ci`: converged; (b) the measurement has lasted
//!    `max_time_s` and `min_samples` are drawn (a floor: the budget
//!    stretches to reach it): time budget; (c) `max_samples` are drawn. The interval
//!    needs a sort, so it is re-evaluated only when `n` has grown by 10%
//!    since the last evaluation or enough wall time has passed (at least
//!    20 ms and ten times the cost of the last evaluation), and always
//!    before stopping.
//!
//! Budgets are measured as the larger of the wall time and the sum of the
//! times the workload reported, so fake or device-timed workloads that
//! report more time than the host saw still end on time.
//!
//! Samples are kept raw, in measurement order, as seconds per iteration
//! (batch time divided by `k`).
use std::time::Instant;

use super::clock::clock_resolution;
use super::plan::SamplerConfig;
use super::Workload;
use crate::stats::analysis::rel_ci;
use crate::stats::{median_ci_ranks, median_sorted};
use crate::{Error, Result};

/// Largest batch size the sampler will use.
pub const MAX_K: u64 = 1 << 40;
/// Calibration batches tried before accepting whatever `k` has reached.
const MAX_CALIBRATION_TRIES: usize = 20;
/// Minimum wall time between two interval evaluations (besides the 10%
/// growth rule), in seconds.
const EVAL_INTERVAL_S: f64 = 0.02;

/// Why the sampler stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The median's confidence interval reached the target.
    Converged,
    /// The measurement time budget ran out first.
    TimeBudget,
    /// `max_samples` were drawn first.
    MaxSamples,
}

impl StopReason {
    /// `"converged"`, `"time_budget"` or `"max_samples"`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Converged => "converged",
            Self::TimeBudget => "time_budget",
            Self::MaxSamples => "max_samples",
        }
    }
}

/// Raw samples and the sampler's verdict for one case.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleResult {
    /// Seconds per iteration, one value per sample, in measurement order.
    pub samples: Vec<f64>,
    /// Iterations per sample.
    pub k: u64,
    /// Whether the target was reached (`stop_reason == Converged`).
    pub converged: bool,
    /// Why sampling stopped.
    pub stop_reason: StopReason,
    /// Median of the samples.
    pub median_s: f64,
    /// Lower end of the median's confidence interval (`-inf` when `n < 2`).
    pub ci_low_s: f64,
    /// Upper end of the median's confidence interval (`+inf` when `n < 2`).
    pub ci_high_s: f64,
    /// Relative half-width of the interval (`inf` when `n < 2`).
    pub rel_ci: f64,
    /// Wall time of the warm-up.
    pub warmup_s: f64,
    /// Iterations run during warm-up.
    pub warmup_iters: u64,
    /// Wall time of warm-up, calibration and sampling.
    pub elapsed_s: f64,
}

/// Median, interval and relative half-width of samples; the interval is
/// `None` when no pair of order statistics reaches the confidence.
struct Estimate {
    median: f64,
    ci: Option<(f64, f64)>,
}

fn estimate(samples: &[f64], scratch: &mut Vec<f64>, confidence: f64) -> Estimate {
    scratch.clear();
    scratch.extend_from_slice(samples);
    scratch.sort_unstable_by(f64::total_cmp);
    let median = median_sorted(scratch);
    let ci = median_ci_ranks(scratch.len(), confidence).map(|(lo, hi)| (scratch[lo], scratch[hi]));
    Estimate { median, ci }
}

/// Validated time of one batch.
fn checked(t: f64, k: u64) -> Result<f64> {
    if t.is_finite() && t >= 0.0 {
        Ok(t)
    } else {
        Err(Error::InvalidArgument(format!(
            "the workload reported {t} seconds for a batch of {k} iterations; \
             expected a finite, non-negative time"
        )))
    }
}

/// Elapsed budget: the larger of wall time and reported time.
struct Budget {
    start: Instant,
    reported: f64,
}

impl Budget {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            reported: 0.0,
        }
    }
    fn spent(&self) -> f64 {
        self.start.elapsed().as_secs_f64().max(self.reported)
    }
}

/// The adaptive sampler (see the module docs for the plan).
#[derive(Debug, Clone, Copy)]
pub struct Sampler {
    config: SamplerConfig,
}

impl Sampler {
    /// A sampler with validated settings.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a bad setting.
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> &SamplerConfig {
        &self.config
    }

    /// Shortest acceptable sample duration, in seconds.
    #[must_use]
    pub fn target_sample_s(&self) -> f64 {
        self.config.min_sample_s.max(1000.0 * clock_resolution())
    }

    /// Runs the whole plan on `w`.
    ///
    /// # Errors
    /// The workload's errors, unchanged, and [`Error::InvalidArgument`] when
    /// it reports a negative or non-finite time.
    pub fn run<W: Workload + ?Sized>(&self, w: &mut W) -> Result<SampleResult> {
        let start = Instant::now();
        let (warmup_iters, per_iter) = self.warm_up(w)?;
        let warmup_s = start.elapsed().as_secs_f64();
        let mut budget = Budget::new();
        let (k, first) = self.calibrate(w, per_iter, &mut budget)?;
        let mut samples = vec![first / k as f64];
        let stop = self.sample(w, k, &mut samples, &mut budget)?;

        let mut scratch = Vec::with_capacity(samples.len());
        let est = estimate(&samples, &mut scratch, self.config.confidence);
        let (ci_low_s, ci_high_s, rel) = if samples.len() < 2 {
            (f64::NEG_INFINITY, f64::INFINITY, f64::INFINITY)
        } else {
            let (lo, hi) = est.ci.unwrap_or((scratch[0], scratch[scratch.len() - 1]));
            (lo, hi, rel_ci(est.median, lo, hi))
        };
        Ok(SampleResult {
            samples,
            k,
            converged: stop == StopReason::Converged,
            stop_reason: stop,
            median_s: est.median,
            ci_low_s,
            ci_high_s,
            rel_ci: rel,
            warmup_s,
            warmup_iters,
            elapsed_s: start.elapsed().as_secs_f64(),
        })
    }

    /// Warm-up by time budget with doubling batches. Returns the iterations
    /// run and the per-iteration time of the last batch.
    fn warm_up<W: Workload + ?Sized>(&self, w: &mut W) -> Result<(u64, f64)> {
        let budget_s = self.config.warmup_s;
        let mut budget = Budget::new();
        let mut k: u64 = 1;
        let mut iters: u64 = 0;
        loop {
            w.between_batches()?;
            let t = checked(w.run_batch(k)?, k)?;
            iters += k;
            budget.reported += t;
            let per_iter = t / k as f64;
            let spent = budget.spent();
            if spent >= budget_s {
                return Ok((iters, per_iter));
            }
            let mut next = k.saturating_mul(2).min(MAX_K);
            if per_iter > 0.0 {
                // Do not run far past the budget: at most what still fits.
                let fits = ((budget_s - spent) / per_iter).floor().max(1.0);
                next = next.min(fits as u64);
            }
            k = next;
        }
    }

    /// Finds `k` so one batch lasts at least [`Self::target_sample_s`].
    /// Returns `k` and the time of the first batch long enough, which is
    /// the first sample.
    fn calibrate<W: Workload + ?Sized>(
        &self,
        w: &mut W,
        per_iter: f64,
        budget: &mut Budget,
    ) -> Result<(u64, f64)> {
        let target = self.target_sample_s();
        // 10% margin so that noise rarely makes the check batch fall short.
        let mut k = if per_iter > 0.0 {
            (1.1 * target / per_iter).ceil().clamp(1.0, MAX_K as f64) as u64
        } else {
            MAX_K.min(1 << 20)
        };
        for attempt in 1.. {
            w.between_batches()?;
            let t = checked(w.run_batch(k)?, k)?;
            budget.reported += t;
            let done = t >= target
                || k >= MAX_K
                || attempt >= MAX_CALIBRATION_TRIES
                || budget.spent() >= self.config.max_time_s;
            if done {
                return Ok((k, t));
            }
            let grow = if t > 0.0 { 1.2 * target / t } else { 16.0 };
            k = ((k as f64 * grow.clamp(1.1, 1e6)).ceil() as u64).min(MAX_K);
        }
        unreachable!("the loop returns")
    }

    /// Draws samples with batch size `k` until a stop rule fires.
    fn sample<W: Workload + ?Sized>(
        &self,
        w: &mut W,
        k: u64,
        samples: &mut Vec<f64>,
        budget: &mut Budget,
    ) -> Result<StopReason> {
        let c = &self.config;
        let mut scratch = Vec::new();
        let mut next_eval = c.min_samples.max(2);
        let mut last_eval = Instant::now();
        let mut eval_cost = 0.0_f64;
        loop {
            let n = samples.len();
            let out_of_time = budget.spent() >= c.max_time_s;
            let full = n >= c.max_samples;
            let since = last_eval.elapsed().as_secs_f64();
            let due = n >= next_eval || since >= EVAL_INTERVAL_S.max(10.0 * eval_cost);
            if n >= c.min_samples && n >= 2 && (due || out_of_time || full) {
                let t0 = Instant::now();
                let est = estimate(samples, &mut scratch, c.confidence);
                let converged = est
                    .ci
                    .is_some_and(|(lo, hi)| rel_ci(est.median, lo, hi) <= c.target_rel_ci);
                last_eval = Instant::now();
                eval_cost = last_eval.duration_since(t0).as_secs_f64();
                next_eval = n + (n / 10).max(1);
                if converged {
                    return Ok(StopReason::Converged);
                }
            }
            if full {
                return Ok(StopReason::MaxSamples);
            }
            // `min_samples` is a floor: the budget stretches until it is reached.
            if out_of_time && n >= c.min_samples {
                return Ok(StopReason::TimeBudget);
            }
            w.between_batches()?;
            let t = checked(w.run_batch(k)?, k)?;
            budget.reported += t;
            samples.push(t / k as f64);
        }
    }
}

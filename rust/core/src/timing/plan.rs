//! Settings of the sampling plan.
use crate::{Error, Result};

/// Settings of the [`super::Sampler`]; the defaults are DESIGN §2's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerConfig {
    /// Warm-up time budget in seconds (at least one iteration always runs).
    /// Half a second by default: shorter warm-ups leave clocks, caches and
    /// JITs cold and are a known source of errors of tens of percent.
    pub warmup_s: f64,
    /// Time budget of the measurement (calibration and sampling, not the
    /// warm-up), in seconds. When it runs out the sampler stops with
    /// [`super::StopReason::TimeBudget`].
    pub max_time_s: f64,
    /// Target relative half-width of the median's confidence interval.
    pub target_rel_ci: f64,
    /// Fewest samples before convergence may be declared.
    pub min_samples: usize,
    /// Most samples drawn.
    pub max_samples: usize,
    /// Shortest duration of one sample (one batch of `k` iterations); the
    /// sampler also keeps every sample above 1000 clock resolutions.
    pub min_sample_s: f64,
    /// Confidence level of the median's confidence interval.
    pub confidence: f64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            warmup_s: 0.5,
            max_time_s: 5.0,
            target_rel_ci: 0.01,
            min_samples: 10,
            max_samples: 100_000,
            min_sample_s: 1e-3,
            confidence: 0.95,
        }
    }
}

fn bad(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

impl SamplerConfig {
    /// Checks every setting.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming the first bad setting.
    pub fn validate(&self) -> Result<()> {
        let non_negative = |name: &str, v: f64| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(bad(format!("{name} must be finite and >= 0, got {v}")))
            }
        };
        non_negative("warmup_s", self.warmup_s)?;
        non_negative("target_rel_ci", self.target_rel_ci)?;
        non_negative("min_sample_s", self.min_sample_s)?;
        if !(self.max_time_s.is_finite() && self.max_time_s > 0.0) {
            return Err(bad(format!(
                "max_time_s must be finite and > 0, got {}",
                self.max_time_s
            )));
        }
        if self.min_samples == 0 {
            return Err(bad("min_samples must be at least 1".into()));
        }
        if self.max_samples < self.min_samples {
            return Err(bad(format!(
                "max_samples ({}) must be >= min_samples ({})",
                self.max_samples, self.min_samples
            )));
        }
        crate::stats::check_confidence(self.confidence)
    }
}

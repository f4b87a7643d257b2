//! The adaptive sampling plan, clocks and calibration (DESIGN §2).
//!
//! A backend answers one question, through the [`Workload`] trait: "run
//! the kernel `k` times and tell me the elapsed seconds". The [`Sampler`]
//! owns the plan: warm up for a time budget, calibrate `k`, then draw
//! samples until the confidence interval of the median is tight enough or
//! the budget ends.
//!
//! * [`clock`]: the monotonic clock, its resolution, loop overhead.
//! * [`core_clock`]: the CPU core's clock rate, measured.
//! * [`plan`]: the sampler's settings and their validation.
//! * [`sampler`]: the plan itself and its result.

pub mod clock;
pub mod core_clock;
pub mod plan;
pub mod sampler;

pub use clock::{clock_resolution, loop_overhead, rust_loop_overhead, HostLoop};
pub use core_clock::{core_clock_hz, core_clock_supported};
pub use plan::SamplerConfig;
pub use sampler::{SampleResult, Sampler, StopReason};

use crate::Result;

/// Something the sampler can time: runs `k` iterations of a kernel and
/// reports the elapsed seconds.
///
/// CPU workloads time the loop with the host monotonic clock (see
/// [`HostLoop`]); device backends put events around the batch and
/// synchronise once. Whatever the implementation, the returned time must
/// cover exactly the `k` iterations, and nothing the sampler should not
/// count (input preparation, cache flushes) may sit inside it.
pub trait Workload {
    /// Runs `k >= 1` iterations and returns their total elapsed seconds.
    ///
    /// # Errors
    /// Any failure of the workload, usually [`crate::Error::Workload`].
    fn run_batch(&mut self, k: u64) -> Result<f64>;

    /// Called between batches, outside any timed region, e.g. to let the
    /// user interrupt a long run. The default does nothing.
    ///
    /// # Errors
    /// An error stops the sampler and is returned as is.
    fn between_batches(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Any `FnMut(k) -> Result<seconds>` is a workload (handy for fakes and for
/// backends that time a batch themselves).
impl<F: FnMut(u64) -> Result<f64>> Workload for F {
    fn run_batch(&mut self, k: u64) -> Result<f64> {
        self(k)
    }
}

#[cfg(test)]
mod tests;

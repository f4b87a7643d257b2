//! The host clock: `std::time::Instant`, monotonic (`CLOCK_MONOTONIC` on
//! Linux, `mach_absolute_time` on macOS, `QueryPerformanceCounter` on
//! Windows), never adjusted by NTP steps.
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Instant;

use super::Workload;
use crate::Result;

/// Reads compared to find the clock resolution.
const RESOLUTION_READS: usize = 200_000;

/// Effective resolution of the monotonic clock, in seconds: the smallest
/// positive difference between two consecutive reads over many reads
/// (up to 200 000 reads or about 10 ms, measured once per process and
/// cached).
///
/// This is what a measurement can resolve, i.e. the larger of the clock's
/// tick and the cost of one read: on Linux with a TSC clock source it is
/// the read cost, some 10–30 ns. The sampler makes every sample last at
/// least 1000 times this value, so quantisation stays below 0.1%.
/// (pytest-benchmark's `compute_timer_precision` uses the same idea.)
pub fn clock_resolution() -> f64 {
    static RES: OnceLock<f64> = OnceLock::new();
    *RES.get_or_init(measure_resolution)
}

fn measure_resolution() -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut prev = Instant::now();
    for i in 0..RESOLUTION_READS {
        let now = Instant::now();
        let d = now.duration_since(prev).as_secs_f64();
        if d > 0.0 && d < best {
            best = d;
        }
        prev = now;
        if i % 1024 == 0 && start.elapsed().as_secs_f64() > 0.01 {
            break;
        }
    }
    if best.is_finite() {
        best
    } else {
        // The clock never moved between reads: report one nanosecond,
        // `Instant`'s unit, rather than a meaningless zero.
        1e-9
    }
}

/// A workload timing `k` calls of a Rust closure with the host clock:
/// one clock read before and one after the whole loop, nothing else inside.
pub struct HostLoop<F> {
    f: F,
}

impl<F: FnMut()> HostLoop<F> {
    /// Wraps the closure to time.
    pub fn new(f: F) -> Self {
        Self { f }
    }
}

impl<F: FnMut()> Workload for HostLoop<F> {
    fn run_batch(&mut self, k: u64) -> Result<f64> {
        let t0 = Instant::now();
        for _ in 0..k {
            (self.f)();
        }
        Ok(t0.elapsed().as_secs_f64())
    }
}

/// Per-iteration overhead of a workload's batch loop, in seconds: the
/// fastest of five batches of `iterations` (after one warm-up batch),
/// divided by `iterations`. Run it on an empty kernel to learn the floor
/// below which per-iteration times are harness, not kernel.
///
/// # Errors
/// Whatever the workload returns.
pub fn loop_overhead<W: Workload + ?Sized>(w: &mut W, iterations: u64) -> Result<f64> {
    let iterations = iterations.max(1);
    w.run_batch(iterations)?;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        w.between_batches()?;
        best = best.min(w.run_batch(iterations)?);
    }
    Ok(best / iterations as f64)
}

/// Per-iteration overhead of [`HostLoop`] around an empty Rust closure
/// (usually well under a nanosecond: the floor of the pure-Rust harness).
#[must_use]
pub fn rust_loop_overhead(iterations: u64) -> f64 {
    let mut w = HostLoop::new(|| black_box(()));
    loop_overhead(&mut w, iterations).unwrap_or(f64::NAN)
}

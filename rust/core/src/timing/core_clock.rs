//! The core clock rate, measured: how many cycles per second this thread's
//! core runs at while it is busy.
//!
//! A CPU's peak FLOP/s is `cores x cycles/s x FLOP/cycle`. The operating
//! system does not always say the cycles/s: virtual machines report the
//! nominal clock in `/proc/cpuinfo` and have no `cpufreq` directory, while
//! the core boosts well above it under load. A peak computed from the
//! nominal clock is too low, and every fast kernel then looks impossible.
//!
//! The measurement runs a chain of dependent register-to-register integer
//! additions. Each addition needs the result of the previous one, and an
//! integer `add` has a latency of exactly one cycle on every x86-64 and
//! `AArch64` core in use, so the chain retires one addition per cycle:
//! `additions / seconds` is the clock rate. The loop counter runs beside
//! the chain (independent), so it adds no cycles. The best of several short
//! trials is taken: a trial can only be slowed (descheduled, interrupted),
//! never sped up.
use std::time::Instant;

/// Dependent additions per loop iteration (the loop's own cost is hidden
/// behind them).
const CHAIN: u64 = 64;

/// Runs `iterations x CHAIN` dependent additions; returns the chain's value
/// (so the work cannot be dropped). The loop differs per architecture only
/// in its mnemonics.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub(crate) fn add_chain(iterations: u64) -> u64 {
    let mut x: u64 = 0;
    let mut n = iterations.max(1);
    // SAFETY: register arithmetic only (no memory, no stack); `n` counts
    // down to zero so the loop ends; every clobbered register is an operand.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!(
            "2:", ".rept 64", "add {x}, {one}", ".endr", "dec {n}", "jnz 2b",
            x = inout(reg) x, n = inout(reg) n, one = in(reg) 1u64,
            options(nomem, nostack),
        );
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!(
            "2:", ".rept 64", "add {x}, {x}, {one}", ".endr", "subs {n}, {n}, #1", "b.ne 2b",
            x = inout(reg) x, n = inout(reg) n, one = in(reg) 1u64,
            options(nomem, nostack),
        );
    }
    let _ = n;
    x
}

/// Whether [`core_clock_hz`] can measure on this architecture.
#[must_use]
pub const fn core_clock_supported() -> bool {
    cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
}

/// The clock rate (Hz) of the calling thread's core while busy: the best of
/// `trials` runs of a dependent-addition chain, each lasting about
/// `trial_s` seconds. `None` on architectures without the chain.
///
/// Call it on a thread pinned to (or at least running on) the core of
/// interest; on a shared machine a trial that loses the core only reads
/// lower, and the best of several trials is what the core can do.
#[must_use]
pub fn core_clock_hz(trial_s: f64, trials: usize) -> Option<f64> {
    #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
    {
        let trial_s = if trial_s.is_finite() && trial_s > 0.0 {
            trial_s
        } else {
            0.01
        };
        // Size the trials from a short probe (~1 M additions, well under 1 ms).
        let probe = 16_384_u64;
        let t0 = Instant::now();
        std::hint::black_box(add_chain(probe));
        let probe_s = t0.elapsed().as_secs_f64().max(1e-9);
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let iterations = ((probe as f64) * trial_s / probe_s).clamp(1.0, 1e12) as u64;
        let mut best = 0.0_f64;
        for _ in 0..trials.max(1) {
            let t = Instant::now();
            std::hint::black_box(add_chain(iterations));
            let s = t.elapsed().as_secs_f64();
            #[allow(clippy::cast_precision_loss)]
            let hz = (iterations * CHAIN) as f64 / s;
            if s > 0.0 && hz > best {
                best = hz;
            }
        }
        Some(best)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (trial_s, trials, Instant::now);
        None
    }
}

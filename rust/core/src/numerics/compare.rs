//! Element-wise comparison of an output against a reference, in one
//! parallel pass.
//!
//! Each element pair is classified by its non-finite pattern, taken in the
//! output dtype (for a float64 reference: after rounding it to that dtype,
//! so a reference that overflows the dtype expects an infinity):
//!
//! * both NaN: the pattern agrees; ULP distance 0.
//! * exactly one NaN: a **NaN mismatch**. The ULP distance is undefined; the
//!   pair is left out of every error statistic and counted as outside the
//!   tolerance.
//! * an infinity on either side (no NaN): equal bits (same signed infinity)
//!   agree with ULP 0; otherwise an **Inf mismatch**, treated like a NaN
//!   mismatch.
//! * both finite: absolute error `|out - ref|` and relative error
//!   `|out - ref| / |ref|` against the *unrounded* reference (the relative
//!   error skips `ref == 0`), the ULP distance against the reference
//!   *rounded to the output dtype* (so a correctly rounded result is 0 ULP),
//!   and the tolerance test `|out - ref| <= atol + rtol * |ref|`
//!   (`numpy.isclose`'s and `torch.testing`'s form).
//!
//! Figures at every scale, from the same pass (over finite pairs):
//!
//! * `cosine`: cosine similarity of the output and the reference as
//!   vectors, `sum(o*r) / (sqrt(sum(o^2)) * sqrt(sum(r^2)))`, clamped to
//!   [-1, 1] (1 when both are all zero, 0 when only one is);
//! * `rel_rmse`: `sqrt(sum((o - r)^2) / sum(r^2))`, the RMS of the error
//!   over the RMS of the reference (0 for an exact all-zero output, +inf for
//!   error against an all-zero reference);
//! * small values (`|ref| < small`): their count, their largest absolute
//!   error and how many exceed `small_atol`; the pairs outside the
//!   tolerance with `|ref| >= small` are counted apart (`large_mismatches`);
//! * `ulp_over`: matched pairs whose ULP distance exceeds `ulp`, read off the
//!   histogram (so `ulp` is an upper bucket edge: 0, 1, 2, 4, ..., 2^20).
//!
//! The pass is split into fixed chunks of [`CHUNK`] elements, reduced with
//! rayon; each chunk runs the vectorised `kernel` module. Maxima, counts and
//! integer sums do not depend on the order of reduction. The floating sums
//! (in float64) are taken in a fixed order: [`LANES`] lane sums per block
//! of the kernel (element `j` of a block goes to lane `j % LANES`), the
//! lanes combined pairwise, the blocks of a chunk added in order, and the
//! chunks' totals added in chunk order after the parallel map. So every
//! figure is bit-identical whatever the thread count and the instruction set
//! (Rust never reassociates or contracts float operations). Sums overflow
//! only for float64 data above about 1e154 in magnitude; `cosine` and
//! `rel_rmse` are then not meaningful (NaN or infinite).
use rayon::prelude::*;

use super::float::{as_bytes, Bf16, DType, Format, F16, F32, F64};
use super::isa::{self, Isa};
pub use super::kernel::LANES;
use super::kernel::{Acc, Reference, Same};
use super::Buffer;
use crate::{Error, Result};

/// Elements per parallel chunk (256 KiB of float32).
pub const CHUNK: usize = 1 << 16;

/// Buckets of the ULP histogram: 0, 1, 2, 3-4, 5-8, ..., (2^19, 2^20], >2^20.
pub const HIST_BUCKETS: usize = 23;

/// Histogram bucket of a ULP distance: `d` for `d <= 2`, otherwise
/// `1 + ceil(log2(d))` (bucket `b >= 3` holds `(2^(b-2), 2^(b-1)]`),
/// capped at the overflow bucket.
#[inline]
#[must_use]
pub fn ulp_bucket(d: u64) -> usize {
    if d <= 2 {
        d as usize
    } else {
        (1 + (64 - (d - 1).leading_zeros()) as usize).min(HIST_BUCKETS - 1)
    }
}

/// Labels of the histogram buckets (`"0"`, `"1"`, `"2"`, `"3-4"`, ...).
#[must_use]
pub fn ulp_bucket_labels() -> Vec<String> {
    let mut labels = vec!["0".to_string(), "1".to_string(), "2".to_string()];
    for b in 3..HIST_BUCKETS - 1 {
        labels.push(format!("{}-{}", (1u64 << (b - 2)) + 1, 1u64 << (b - 1)));
    }
    labels.push(format!(">{}", 1u64 << (HIST_BUCKETS - 3)));
    labels
}

/// Thresholds of [`compare`] and [`compare_to_reference`]: the tolerance
/// `|out - ref| <= atol + rtol * |ref|`, the small-value rule and the ULP
/// threshold of `ulp_over`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative part.
    pub rtol: f64,
    /// Absolute part.
    pub atol: f64,
    /// A finite pair with `|ref| < small` is a small value (0: none is).
    pub small: f64,
    /// A small value fails when `|out - ref| > small_atol`.
    pub small_atol: f64,
    /// ULP distance that `ulp_over` counts pairs beyond: 0, 1, 2 or a power
    /// of two up to 2^20 (an upper edge of a histogram bucket).
    pub ulp: u64,
}

impl Tolerance {
    /// `|out - ref| <= atol + rtol * |ref|`, no small values, ULP threshold 0.
    #[must_use]
    pub const fn new(rtol: f64, atol: f64) -> Self {
        Self {
            rtol,
            atol,
            small: 0.0,
            small_atol: 0.0,
            ulp: 0,
        }
    }

    /// The same with the small-value rule and a ULP threshold.
    #[must_use]
    pub const fn with_small(self, small: f64, small_atol: f64, ulp: u64) -> Self {
        Self {
            small,
            small_atol,
            ulp,
            ..self
        }
    }

    fn validate(self) -> Result<Self> {
        let ok = |x: f64| x >= 0.0 && x.is_finite();
        if !(ok(self.rtol) && ok(self.atol)) {
            return Err(Error::InvalidArgument(format!(
                "tolerance must be finite and >= 0, got rtol={} atol={}",
                self.rtol, self.atol
            )));
        }
        if !(ok(self.small) && ok(self.small_atol)) {
            return Err(Error::InvalidArgument(format!(
                "small-value thresholds must be finite and >= 0, got small={} small_atol={}",
                self.small, self.small_atol
            )));
        }
        if self.ulp > 2 && !(self.ulp.is_power_of_two() && self.ulp <= 1 << 20) {
            return Err(Error::InvalidArgument(format!(
                "ULP threshold must be 0, 1, 2 or a power of two up to 2^20, got {}",
                self.ulp
            )));
        }
        Ok(self)
    }
}

/// Error metrics of one comparison (see the module docs for the rules).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The output's dtype.
    pub dtype: DType,
    /// Elements compared in all.
    pub n: usize,
    /// Elements whose non-finite pattern agrees (ULP statistics cover these).
    pub matched: usize,
    /// Largest `|out - ref|` over finite pairs (0 when there are none).
    pub max_abs_err: f64,
    /// Largest `|out - ref| / |ref|` over finite pairs with `ref != 0`.
    pub max_rel_err: f64,
    /// Largest ULP distance over pattern-matched pairs.
    pub ulp_max: u64,
    /// Mean ULP distance over pattern-matched pairs.
    pub ulp_mean: f64,
    /// Histogram of ULP distances ([`ulp_bucket_labels`]).
    pub ulp_hist: [u64; HIST_BUCKETS],
    /// Pairs outside the tolerance, NaN and Inf mismatches included.
    pub mismatches: usize,
    /// Pairs where exactly one side is NaN.
    pub nan_mismatch: usize,
    /// Pairs with an infinity that the other side does not share.
    pub inf_mismatch: usize,
    /// Pairs with identical bits (the reference rounded to the output dtype).
    pub bitwise_equal: usize,
    /// Lowest index outside the tolerance.
    pub first_mismatch: Option<usize>,
    /// Cosine similarity of output and reference over finite pairs.
    pub cosine: f64,
    /// RMS of the error over RMS of the reference, over finite pairs.
    pub rel_rmse: f64,
    /// The ULP threshold of `ulp_over` ([`Tolerance::ulp`]).
    pub ulp_threshold: u64,
    /// Matched pairs whose ULP distance exceeds `ulp_threshold`.
    pub ulp_over: usize,
    /// Small values: finite pairs with `|ref| <` [`Tolerance::small`].
    pub small: usize,
    /// Largest `|out - ref|` over the small values (0 when there are none).
    pub small_max_abs_err: f64,
    /// Small values with `|out - ref| >` [`Tolerance::small_atol`].
    pub small_mismatches: usize,
    /// Finite pairs with `|ref| >= small` outside the tolerance.
    pub large_mismatches: usize,
}

impl Comparison {
    /// Whether every element has identical bits.
    #[must_use]
    pub fn all_bitwise_equal(&self) -> bool {
        self.bitwise_equal == self.n
    }

    /// Fraction of elements outside the tolerance (0 for an empty input).
    #[must_use]
    pub fn mismatch_frac(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.mismatches as f64 / self.n as f64
        }
    }

    /// Share of elements beyond the ULP threshold: `ulp_over` plus the
    /// NaN/Inf mismatches (whose distance is undefined), over `n` (0 for an
    /// empty input).
    #[must_use]
    pub fn ulp_frac(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            (self.ulp_over + self.nan_mismatch + self.inf_mismatch) as f64 / self.n as f64
        }
    }
}

fn check_len(a: usize, b: usize) -> Result<()> {
    if a == b {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "arrays differ in size: {a} vs {b} elements"
        )))
    }
}

/// The chunks' statistics combined in chunk order (`collect` keeps the
/// order of an indexed parallel iterator), so the float sums do not depend
/// on how rayon split the work.
fn in_chunk_order(chunks: Vec<Acc>) -> Acc {
    chunks.into_iter().fold(Acc::new(), Acc::merge)
}

/// `out` against a float64 `reference`, chunk by chunk, with the kernel
/// for `isa`.
pub(crate) fn against_f64<F: Format>(
    isa: Isa,
    out: &[F::Raw],
    reference: &[f64],
    tol: Tolerance,
) -> Comparison {
    let chunks: Vec<Acc> = out
        .par_chunks(CHUNK)
        .zip(reference.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (o, r))| isa::chunk::<Reference<F>>(isa, o, r, c * CHUNK, tol))
        .collect();
    in_chunk_order(chunks).finish(F::DTYPE, tol)
}

/// Two arrays of one format, chunk by chunk, with the kernel for `isa`. A
/// chunk with identical bytes skips the ULP and tolerance loops: a `memcmp`
/// gives the counts of a run of identical pairs (the common, deterministic
/// case), and only the loop of the sums and small values runs.
pub(crate) fn same_dtype<F: Format>(
    isa: Isa,
    a: &[F::Raw],
    b: &[F::Raw],
    tol: Tolerance,
) -> Comparison {
    let chunks: Vec<Acc> = a
        .par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (x, y))| {
            if as_bytes::<F>(x) == as_bytes::<F>(y) {
                Acc::identical::<F>(x, tol)
            } else {
                isa::chunk::<Same<F>>(isa, x, y, c * CHUNK, tol)
            }
        })
        .collect();
    in_chunk_order(chunks).finish(F::DTYPE, tol)
}

/// Compares `out` against a float64 `reference` of the same length.
///
/// # Errors
/// [`Error::InvalidArgument`] for different lengths or a negative/non-finite
/// tolerance.
pub fn compare_to_reference(
    out: Buffer<'_>,
    reference: &[f64],
    tol: Tolerance,
) -> Result<Comparison> {
    let tol = tol.validate()?;
    check_len(out.len(), reference.len())?;
    let isa = Isa::detect();
    Ok(match out {
        Buffer::F64(o) => against_f64::<F64>(isa, o, reference, tol),
        Buffer::F32(o) => against_f64::<F32>(isa, o, reference, tol),
        Buffer::F16(o) => against_f64::<F16>(isa, o, reference, tol),
        Buffer::Bf16(o) => against_f64::<Bf16>(isa, o, reference, tol),
    })
}

/// Compares two arrays of the same dtype (`b` plays the reference): the
/// determinism and cross-device check. Bitwise equality is
/// `result.all_bitwise_equal()`.
///
/// # Errors
/// [`Error::InvalidArgument`] for different dtypes or lengths, or a bad
/// tolerance.
pub fn compare(a: Buffer<'_>, b: Buffer<'_>, tol: Tolerance) -> Result<Comparison> {
    let tol = tol.validate()?;
    check_len(a.len(), b.len())?;
    let isa = Isa::detect();
    Ok(match (a, b) {
        (Buffer::F64(x), Buffer::F64(y)) => same_dtype::<F64>(isa, x, y, tol),
        (Buffer::F32(x), Buffer::F32(y)) => same_dtype::<F32>(isa, x, y, tol),
        (Buffer::F16(x), Buffer::F16(y)) => same_dtype::<F16>(isa, x, y, tol),
        (Buffer::Bf16(x), Buffer::Bf16(y)) => same_dtype::<Bf16>(isa, x, y, tol),
        (a, b) => {
            return Err(Error::InvalidArgument(format!(
                "arrays differ in dtype: {} vs {}",
                a.dtype().name(),
                b.dtype().name()
            )))
        }
    })
}

fn distances<F: Format>(a: &[F::Raw], b: &[F::Raw]) -> Vec<u64> {
    let dtype = F::DTYPE;
    a.par_iter()
        .zip(b)
        .map(|(&x, &y)| {
            super::float::ulp_distance(dtype, F::bits(x), F::bits(y)).unwrap_or(u64::MAX)
        })
        .collect()
}

/// Element-wise ULP distances of two same-dtype arrays; `u64::MAX` marks an
/// undefined distance (exactly one side NaN).
///
/// # Errors
/// [`Error::InvalidArgument`] for different dtypes or lengths.
pub fn ulp_distances(a: Buffer<'_>, b: Buffer<'_>) -> Result<Vec<u64>> {
    check_len(a.len(), b.len())?;
    Ok(match (a, b) {
        (Buffer::F64(x), Buffer::F64(y)) => distances::<F64>(x, y),
        (Buffer::F32(x), Buffer::F32(y)) => distances::<F32>(x, y),
        (Buffer::F16(x), Buffer::F16(y)) => distances::<F16>(x, y),
        (Buffer::Bf16(x), Buffer::Bf16(y)) => distances::<Bf16>(x, y),
        (a, b) => {
            return Err(Error::InvalidArgument(format!(
                "arrays differ in dtype: {} vs {}",
                a.dtype().name(),
                b.dtype().name()
            )))
        }
    })
}

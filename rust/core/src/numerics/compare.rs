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
//! The pass is split into fixed chunks of [`CHUNK`] elements reduced with
//! rayon; each chunk runs the vectorised `kernel` module. Every
//! statistic is a max, a count or an integer sum, so the result does not
//! depend on the thread count (nor on the instruction set the kernel uses).
use rayon::prelude::*;

use super::float::{as_bytes, Bf16, DType, Format, F16, F32, F64};
use super::isa::{self, Isa};
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

/// Tolerance of [`compare`] and [`compare_to_reference`]:
/// `|out - ref| <= atol + rtol * |ref|`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Relative part.
    pub rtol: f64,
    /// Absolute part.
    pub atol: f64,
}

impl Tolerance {
    fn validate(self) -> Result<Self> {
        if self.rtol >= 0.0 && self.atol >= 0.0 && self.rtol.is_finite() && self.atol.is_finite() {
            Ok(self)
        } else {
            Err(Error::InvalidArgument(format!(
                "tolerance must be finite and >= 0, got rtol={} atol={}",
                self.rtol, self.atol
            )))
        }
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

/// `out` against a float64 `reference`, chunk by chunk, with the kernel
/// for `isa`.
pub(crate) fn against_f64<F: Format>(
    isa: Isa,
    out: &[F::Raw],
    reference: &[f64],
    tol: Tolerance,
) -> Comparison {
    out.par_chunks(CHUNK)
        .zip(reference.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (o, r))| isa::chunk::<Reference<F>>(isa, o, r, c * CHUNK, tol))
        .reduce(Acc::new, Acc::merge)
        .finish(F::DTYPE)
}

/// Two arrays of one format, chunk by chunk, with the kernel for `isa`. A
/// chunk with identical bytes skips the kernel: a `memcmp` gives the counts
/// of a run of identical pairs (the common, deterministic case).
pub(crate) fn same_dtype<F: Format>(
    isa: Isa,
    a: &[F::Raw],
    b: &[F::Raw],
    tol: Tolerance,
) -> Comparison {
    a.par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (x, y))| {
            if as_bytes::<F>(x) == as_bytes::<F>(y) {
                Acc::identical(x.len())
            } else {
                isa::chunk::<Same<F>>(isa, x, y, c * CHUNK, tol)
            }
        })
        .reduce(Acc::new, Acc::merge)
        .finish(F::DTYPE)
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

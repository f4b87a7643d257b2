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
//! rayon; every statistic is a max, a count or an integer sum, so the
//! result does not depend on the thread count.
use rayon::prelude::*;

use super::float::{as_bytes, Bf16, DType, Format, F16, F32, F64};
use super::Buffer;
use crate::{Error, Result};

/// Elements per parallel chunk (256 KiB of float32).
pub const CHUNK: usize = 1 << 16;

/// Histogram copies updated round-robin (see `scan_chunk`).
const LANES: usize = 4;

/// `1 - 2^-50`: lowers the relative-error filter below any rounding of `max_rel * |ref|`.
const REL_FILTER: f64 = 1.0 - 1.0 / (1u64 << 50) as f64;

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

#[derive(Clone)]
struct Acc {
    n: usize,
    matched: usize,
    max_abs: f64,
    max_rel: f64,
    ulp_max: u64,
    ulp_sum: u64,
    ulp_carry: u64,
    hist: [[u64; HIST_BUCKETS]; LANES],
    mismatches: usize,
    nan_mismatch: usize,
    inf_mismatch: usize,
    bitwise: usize,
    first: Option<usize>,
}

impl Acc {
    fn new() -> Self {
        Self {
            n: 0,
            matched: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            ulp_max: 0,
            ulp_sum: 0,
            ulp_carry: 0,
            hist: [[0; HIST_BUCKETS]; LANES],
            mismatches: 0,
            nan_mismatch: 0,
            inf_mismatch: 0,
            bitwise: 0,
            first: None,
        }
    }

    #[allow(clippy::needless_pass_by_value)] // rayon's reduce hands both sides by value
    fn merge(mut self, o: Self) -> Self {
        self.n += o.n;
        self.matched += o.matched;
        self.max_abs = self.max_abs.max(o.max_abs);
        self.max_rel = self.max_rel.max(o.max_rel);
        self.ulp_max = self.ulp_max.max(o.ulp_max);
        let (sum, carry) = self.ulp_sum.overflowing_add(o.ulp_sum);
        self.ulp_sum = sum;
        self.ulp_carry += o.ulp_carry + u64::from(carry);
        for (ha, hb) in self.hist.iter_mut().zip(o.hist) {
            for (a, b) in ha.iter_mut().zip(hb) {
                *a += b;
            }
        }
        self.mismatches += o.mismatches;
        self.nan_mismatch += o.nan_mismatch;
        self.inf_mismatch += o.inf_mismatch;
        self.bitwise += o.bitwise;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    fn finish(self, dtype: DType) -> Comparison {
        let mut hist = [0u64; HIST_BUCKETS];
        for lane in &self.hist {
            for (h, v) in hist.iter_mut().zip(lane) {
                *h += v;
            }
        }
        let ulp_sum = (u128::from(self.ulp_carry) << 64) + u128::from(self.ulp_sum);
        Comparison {
            dtype,
            n: self.n,
            matched: self.matched,
            max_abs_err: self.max_abs,
            max_rel_err: self.max_rel,
            ulp_max: self.ulp_max,
            ulp_mean: if self.matched == 0 {
                0.0
            } else {
                ulp_sum as f64 / self.matched as f64
            },
            ulp_hist: hist,
            mismatches: self.mismatches,
            nan_mismatch: self.nan_mismatch,
            inf_mismatch: self.inf_mismatch,
            bitwise_equal: self.bitwise,
            first_mismatch: self.first,
        }
    }

    /// A pair with a NaN or an infinity on either side.
    #[cold]
    fn special(&mut self, i: usize, ob: u64, ov: f64, rv: f64, rb: u64) {
        if ob == rb {
            // the same infinity, or the same NaN bits
            self.matched += 1;
            self.hist[i % LANES][0] += 1;
            return;
        }
        let (onan, rnan) = (ov.is_nan(), rv.is_nan());
        if onan || rnan {
            if onan && rnan {
                self.matched += 1;
                self.hist[i % LANES][0] += 1;
            } else {
                self.nan_mismatch += 1;
                self.miss(i);
            }
            return;
        }
        // neither is NaN and the bits differ, so at least one infinity is unmatched
        self.inf_mismatch += 1;
        self.miss(i);
    }

    /// A run of `len` pairs with identical bits.
    fn identical(&mut self, len: usize) {
        self.n += len;
        self.bitwise += len;
        self.matched += len;
        self.hist[0][0] += len as u64;
    }

    #[inline(always)]
    fn miss(&mut self, i: usize) {
        self.mismatches += 1;
        if self.first.is_none() {
            self.first = Some(i);
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

/// One chunk, with the pair rules of the module docs. Identical bits need
/// no branch; NaN/Inf take a cold path; the relative error avoids its
/// division unless the pair can raise the maximum (the filter threshold is
/// lowered by 2^-50 relative, so no candidate is skipped and the maximum is
/// the exact rounded quotient a naive loop gives); histogram increments
/// rotate over [`LANES`] copies so repeated buckets do not serialise. The
/// running statistics are held with the running
/// statistics held in locals (registers) rather than in the accumulator, so
/// that no loop-carried value goes through memory; `pair(j)` gives the
/// output bits and value and the reference value and bits of element `j`.
#[inline(always)]
fn scan_chunk<F: Format>(
    base: usize,
    len: usize,
    tol: Tolerance,
    pair: impl Fn(usize) -> (u64, f64, f64, u64),
) -> Acc {
    // A constant per instantiation: the format's masks fold into the loop.
    let dtype = F::DTYPE;
    let mut acc = Acc::new();
    let (mut bitwise, mut matched) = (0usize, 0usize);
    let (mut max_abs, mut max_rel) = (0.0f64, 0.0f64);
    let (mut ulp_max, mut ulp_sum, mut ulp_carry) = (0u64, 0u64, 0u64);
    let mut hist = [[0u64; HIST_BUCKETS]; LANES];
    for j in 0..len {
        let (ob, ov, rv, rb) = pair(j);
        bitwise += usize::from(ob == rb);
        if dtype.is_special_bits(ob) || dtype.is_special_bits(rb) {
            acc.special(base + j, ob, ov, rv, rb);
            continue;
        }
        matched += 1;
        let d = (ov - rv).abs();
        let ar = rv.abs();
        max_abs = max_abs.max(d);
        if ar != 0.0 && d > max_rel * ar * REL_FILTER {
            max_rel = max_rel.max(d / ar);
        }
        let ulp = dtype.ordered(ob).abs_diff(dtype.ordered(rb));
        ulp_max = ulp_max.max(ulp);
        let (sum, carry) = ulp_sum.overflowing_add(ulp);
        ulp_sum = sum;
        ulp_carry += u64::from(carry);
        hist[j % LANES][ulp_bucket(ulp)] += 1;
        if d > tol.atol + tol.rtol * ar {
            acc.miss(base + j);
        }
    }
    let local = Acc {
        n: len,
        matched,
        max_abs,
        max_rel,
        ulp_max,
        ulp_sum,
        ulp_carry,
        hist,
        mismatches: 0,
        nan_mismatch: 0,
        inf_mismatch: 0,
        bitwise,
        first: None,
    };
    acc.merge(local)
}

fn against_f64<F: Format>(out: &[F::Raw], reference: &[f64], tol: Tolerance) -> Comparison {
    let dtype = F::DTYPE;
    out.par_chunks(CHUNK)
        .zip(reference.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (o, r))| {
            let len = o.len().min(r.len());
            scan_chunk::<F>(c * CHUNK, len, tol, |j| {
                (F::bits(o[j]), F::value(o[j]), r[j], dtype.round_bits(r[j]))
            })
        })
        .reduce(Acc::new, Acc::merge)
        .finish(dtype)
}

fn same_dtype<F: Format>(a: &[F::Raw], b: &[F::Raw], tol: Tolerance) -> Comparison {
    let dtype = F::DTYPE;
    a.par_chunks(CHUNK)
        .zip(b.par_chunks(CHUNK))
        .enumerate()
        .map(|(c, (x, y))| {
            if as_bytes::<F>(x) == as_bytes::<F>(y) {
                let mut acc = Acc::new();
                acc.identical(x.len()); // memcmp speed for the common, deterministic case
                return acc;
            }
            let len = x.len().min(y.len());
            scan_chunk::<F>(c * CHUNK, len, tol, |j| {
                (F::bits(x[j]), F::value(x[j]), F::value(y[j]), F::bits(y[j]))
            })
        })
        .reduce(Acc::new, Acc::merge)
        .finish(dtype)
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
    Ok(match out {
        Buffer::F64(o) => against_f64::<F64>(o, reference, tol),
        Buffer::F32(o) => against_f64::<F32>(o, reference, tol),
        Buffer::F16(o) => against_f64::<F16>(o, reference, tol),
        Buffer::Bf16(o) => against_f64::<Bf16>(o, reference, tol),
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
    Ok(match (a, b) {
        (Buffer::F64(x), Buffer::F64(y)) => same_dtype::<F64>(x, y, tol),
        (Buffer::F32(x), Buffer::F32(y)) => same_dtype::<F32>(x, y, tol),
        (Buffer::F16(x), Buffer::F16(y)) => same_dtype::<F16>(x, y, tol),
        (Buffer::Bf16(x), Buffer::Bf16(y)) => same_dtype::<Bf16>(x, y, tol),
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

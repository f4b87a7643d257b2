//! The fused comparison kernel: one pass over the two arrays gives every
//! statistic of [`super::compare`], in a form the compiler vectorises.
//!
//! **Branch-free elements.** Each element pair goes through the same
//! straight-line code, whatever its class (see the rules in
//! [`super::compare`]): the pair is classified with bit masks (finite,
//! NaN, equal bits), every statistic is computed for it, and a select keeps
//! or drops the contribution. Reductions are integer reductions, which the
//! loop vectoriser reorders freely: counts are sums of flags, the first
//! mismatch is a minimum of indices, and the float maxima are maxima of
//! *bits*, exact because a non-negative, non-NaN float64 orders like its
//! bits (`|out - ref|` and `|out - ref| / |ref|` are never NaN for a
//! finite pair, and a dropped pair contributes +0). The relative error is
//! the plain quotient, so its maximum is the one a naive loop gives.
//!
//! **ULP statistics.** The ULP distance is the difference of ordered
//! integers ([`super::float::ordered_bits`], branch-free). Its sum is kept
//! as two 64-bit sums of the low and high 32-bit halves (neither can wrap
//! within a chunk of `2^16` elements), joined into a `u128` per chunk.
//!
//! **Histogram.** A scatter (`hist[bucket] += 1`) does not vectorise, so
//! the element loop only stores each pair's bucket (one byte; pairs outside
//! the matched set get a code past the last bucket) for a block of
//! [`BLOCK`] elements. The buckets `1..=top` of the block (`top` its
//! largest bucket) are then counted by comparing the whole block with each
//! bucket number into 64 byte-wide lanes, and bucket 0 is the remainder of
//! the matched count. An identical or nearly identical block costs one
//! bucket count or none; the block stays in L1.
//!
//! **Instruction sets.** The same generic code is compiled three times: for
//! the baseline target, and, on x86-64, in functions with AVX2 and with
//! AVX-512 enabled, chosen at run time by CPU feature detection. The
//! results are identical on every path: they use the same IEEE operations
//! (no fused multiply-add: Rust never contracts `a + b * c`) and the same
//! integer reductions.
use std::marker::PhantomData;

use super::compare::{Comparison, Tolerance, HIST_BUCKETS};
use super::float::{DType, Format};

/// Elements per block of the element loop (its bucket bytes: 1 KiB).
pub const BLOCK: usize = 1024;

/// Bucket code of a pair outside the pattern-matched set (never counted).
const UNMATCHED: u8 = HIST_BUCKETS as u8;

/// How one element pair is read: output bits, output value, reference
/// value and reference bits (in the output's format).
pub(crate) trait Pair {
    /// Output element as stored.
    type A: Copy + Send + Sync;
    /// Reference element as stored.
    type B: Copy + Send + Sync;
    /// The output's format.
    const DTYPE: DType;
    /// `(out bits, out value, ref value, ref bits)`.
    fn load(a: Self::A, b: Self::B) -> (u64, f64, f64, u64);
}

/// Two arrays of the same format.
pub(crate) struct Same<F>(PhantomData<F>);

/// An output against a float64 reference, rounded to the output's format
/// for the bits.
pub(crate) struct Reference<F>(PhantomData<F>);

impl<F: Format> Pair for Same<F> {
    type A = F::Raw;
    type B = F::Raw;
    const DTYPE: DType = F::DTYPE;
    #[inline(always)]
    fn load(a: F::Raw, b: F::Raw) -> (u64, f64, f64, u64) {
        (F::bits(a), F::value(a), F::value(b), F::bits(b))
    }
}

impl<F: Format> Pair for Reference<F> {
    type A = F::Raw;
    type B = f64;
    const DTYPE: DType = F::DTYPE;
    #[inline(always)]
    fn load(a: F::Raw, r: f64) -> (u64, f64, f64, u64) {
        (F::bits(a), F::value(a), r, F::round(r))
    }
}

/// Partial results of a range of elements; [`Acc::merge`] combines two
/// ranges exactly (maxima, counts and integer sums), so the result does
/// not depend on how the work was split.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Acc {
    n: usize,
    matched: usize,
    max_abs: f64,
    max_rel: f64,
    ulp_max: u64,
    ulp_sum: u128,
    hist: [u64; HIST_BUCKETS],
    mismatches: usize,
    nan_mismatch: usize,
    inf_mismatch: usize,
    bitwise: usize,
    first: Option<usize>,
}

impl Acc {
    pub(crate) fn new() -> Self {
        Self {
            n: 0,
            matched: 0,
            max_abs: 0.0,
            max_rel: 0.0,
            ulp_max: 0,
            ulp_sum: 0,
            hist: [0; HIST_BUCKETS],
            mismatches: 0,
            nan_mismatch: 0,
            inf_mismatch: 0,
            bitwise: 0,
            first: None,
        }
    }

    /// A run of `len` pairs with identical bits.
    pub(crate) fn identical(len: usize) -> Self {
        let mut acc = Self::new();
        acc.n = len;
        acc.bitwise = len;
        acc.matched = len;
        acc.hist[0] = len as u64;
        acc
    }

    #[allow(clippy::needless_pass_by_value)] // rayon's reduce hands both sides by value
    pub(crate) fn merge(mut self, o: Self) -> Self {
        self.n += o.n;
        self.matched += o.matched;
        self.max_abs = self.max_abs.max(o.max_abs);
        self.max_rel = self.max_rel.max(o.max_rel);
        self.ulp_max = self.ulp_max.max(o.ulp_max);
        self.ulp_sum += o.ulp_sum;
        for (a, b) in self.hist.iter_mut().zip(o.hist) {
            *a += b;
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

    pub(crate) fn finish(self, dtype: DType) -> Comparison {
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
                self.ulp_sum as f64 / self.matched as f64
            },
            ulp_hist: self.hist,
            mismatches: self.mismatches,
            nan_mismatch: self.nan_mismatch,
            inf_mismatch: self.inf_mismatch,
            bitwise_equal: self.bitwise,
            first_mismatch: self.first,
        }
    }

    /// Adds a block of `len` pairs starting at element `start`.
    fn add_block(&mut self, s: &Block, start: usize, len: usize) {
        let (matched, nan) = (s.matched as usize, s.nan as usize);
        self.n += len;
        self.matched += matched;
        self.bitwise += s.bitwise as usize;
        self.nan_mismatch += nan;
        // an unmatched pair is a NaN mismatch or else an Inf mismatch
        self.inf_mismatch += len - matched - nan;
        self.mismatches += s.miss as usize;
        self.max_abs = self.max_abs.max(f64::from_bits(s.max_abs));
        self.max_rel = self.max_rel.max(f64::from_bits(s.max_rel));
        self.ulp_max = self.ulp_max.max(s.ulp_max);
        self.ulp_sum += (u128::from(s.ulp_hi) << 32) + u128::from(s.ulp_lo);
        if self.first.is_none() && s.first != u64::MAX {
            self.first = Some(start + s.first as usize);
        }
    }
}

/// Statistics of one block, as the element loop leaves them.
struct Block {
    matched: u64,
    bitwise: u64,
    nan: u64,
    miss: u64,
    first: u64,
    max_abs: u64,
    max_rel: u64,
    ulp_max: u64,
    ulp_lo: u64,
    ulp_hi: u64,
}

/// The element loop over one block (at most [`BLOCK`] pairs); stores each
/// pair's histogram bucket in `buckets`.
#[inline(always)]
// Non-short-circuit `&`/`|` on purpose: lazy operators are branches.
#[allow(clippy::needless_bitwise_bool)]
fn scan_block<P: Pair>(a: &[P::A], b: &[P::B], tol: Tolerance, buckets: &mut [u8; BLOCK]) -> Block {
    // A constant per instantiation: the format's masks fold into the loop.
    let dtype = P::DTYPE;
    let n = a.len().min(b.len()).min(BLOCK);
    let (a, b, out) = (&a[..n], &b[..n], &mut buckets[..n]);
    let (atol, rtol) = (tol.atol, tol.rtol);
    let (mut matched, mut bitwise, mut nan, mut miss) = (0u64, 0u64, 0u64, 0u64);
    let mut first = u64::MAX;
    let (mut max_abs, mut max_rel, mut ulp_max) = (0u64, 0u64, 0u64);
    let (mut ulp_lo, mut ulp_hi) = (0u64, 0u64);
    for j in 0..n {
        let (ob, ov, rv, rb) = P::load(a[j], b[j]);
        let finite = !dtype.is_special_bits(ob) & !dtype.is_special_bits(rb);
        let (onan, rnan) = (dtype.is_nan_bits(ob), dtype.is_nan_bits(rb));
        let equal = ob == rb;
        let is_matched = finite | equal | (onan & rnan);
        // |out - ref| by clearing the sign bit (what `abs` does), kept as
        // bits for the maximum
        let d_bits = (ov - rv).to_bits() & !(1u64 << 63);
        let d = f64::from_bits(d_bits);
        let ar = rv.abs();
        let outside = finite & (d > atol + rtol * ar);
        let is_miss = !is_matched | outside;
        let ulp = if finite {
            dtype.ordered(ob).abs_diff(dtype.ordered(rb))
        } else {
            0
        };
        let rel = d / ar;

        matched += u64::from(is_matched);
        bitwise += u64::from(equal);
        nan += u64::from(onan ^ rnan);
        miss += u64::from(is_miss);
        first = first.min(if is_miss { j as u64 } else { u64::MAX });
        max_abs = max_abs.max(if finite { d_bits } else { 0 });
        max_rel = max_rel.max(if finite & (ar != 0.0) {
            rel.to_bits()
        } else {
            0
        });
        ulp_max = ulp_max.max(ulp);
        ulp_lo += ulp & 0xffff_ffff;
        ulp_hi += ulp >> 32;
        out[j] = if is_matched { bucket(ulp) } else { UNMATCHED };
    }
    Block {
        matched,
        bitwise,
        nan,
        miss,
        first,
        max_abs,
        max_rel,
        ulp_max,
        ulp_lo,
        ulp_hi,
    }
}

/// [`super::ulp_bucket`] without branches or a leading-zero count: for
/// `u >= 3` the bucket is `1 + bitlen(u - 1)`, read from the exponent of
/// `u - 1` converted to float32, exact because it is first capped at
/// `2^20` (whose bucket is the overflow bucket).
#[inline(always)]
fn bucket(ulp: u64) -> u8 {
    let capped = ulp.wrapping_sub(1).min(1 << 20) as i32;
    let wide = ((capped as f32).to_bits() >> 23).wrapping_sub(125);
    if ulp <= 2 {
        ulp as u8
    } else {
        wide as u8
    }
}

/// Adds the histogram of one block of `n` buckets (`matched` of them
/// pattern-matched) to `hist`.
#[inline(always)]
fn add_histogram(
    buckets: &mut [u8; BLOCK],
    n: usize,
    matched: u64,
    hist: &mut [u64; HIST_BUCKETS],
) {
    let top = buckets[..n]
        .iter()
        .fold(0u8, |m, &b| m.max(b))
        .min(UNMATCHED - 1);
    buckets[n..].fill(UNMATCHED);
    let mut counted = 0;
    for k in 1..=top {
        let c = count_equal(buckets, k);
        hist[usize::from(k)] += c;
        counted += c;
    }
    hist[0] += matched - counted;
}

/// How many of the block's bytes equal `k`.
#[inline(always)]
fn count_equal(buckets: &[u8; BLOCK], k: u8) -> u64 {
    // Byte-wide lanes: each sees BLOCK / 64 = 16 rows, far below 255.
    let mut lanes = [0u8; 64];
    for row in buckets.chunks_exact(64) {
        for (l, &b) in lanes.iter_mut().zip(row) {
            *l += u8::from(b == k);
        }
    }
    lanes.iter().map(|&l| u64::from(l)).sum()
}

/// One chunk (`base` is the index of its first element), block by block.
#[inline(always)]
fn scan_chunk<P: Pair>(a: &[P::A], b: &[P::B], base: usize, tol: Tolerance) -> Acc {
    let mut acc = Acc::new();
    let mut buckets = [0u8; BLOCK];
    for (k, (x, y)) in a.chunks(BLOCK).zip(b.chunks(BLOCK)).enumerate() {
        let s = scan_block::<P>(x, y, tol, &mut buckets);
        let len = x.len().min(y.len());
        acc.add_block(&s, base + k * BLOCK, len);
        add_histogram(&mut buckets, len, s.matched, &mut acc.hist);
    }
    acc
}

/// The instruction sets the kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The build target's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// x86-64 with AVX2.
    Avx2,
    /// x86-64 with AVX-512 (F, BW, DQ, VL).
    Avx512,
}

impl Isa {
    /// Every variant, best last.
    pub(crate) const ALL: [Isa; 3] = [Isa::Baseline, Isa::Avx2, Isa::Avx512];

    /// Whether this CPU runs the variant.
    pub(crate) fn supported(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best variant this CPU runs.
    pub(crate) fn detect() -> Self {
        Self::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.supported())
            .unwrap_or(Isa::Baseline)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{scan_chunk, Acc, Pair, Tolerance};

    /// [`scan_chunk`] compiled with AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2<P: Pair>(a: &[P::A], b: &[P::B], base: usize, tol: Tolerance) -> Acc {
        scan_chunk::<P>(a, b, base, tol)
    }

    /// [`scan_chunk`] compiled with AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, BW, DQ and VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) unsafe fn avx512<P: Pair>(
        a: &[P::A],
        b: &[P::B],
        base: usize,
        tol: Tolerance,
    ) -> Acc {
        scan_chunk::<P>(a, b, base, tol)
    }
}

/// Statistics of one chunk (`base`: its first element's index) with the
/// kernel for `isa`, or the baseline one where the CPU lacks it.
pub(crate) fn chunk<P: Pair>(isa: Isa, a: &[P::A], b: &[P::B], base: usize, tol: Tolerance) -> Acc {
    #[cfg(target_arch = "x86_64")]
    if isa.supported() {
        match isa {
            // SAFETY: `supported` checked that this CPU has AVX-512 F/BW/DQ/VL.
            Isa::Avx512 => return unsafe { x86::avx512::<P>(a, b, base, tol) },
            // SAFETY: `supported` checked that this CPU has AVX2.
            Isa::Avx2 => return unsafe { x86::avx2::<P>(a, b, base, tol) },
            Isa::Baseline => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    scan_chunk::<P>(a, b, base, tol)
}

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;

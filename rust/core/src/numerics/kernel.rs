//! The comparison kernel: every statistic of [`compare`](mod@super::compare) for a
//! chunk, in block-sized loops that the compiler vectorises.
//!
//! **Branch-free elements.** Each element pair goes through the same
//! straight-line code whatever its class (see the rules in
//! [`compare`](mod@super::compare)): it is classified with bit masks and selects keep or
//! drop its contributions. Reductions are integer ones, which the loop
//! vectoriser may reorder: counts are sums, the float maxima are maxima of
//! *bits* (a non-negative, non-NaN float64 orders like its bits, and a
//! dropped pair contributes +0), so the result does not depend on the
//! vector width or the instruction set.
//!
//! **Blocks of [`BLOCK`] pairs, two loops each.** Loop 1 ([`scan_bits`])
//! reads only bits, in the format's word width (`u32` lanes for 32- and
//! 16-bit formats): the ULP distance (difference of ordered integers) and
//! its maximum and sum, and one *code* byte per pair, its ULP bucket or its
//! non-finite class. Loop 2 ([`scan_values`]) reads the float64 values of
//! the pairs the codes call finite: the tolerance count, `max |out - ref|`
//! and the candidates for a new relative-error maximum, whose division runs
//! only for the blocks that may raise it. Splitting the work keeps each
//! loop's running values in registers; the block's data stays in L1
//! between the two.
//!
//! **Figures at every scale, in loop 2.** The float64 sums of `cosine` and
//! `rel_rmse` (squared error, squared reference, squared output, output
//! times reference) go to [`LANES`] lane accumulators, pair `j` of a block
//! to lane `j % LANES`: loop 2 is a fixed-size inner loop over the lanes,
//! each running value kept per lane (a vector register), with the same
//! additions in the same order on every instruction set. The lanes are
//! combined pairwise at the end of the block. The same loop counts the
//! small values and the large ones outside the tolerance.
//!
//! **Counts from codes.** A scatter (`hist[bucket] += 1`) does not
//! vectorise, so [`tally`] counts each code that occurs in the block by
//! comparing the whole block with it into byte-wide lanes: the histogram
//! buckets up to the block's largest, identical bits, and (only when the
//! block has one) the non-finite classes. An identical or nearly identical
//! block costs one or two such counts. The first mismatch is found by a
//! scalar rescan of the one block of a chunk where it occurs.
//!
//! **Instruction sets.** The same generic code is compiled for the
//! baseline target and, on x86-64, with AVX2 and with AVX-512 (see the
//! `isa` module). The results are identical on every path: the same IEEE
//! operations (no fused multiply-add: Rust never contracts `a + b * c`) and
//! the same integer reductions.
use std::marker::PhantomData;

use super::compare::{Comparison, Tolerance, HIST_BUCKETS};
use super::float::{DType, Format, Word};
use sums::{cosine, rel_rmse, scan_values, Sums};

/// Elements per block of the element loop (its bucket bytes: 1 KiB).
pub const BLOCK: usize = 1024;

/// Lane sums per block for the float64 sums (eight: one AVX-512 register,
/// two AVX2 ones); part of the definition of the result, not a tuning knob.
pub const LANES: usize = 8;

// The code bytes loop 1 writes for a block, one per pair, that the tally
// and loop 2 read: 0..=22 is a finite pair's ULP bucket (0 only for
// identical bits), then the rest of the classes of the module docs.
/// A finite pair at 0 ULP whose bits differ (+0 against -0).
const ZERO_UNEQUAL: u8 = HIST_BUCKETS as u8;
/// An unmatched infinity (no NaN): the first code of a non-finite pair.
const INF_MISMATCH: u8 = ZERO_UNEQUAL + 1;
/// Exactly one NaN.
const NAN_MISMATCH: u8 = INF_MISMATCH + 1;
/// The same infinity or NaN bits on both sides.
const SPECIAL_EQUAL: u8 = NAN_MISMATCH + 1;
/// Two NaNs with different bits (matched, 0 ULP).
const NAN_UNEQUAL: u8 = SPECIAL_EQUAL + 1;
/// Filler past the end of a short block (never counted).
const PAD: u8 = u8::MAX;

/// How one element pair is read: output bits, output value, reference
/// value and reference bits (in the output's format).
pub(crate) trait Pair {
    /// Output element as stored.
    type A: Copy + Send + Sync;
    /// Reference element as stored.
    type B: Copy + Send + Sync;
    /// The integer the bits are handled in.
    type Word: Word;
    /// The output's format.
    const DTYPE: DType;
    /// `(out bits, out value, ref value, ref bits)`.
    fn load(a: Self::A, b: Self::B) -> (Self::Word, f64, f64, Self::Word);
}

/// Two arrays of the same format.
pub(crate) struct Same<F>(PhantomData<F>);

/// An output against a float64 reference, rounded to the output's format
/// for the bits.
pub(crate) struct Reference<F>(PhantomData<F>);

impl<F: Format> Pair for Same<F> {
    type A = F::Raw;
    type B = F::Raw;
    type Word = F::Word;
    const DTYPE: DType = F::DTYPE;
    #[inline(always)]
    fn load(a: F::Raw, b: F::Raw) -> (F::Word, f64, f64, F::Word) {
        (F::word(a), F::value(a), F::value(b), F::word(b))
    }
}

impl<F: Format> Pair for Reference<F> {
    type A = F::Raw;
    type B = f64;
    type Word = F::Word;
    const DTYPE: DType = F::DTYPE;
    #[inline(always)]
    fn load(a: F::Raw, r: f64) -> (F::Word, f64, f64, F::Word) {
        (F::word(a), F::value(a), r, F::round(r))
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
    /// Float64 sums over finite pairs: squared error, squared reference,
    /// squared output, output times reference.
    sums: [f64; 4],
    small: usize,
    small_max: f64,
    small_fail: usize,
    large_fail: usize,
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
            sums: [0.0; 4],
            small: 0,
            small_max: 0.0,
            small_fail: 0,
            large_fail: 0,
        }
    }

    /// A chunk of pairs with identical bits (`x` against itself): the counts
    /// without the ULP and tolerance loops, the sums and small values from
    /// loop 3, block by block as the full kernel takes them (so the result
    /// is bit-identical to it).
    pub(crate) fn identical<F: Format>(x: &[F::Raw], tol: Tolerance) -> Self {
        let mut acc = Self::new();
        acc.n = x.len();
        acc.bitwise = x.len();
        acc.matched = x.len();
        acc.hist[0] = x.len() as u64;
        let mut codes = [0u8; BLOCK];
        for block in x.chunks(BLOCK) {
            scan_bits::<Same<F>>(block, block, &mut codes);
            let (_, sums) = scan_values::<Same<F>>(block, block, &codes, tol, 0.0);
            acc.add_sums(&sums);
        }
        acc
    }

    #[inline(always)]
    fn add_sums(&mut self, s: &Sums) {
        for (a, b) in self.sums.iter_mut().zip(s.total) {
            *a += b;
        }
        self.small += s.small as usize;
        self.small_max = self.small_max.max(f64::from_bits(s.small_max));
        self.small_fail += s.small_fail as usize;
        self.large_fail += s.large_fail as usize;
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
        // `self` covers the elements before `o`: the callers keep this order
        for (a, b) in self.sums.iter_mut().zip(o.sums) {
            *a += b;
        }
        self.small += o.small;
        self.small_max = self.small_max.max(o.small_max);
        self.small_fail += o.small_fail;
        self.large_fail += o.large_fail;
        self
    }

    pub(crate) fn finish(self, dtype: DType, tol: Tolerance) -> Comparison {
        let [e2, r2, o2, or] = self.sums;
        let over_bucket = super::compare::ulp_bucket(tol.ulp);
        let ulp_over: u64 = self.hist[over_bucket + 1..].iter().sum();
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
            cosine: cosine(or, o2, r2),
            rel_rmse: rel_rmse(e2, r2),
            ulp_threshold: tol.ulp,
            ulp_over: ulp_over as usize,
            small: self.small,
            small_max_abs_err: self.small_max,
            small_mismatches: self.small_fail,
            large_mismatches: self.large_fail,
        }
    }

    /// Adds the statistics `s` of a block of pairs (`a`, `b`) starting at
    /// element `start`.
    #[inline(always)]
    fn add_block<P: Pair>(
        &mut self,
        s: &Block,
        a: &[P::A],
        b: &[P::B],
        start: usize,
        tol: Tolerance,
    ) {
        let len = a.len().min(b.len());
        let unmatched = s.tally.inf + s.tally.nan;
        self.n += len;
        self.matched += len - unmatched;
        self.bitwise += s.tally.bitwise;
        self.nan_mismatch += s.tally.nan;
        self.inf_mismatch += s.tally.inf;
        // an unmatched pair is a mismatch; so is a finite one outside the tolerance
        let misses = unmatched + s.values.outside as usize;
        self.mismatches += misses;
        self.max_abs = self.max_abs.max(f64::from_bits(s.values.max_abs));
        self.add_sums(&s.sums);
        if s.values.rel_candidates > 0 {
            self.max_rel = self.max_rel.max(rel_max::<P>(a, b));
        }
        self.ulp_max = self.ulp_max.max(s.ulp.max);
        self.ulp_sum += (u128::from(s.ulp.hi32) << 32)
            + (u128::from(s.ulp.mid16) << 16)
            + u128::from(s.ulp.lo16);
        if self.first.is_none() && misses > 0 {
            self.first = first_miss::<P>(a, b, tol).map(|j| start + j);
        }
    }
}

/// Statistics of one block: from its bits, its codes and its values.
struct Block {
    ulp: UlpStats,
    tally: Tally,
    values: ValueStats,
    sums: Sums,
}

/// ULP statistics of one block ([`scan_bits`]). The sum is split into the
/// sums of bits 0-15 and 16-31 (each below `BLOCK * 2^16`, so they add up
/// in 32-bit lanes) and, for float64 only, of bits 32-63.
struct UlpStats {
    max: u64,
    lo16: u32,
    mid16: u32,
    hi32: u64,
}

/// Statistics of one block from the pairs' values ([`scan_values`]).
struct ValueStats {
    /// Finite pairs outside the tolerance.
    outside: u32,
    /// Bits of the largest `|out - ref|` over finite pairs.
    max_abs: u64,
    /// Finite pairs whose relative error may exceed the running maximum.
    rel_candidates: u32,
}

// The classification helpers below return plain scalars, never a small
// struct or tuple: the Rust ABI passes aggregates of up to 16 bytes as
// packed integers, and that packing survives inlining as 64-bit lanes in
// the vectorised loop.

/// The format's exponent field, all ones (`>=`: infinity or NaN).
#[inline(always)]
fn exp_all<P: Pair>() -> P::Word {
    let (e, m) = P::DTYPE.layout();
    P::Word::from_u64(((1u64 << e) - 1) << m)
}

/// The magnitude bits (all but the sign).
#[inline(always)]
fn abs_mask<P: Pair>() -> P::Word {
    let (e, m) = P::DTYPE.layout();
    P::Word::from_u64((1u64 << (e + m)) - 1)
}

/// Whether both sides are finite.
#[inline(always)]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn both_finite<P: Pair>(ob: P::Word, rb: P::Word) -> bool {
    ((ob & abs_mask::<P>()) < exp_all::<P>()) & ((rb & abs_mask::<P>()) < exp_all::<P>())
}

/// ULP distance of a pair, 0 unless both sides are finite: the difference
/// of the magnitudes for equal signs and their sum otherwise (the
/// ordered-integer distance, ±0 being both 0).
#[inline(always)]
fn ulp<P: Pair>(ob: P::Word, rb: P::Word) -> P::Word {
    let (e, m) = P::DTYPE.layout();
    let zero = P::Word::from_u64(0);
    let (oa, ra) = (ob & abs_mask::<P>(), rb & abs_mask::<P>());
    let same_sign = (ob ^ rb) >> (e + m) == zero;
    // both magnitudes are below 2^63, so the sum cannot wrap
    let d = if same_sign { oa.abs_diff(ra) } else { oa + ra };
    if both_finite::<P>(ob, rb) {
        d
    } else {
        zero
    }
}

/// The code of a pair (see the code constants) given its [`ulp`]. On the
/// magnitude bits, an infinity or NaN is `>= exp_all` and a NaN
/// `> exp_all`.
#[inline(always)]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn code<P: Pair>(ob: P::Word, rb: P::Word, ulp: P::Word) -> u32 {
    let (oa, ra) = (ob & abs_mask::<P>(), rb & abs_mask::<P>());
    let (onan, rnan) = (oa > exp_all::<P>(), ra > exp_all::<P>());
    let equal = ob == rb;
    let finite_code = if equal | (ulp != P::Word::from_u64(0)) {
        bucket(ulp)
    } else {
        u32::from(ZERO_UNEQUAL)
    };
    let special_code = if equal {
        SPECIAL_EQUAL
    } else if onan & rnan {
        NAN_UNEQUAL
    } else if onan ^ rnan {
        NAN_MISMATCH
    } else {
        INF_MISMATCH
    };
    if both_finite::<P>(ob, rb) {
        finite_code
    } else {
        u32::from(special_code)
    }
}

/// Whether a code is a finite pair's.
#[inline(always)]
fn finite_code(code: u32) -> bool {
    code < u32::from(INF_MISMATCH)
}

/// Whether a code is a pattern-matched pair's.
#[inline(always)]
fn matched_code(code: u32) -> bool {
    code != u32::from(INF_MISMATCH) && code != u32::from(NAN_MISMATCH)
}

/// Loop 1 of a block (at most [`BLOCK`] pairs): bits only. Takes the ULP
/// maximum and sum and stores each pair's code in `codes`. With only
/// integer work it runs in the format's word width (8 lanes of a 256-bit
/// vector for float32); the counts come from the codes ([`tally`]).
#[inline(always)]
fn scan_bits<P: Pair>(a: &[P::A], b: &[P::B], codes: &mut [u8; BLOCK]) -> UlpStats {
    let n = a.len().min(b.len()).min(BLOCK);
    let (a, b, out) = (&a[..n], &b[..n], &mut codes[..n]);
    let mut ulp_max = P::Word::from_u64(0);
    let (mut ulp_lo16, mut ulp_mid16, mut ulp_hi32) = (0u32, 0u32, 0u64);
    for j in 0..n {
        let (ob, _, _, rb) = P::load(a[j], b[j]);
        let d = ulp::<P>(ob, rb);
        ulp_max = ulp_max.max(d);
        let low = d.low_u32();
        ulp_lo16 += low & 0xffff;
        ulp_mid16 += low >> 16;
        ulp_hi32 += u64::from(d.high_u32());
        out[j] = code::<P>(ob, rb, d) as u8;
    }
    UlpStats {
        max: ulp_max.to_u64(),
        lo16: ulp_lo16,
        mid16: ulp_mid16,
        hi32: ulp_hi32,
    }
}

/// `1 - 2^-50`: lowers the relative-error filter below any rounding of
/// `max_rel * |ref|` (see [`scan_values`]).
const REL_FILTER: f64 = 1.0 - 1.0 / (1u64 << 50) as f64;

/// Largest `|out - ref| / |ref|` over the finite pairs with `ref != 0`
/// (0 for none).
#[inline(always)]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn rel_max<P: Pair>(a: &[P::A], b: &[P::B]) -> f64 {
    let mut max = 0u64;
    for (&x, &y) in a.iter().zip(b) {
        let (ob, ov, rv, rb) = P::load(x, y);
        let finite = both_finite::<P>(ob, rb);
        let ar = rv.abs();
        let q = f64::from_bits((ov - rv).to_bits() & !(1u64 << 63)) / ar;
        max = max.max(if finite & (ar != 0.0) { q.to_bits() } else { 0 });
    }
    f64::from_bits(max)
}

/// Index of the first pair outside the tolerance or the pattern, if any
/// (a scalar rescan, run at most once per chunk).
fn first_miss<P: Pair>(a: &[P::A], b: &[P::B], tol: Tolerance) -> Option<usize> {
    a.iter().zip(b).position(|(&x, &y)| {
        let (ob, ov, rv, rb) = P::load(x, y);
        let c = code::<P>(ob, rb, ulp::<P>(ob, rb));
        !matched_code(c) || (finite_code(c) && (ov - rv).abs() > tol.atol + tol.rtol * rv.abs())
    })
}

/// [`super::ulp_bucket`] without branches or a leading-zero count: for
/// `u >= 3` the bucket is `1 + bitlen(u - 1)`. With `u` capped at
/// `2^20 + 1` (the overflow bucket's smallest distance), `bitlen` is read
/// from the exponent of `u - 1` as a float32, converted exactly by the
/// classic trick: the float32 with bits `0x4B00_0000 | x` is `2^23 + x`
/// for `x < 2^23`, and subtracting `2^23` leaves `x`. Only 32-bit integer
/// and float operations, which every vector unit has.
#[inline(always)]
fn bucket<W: Word>(ulp: W) -> u32 {
    let u = ulp.min_u32((1 << 20) + 1);
    let exact = f32::from_bits(0x4B00_0000 | u.wrapping_sub(1)) - 8_388_608.0;
    let wide = (exact.to_bits() >> 23).wrapping_sub(125);
    if u <= 2 {
        u
    } else {
        wide
    }
}

/// Counts of one block, from its codes.
struct Tally {
    bitwise: usize,
    nan: usize,
    inf: usize,
}

/// Counts the codes of a block of `n` pairs and adds its ULP histogram to
/// `hist`. A scatter (`hist[code] += 1`) does not vectorise, so each code
/// that occurs is counted over the whole block ([`count_equal`]): code 0
/// (identical bits) always, the buckets `1..=top` (`top` the block's
/// largest code, at most 22) and, when the block has a non-finite pair,
/// the non-finite codes. Bucket 0 is the rest of the matched pairs
/// (identical bits, ±0, and matched infinities and NaNs).
#[inline(always)]
fn tally(codes: &mut [u8; BLOCK], n: usize, hist: &mut [u64; HIST_BUCKETS]) -> Tally {
    let top = codes[..n].iter().fold(0u8, |m, &c| m.max(c));
    codes[n..].fill(PAD);
    let (mut inf, mut nan, mut special_equal) = (0, 0, 0);
    if top >= INF_MISMATCH {
        inf = count_equal(codes, INF_MISMATCH);
        nan = count_equal(codes, NAN_MISMATCH);
        special_equal = count_equal(codes, SPECIAL_EQUAL);
    }
    let mut counted = 0;
    for k in 1..=top.min(ZERO_UNEQUAL - 1) {
        let c = count_equal(codes, k);
        hist[usize::from(k)] += c;
        counted += c;
    }
    let matched = n as u64 - inf - nan;
    hist[0] += matched - counted;
    Tally {
        bitwise: (count_equal(codes, 0) + special_equal) as usize,
        nan: nan as usize,
        inf: inf as usize,
    }
}

/// How many of the block's bytes equal `k`.
#[inline(always)]
fn count_equal(codes: &[u8; BLOCK], k: u8) -> u64 {
    // Byte-wide lanes: each sees BLOCK / 64 = 16 rows, far below 255.
    let mut lanes = [0u8; 64];
    for row in codes.chunks_exact(64) {
        for (l, &b) in lanes.iter_mut().zip(row) {
            *l += u8::from(b == k);
        }
    }
    lanes.iter().map(|&l| u64::from(l)).sum()
}

/// One chunk (`base` is the index of its first element), block by block.
#[inline(always)]
pub(super) fn scan_chunk<P: Pair>(a: &[P::A], b: &[P::B], base: usize, tol: Tolerance) -> Acc {
    let mut acc = Acc::new();
    let mut codes = [0u8; BLOCK];
    for (k, (x, y)) in a.chunks(BLOCK).zip(b.chunks(BLOCK)).enumerate() {
        let ulp = scan_bits::<P>(x, y, &mut codes);
        let (values, sums) = scan_values::<P>(x, y, &codes, tol, acc.max_rel);
        let tally = tally(&mut codes, x.len().min(y.len()), &mut acc.hist);
        let block = Block {
            ulp,
            tally,
            values,
            sums,
        };
        acc.add_block::<P>(&block, x, y, base + k * BLOCK, tol);
    }
    acc
}

#[path = "kernel_sums.rs"]
mod sums;

#[cfg(test)]
#[path = "kernel_tests.rs"]
mod tests;

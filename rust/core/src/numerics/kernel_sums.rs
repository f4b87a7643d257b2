//! Loop 2 of the comparison kernel: the pairs' values, with the float64
//! sums behind `cosine` and `rel_rmse` in fixed-order lanes and the
//! small-value figures (see the `kernel` module docs).
use super::super::compare::Tolerance;
use super::{finite_code, Pair, ValueStats, BLOCK, LANES, REL_FILTER};

/// The figures at every scale of one block ([`scan_values`]).
pub(super) struct Sums {
    /// The block's float64 sums (lanes combined), in `Acc`'s order.
    pub(super) total: [f64; 4],
    /// Finite pairs with `|ref| < small`.
    pub(super) small: u32,
    /// Bits of the largest `|out - ref|` over them.
    pub(super) small_max: u64,
    /// Those with `|out - ref| > small_atol`.
    pub(super) small_fail: u32,
    /// Finite pairs with `|ref| >= small` outside the tolerance.
    pub(super) large_fail: u32,
}

/// Cosine similarity from the sums: 1 for two zero vectors, 0 for one.
/// `sqrt(o2 * r2)` makes an identical output exactly 1 (`o2 == r2 == or`,
/// and a correctly rounded `sqrt(a * a)` is `a`); where the product leaves
/// the float64 range the two roots are taken apart.
pub(super) fn cosine(or: f64, o2: f64, r2: f64) -> f64 {
    let norms = (o2 * r2).sqrt();
    let norms = if norms.is_normal() {
        norms
    } else {
        o2.sqrt() * r2.sqrt()
    };
    match (o2 == 0.0, r2 == 0.0) {
        (true, true) => 1.0,
        (true, false) | (false, true) => 0.0,
        (false, false) => (or / norms).clamp(-1.0, 1.0),
    }
}

/// `sqrt(e2 / r2)`: 0 for no error, +inf for error against a zero reference.
pub(super) fn rel_rmse(e2: f64, r2: f64) -> f64 {
    if e2 == 0.0 {
        0.0
    } else {
        (e2 / r2).sqrt()
    }
}

/// Per-lane running values of [`scan_values`]: every reduction has its own
/// lane array, so the fixed-size inner loop is plain lane-parallel code.
struct Lanes {
    sums: [[f64; LANES]; 4],
    outside: [u32; LANES],
    max_abs: [i64; LANES],
    rel_candidates: [u32; LANES],
    small: [u32; LANES],
    small_fail: [u32; LANES],
    large_fail: [u32; LANES],
    small_max: [i64; LANES],
}

/// One pair's contributions to lane `k` (branch-free: selects, not jumps);
/// `scaled` is the relative-error filter of [`scan_values`].
#[inline(always)]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
fn add_pair<P: Pair>(l: &mut Lanes, k: usize, pair: (P::A, P::B, u8), tol: Tolerance, scaled: f64) {
    let (_, ov, rv, _) = P::load(pair.0, pair.1);
    let finite = finite_code(u32::from(pair.2));
    // A non-finite pair is read as two zeros: it adds nothing to the sums
    // and its error is 0, so the maxima need no select of their own; the
    // counts below still test `finite`.
    let (o0, r0) = if finite { (ov, rv) } else { (0.0, 0.0) };
    let e = o0 - r0;
    l.sums[0][k] += e * e;
    l.sums[1][k] += r0 * r0;
    l.sums[2][k] += o0 * o0;
    l.sums[3][k] += o0 * r0;
    // |out - ref| as bits: a non-negative float64 orders like its bits, and
    // with the sign bit clear a signed maximum orders them too
    let d_bits = e.to_bits() & !(1u64 << 63);
    let d = f64::from_bits(d_bits);
    #[allow(clippy::cast_possible_wrap)] // below 2^63
    let d_signed = d_bits as i64;
    let ar = r0.abs();
    let outside = finite & (d > tol.atol + tol.rtol * ar);
    l.outside[k] += u32::from(outside);
    l.max_abs[k] = l.max_abs[k].max(d_signed);
    let bound = scaled * ar;
    let skip = (d <= bound.min(f64::MAX)) & (bound >= f64::MIN_POSITIVE);
    l.rel_candidates[k] += u32::from(finite & (ar != 0.0) & !skip);
    let is_small = ar < tol.small;
    let s = finite & is_small;
    l.small[k] += u32::from(s);
    l.small_fail[k] += u32::from(s & (d > tol.small_atol));
    l.small_max[k] = l.small_max[k].max(if s { d_signed } else { 0 });
    l.large_fail[k] += u32::from(outside & !is_small);
}

/// Loop 2 of a block: float64 values, for the pairs loop 1 found finite
/// (their `codes` say so). Counts the pairs outside the tolerance
/// (`|out - ref| > atol + rtol * |ref|`), takes the largest `|out - ref|`
/// (as bits: a non-negative float64 orders like its bits; `abs` is a
/// cleared sign bit) and counts the candidates for a new relative-error
/// maximum.
///
/// The relative error needs a division, the costliest operation here, so
/// it is left to `rel_max` for the blocks that may raise the running
/// maximum `max_rel`. With `s` the rounded `max_rel * (1 - 2^-50)` (0
/// unless a normal number) and `L` the rounded `s * |ref|`, a finite pair
/// with `ref != 0` is no candidate when `L` is a normal number and
/// `|out - ref| <= min(L, f64::MAX)`. Then `L < max_rel * |ref|` exactly
/// (two roundings in the normal range move it by at most `2^-53` relative
/// each; an `L` rounded up to infinity still means
/// `max_rel * |ref| > f64::MAX`, and an infinite `|out - ref|` is always a
/// candidate), so the exact quotient is below `max_rel` and so is its
/// rounding. After the first block of a chunk, candidates are rare, and
/// the maximum is still the exactly rounded quotient a plain loop gives.
///
/// The same loop takes the sums of the finite pairs in [`LANES`] lanes
/// (pair `j` in lane `j % LANES`, the lanes combined as
/// `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`) and the small-value
/// figures; every running value is kept per lane.
#[inline(always)]
pub(super) fn scan_values<P: Pair>(
    a: &[P::A],
    b: &[P::B],
    codes: &[u8; BLOCK],
    tol: Tolerance,
    max_rel: f64,
) -> (ValueStats, Sums) {
    let n = a.len().min(b.len()).min(BLOCK);
    let (a, b, codes) = (&a[..n], &b[..n], &codes[..n]);
    let scaled = max_rel * REL_FILTER;
    let scaled = if scaled >= f64::MIN_POSITIVE {
        scaled
    } else {
        0.0
    };
    let mut l = Lanes {
        sums: [[0.0; LANES]; 4],
        outside: [0; LANES],
        max_abs: [0; LANES],
        rel_candidates: [0; LANES],
        small: [0; LANES],
        small_fail: [0; LANES],
        large_fail: [0; LANES],
        small_max: [0; LANES],
    };
    let groups = a
        .chunks_exact(LANES)
        .zip(b.chunks_exact(LANES))
        .zip(codes.chunks_exact(LANES));
    for ((x, y), c) in groups {
        for k in 0..LANES {
            add_pair::<P>(&mut l, k, (x[k], y[k], c[k]), tol, scaled);
        }
    }
    let whole = n - n % LANES;
    for k in 0..n - whole {
        let j = whole + k;
        add_pair::<P>(&mut l, k, (a[j], b[j], codes[j]), tol, scaled);
    }
    let total = |v: [u32; LANES]| v.iter().sum::<u32>();
    #[allow(clippy::cast_sign_loss)] // maxima of non-negative values
    let max = |v: [i64; LANES]| v.into_iter().max().unwrap_or(0) as u64;
    let values = ValueStats {
        outside: total(l.outside),
        max_abs: max(l.max_abs),
        rel_candidates: total(l.rel_candidates),
    };
    let sums = Sums {
        total: l
            .sums
            .map(|v| ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7]))),
        small: total(l.small),
        small_max: max(l.small_max),
        small_fail: total(l.small_fail),
        large_fail: total(l.large_fail),
    };
    (values, sums)
}

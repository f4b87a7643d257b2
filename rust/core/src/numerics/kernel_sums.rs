//! Loop 3 of the comparison kernel: the float64 sums behind `cosine` and
//! `rel_rmse` in fixed-order lanes, and the small-value figures (see the
//! `kernel` module docs).
use super::super::compare::Tolerance;
use super::{finite_code, Pair, BLOCK, LANES};

/// Loop 3's figures of one block ([`scan_sums`]).
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

/// Loop 3 of a block: the float64 sums of the finite pairs (their `codes`
/// say so) in [`LANES`] lanes, pair `j` in lane `j % LANES`, and
/// the small-value figures. The lanes are combined as
/// `((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))`.
#[inline(always)]
#[allow(clippy::needless_bitwise_bool)] // branch-free on purpose
pub(super) fn scan_sums<P: Pair>(
    a: &[P::A],
    b: &[P::B],
    codes: &[u8; BLOCK],
    tol: Tolerance,
) -> Sums {
    let n = a.len().min(b.len()).min(BLOCK);
    let (a, b, codes) = (&a[..n], &b[..n], &codes[..n]);
    let mut lanes = [[0.0f64; LANES]; 4];
    let (mut small, mut small_fail, mut large_fail) = (0u32, 0u32, 0u32);
    let mut small_max = 0i64;
    let mut pair = |j: usize, k: usize| {
        let (_, ov, rv, _) = P::load(a[j], b[j]);
        let finite = finite_code(u32::from(codes[j]));
        let e = ov - rv;
        let keep = |x: f64| if finite { x } else { 0.0 };
        lanes[0][k] += keep(e * e);
        lanes[1][k] += keep(rv * rv);
        lanes[2][k] += keep(ov * ov);
        lanes[3][k] += keep(ov * rv);
        let d_bits = e.to_bits() & !(1u64 << 63);
        let d = f64::from_bits(d_bits);
        let ar = rv.abs();
        let is_small = ar < tol.small;
        let s = finite & is_small;
        small += u32::from(s);
        small_fail += u32::from(s & (d > tol.small_atol));
        #[allow(clippy::cast_possible_wrap)] // below 2^63
        let d_signed = d_bits as i64;
        small_max = small_max.max(if s { d_signed } else { 0 });
        large_fail += u32::from(finite & !is_small & (d > tol.atol + tol.rtol * ar));
    };
    let whole = n - n % LANES;
    for g in (0..whole).step_by(LANES) {
        for k in 0..LANES {
            pair(g + k, k);
        }
    }
    for j in whole..n {
        pair(j, j - whole);
    }
    Sums {
        total: lanes.map(|l| ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]))),
        small,
        small_max: small_max as u64,
        small_fail,
        large_fail,
    }
}

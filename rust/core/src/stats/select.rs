//! Selection of several order statistics at once.
//!
//! A summary needs a dozen order statistics, not a sorted array. Selecting
//! the middle requested rank with `select_nth_unstable` (introselect,
//! expected `O(n)`) splits the slice; the ranks below and above it are then
//! selected recursively in the two halves. With `m` ranks the cost is
//! `O(n log m)`, several times cheaper than a full sort for large `n`.

/// Reorders `v` so that for every rank `r` in `ranks` (ascending, unique,
/// each `< v.len()`), `v[r]` is the `r`-th smallest value (0-based),
/// as if `v` were sorted. Other positions are left in an unspecified order.
pub fn select_ranks(v: &mut [f64], ranks: &[usize]) {
    select_rec(v, ranks, 0);
}

fn select_rec(v: &mut [f64], ranks: &[usize], offset: usize) {
    if ranks.is_empty() || v.len() <= 1 {
        return;
    }
    if v.len() <= 32 {
        v.sort_unstable_by(f64::total_cmp);
        return;
    }
    let mid = ranks.len() / 2;
    let r = ranks[mid] - offset;
    let (left, _, right) = v.select_nth_unstable_by(r, f64::total_cmp);
    select_rec(left, &ranks[..mid], offset);
    select_rec(right, &ranks[mid + 1..], offset + r + 1);
}

/// Ranks `floor(h)` and `floor(h) + 1` that the type-7 quantile `p` of `n`
/// values reads (clamped to `n - 1`).
#[must_use]
pub fn quantile_ranks(n: usize, p: f64) -> [usize; 2] {
    let lo = ((n - 1) as f64 * p.clamp(0.0, 1.0)).floor() as usize;
    [lo, (lo + 1).min(n - 1)]
}

/// Median of `v` by selection (reorders `v`); `v` must be non-empty.
#[must_use]
pub fn median_select(v: &mut [f64]) -> f64 {
    let n = v.len();
    let ranks = quantile_ranks(n, 0.5);
    let ranks: &[usize] = if ranks[0] == ranks[1] {
        &ranks[..1]
    } else {
        &ranks
    };
    select_ranks(v, ranks);
    super::quantile_sorted(v, 0.5)
}

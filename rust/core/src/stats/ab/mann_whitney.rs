//! The Mann–Whitney U (Wilcoxon rank-sum) test of two independent samples.
//!
//! # Method
//! Pool both samples and rank them, ties getting the mean of the ranks they
//! span (mid-ranks). With `R1` the rank sum of `a`,
//! `U1 = R1 - n1(n1+1)/2` counts the pairs `(a_i, b_j)` with `a_i > b_j`
//! (ties counting one half), and `U2 = n1 n2 - U1`. Under the null
//! hypothesis that both samples come from one distribution, `U` has mean
//! `n1 n2 / 2` and, with `t` the sizes of the tie groups, variance
//! `n1 n2 / 12 · ((n + 1) - sum(t^3 - t) / (n (n - 1)))`
//! (the tie correction of Lehmann, *Nonparametrics*, 1975, §1.4).
//! The two-sided p-value uses the normal approximation with a continuity
//! correction: `z = (max(U1, U2) - n1 n2/2 - 1/2) / sigma`,
//! `p = min(1, 2 Q(z))` — the same as
//! `scipy.stats.mannwhitneyu(a, b, method="asymptotic")`.
//!
//! Timing runs have tens to thousands of samples, where the approximation
//! is accurate; it is also what makes the test usable on tied data (timer
//! ticks), where exact tables do not apply.
//!
//! # Cost
//! One sort of the pooled `n = n1 + n2` values: `O(n log n)`.
use super::normal::normal_sf;
use crate::stats::validate;
use crate::Result;

/// Result of a two-sided Mann–Whitney U test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// `U1`: the number of pairs with `a_i > b_j`, ties counting one half.
    pub u: f64,
    /// Standardised statistic `(U1 - n1 n2 / 2) / sigma` (no continuity
    /// correction): positive when `a` tends to be larger. 0 when sigma is 0.
    pub z: f64,
    /// Two-sided p-value (normal approximation, tie and continuity
    /// corrected); 1 when every value is tied.
    pub p_value: f64,
    /// Common-language effect size `U1 / (n1 n2)`: the probability that a
    /// random value of `a` exceeds one of `b` (ties counting one half).
    pub effect: f64,
}

/// Two-sided Mann–Whitney U test of `a` against `b`.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`] for either sample.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Result<MannWhitney> {
    validate(a)?;
    validate(b)?;
    let (n1, n2) = (a.len(), b.len());
    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&v| (v, true))
        .chain(b.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
    let n = pooled.len();
    let mut rank_sum_a = 0.0_f64;
    let mut tie_term = 0.0_f64;
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        // `==` rather than total_cmp so that -0.0 and 0.0 tie, as in scipy.
        #[allow(clippy::float_cmp)]
        while j < n && pooled[j].0 == pooled[i].0 {
            j += 1;
        }
        // 1-based ranks i+1 ..= j share their mean.
        let mid_rank = (i + 1 + j) as f64 / 2.0;
        let in_a = pooled[i..j].iter().filter(|p| p.1).count();
        rank_sum_a += mid_rank * in_a as f64;
        let t = (j - i) as f64;
        tie_term += t * t * t - t;
        i = j;
    }
    let (f1, f2, nf) = (n1 as f64, n2 as f64, n as f64);
    let u1 = rank_sum_a - f1 * (f1 + 1.0) / 2.0;
    let u2 = f1 * f2 - u1;
    let mu = f1 * f2 / 2.0;
    let tie_factor = if n > 1 {
        tie_term / (nf * (nf - 1.0))
    } else {
        0.0
    };
    let var = f1 * f2 / 12.0 * ((nf + 1.0) - tie_factor);
    let (z, p_value) = if var > 0.0 {
        let sigma = var.sqrt();
        let zc = (u1.max(u2) - mu - 0.5) / sigma;
        ((u1 - mu) / sigma, (2.0 * normal_sf(zc)).min(1.0))
    } else {
        (0.0, 1.0)
    };
    Ok(MannWhitney {
        u: u1,
        z,
        p_value,
        effect: u1 / (f1 * f2),
    })
}

//! Central quantiles of the standard normal and of Student's t.
//!
//! Used to calibrate the two-level bootstrap for few runs
//! ([`super::hierarchical`]): the half-width of a central interval of level
//! `c` is `z` standard errors for a normal statistic, `t_nu` when the
//! standard error itself is estimated from `nu` degrees of freedom.
//!
//! # Method
//! For integer `nu`, the central probability `A(t | nu) = P(|T| <= t)` has
//! closed forms in `theta = atan(t / sqrt(nu))` (Abramowitz & Stegun 26.7.3):
//!
//! * `nu` odd: `A = 2/pi · (theta + sin(theta) · cos(theta) · S)` with
//!   `S = 1 + 2/3 cos²θ + (2·4)/(3·5) cos⁴θ + …`, `(nu - 1) / 2` terms
//!   (none for `nu = 1`, the Cauchy case);
//! * `nu` even: `A = sin(theta) · S` with
//!   `S = 1 + 1/2 cos²θ + (1·3)/(2·4) cos⁴θ + …`, `nu / 2` terms.
//!
//! `A` increases with `theta` on `(0, pi/2)`, so the quantile is found by
//! bisection on `theta` to the last representable digit, then
//! `t = sqrt(nu) tan(theta)`. The normal quantile bisects the normal tail
//! [`crate::stats::ab::normal_sf`] in the same way. Both agree with scipy to
//! about 1e-13 (see the tests).
use crate::stats::ab::normal_sf;
use crate::{Error, Result};

fn check_level(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "confidence must be strictly between 0 and 1, got {confidence}"
        )))
    }
}

/// Bisection of an increasing `f` on `[lo, hi]` for `f(x) = target`,
/// until the interval stops shrinking.
fn bisect(f: impl Fn(f64) -> f64, target: f64, mut lo: f64, mut hi: f64) -> f64 {
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            return mid;
        }
        if f(mid) < target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
}

/// `z` with `P(|Z| <= z) = confidence` for a standard normal `Z`
/// (1.959964 for 0.95).
///
/// # Errors
/// [`Error::InvalidArgument`] for a confidence outside `(0, 1)`.
pub fn normal_central_quantile(confidence: f64) -> Result<f64> {
    check_level(confidence)?;
    Ok(bisect(|z| 1.0 - 2.0 * normal_sf(z), confidence, 0.0, 40.0))
}

/// `P(|T| <= t)` for Student's t with `nu` degrees of freedom, as a
/// function of `theta = atan(t / sqrt(nu))`.
fn central_probability(theta: f64, nu: usize) -> f64 {
    let (s, c) = theta.sin_cos();
    let c2 = c * c;
    if nu % 2 == 1 {
        let mut sum = 0.0;
        let mut term = 1.0;
        for j in 0..(nu - 1) / 2 {
            if j > 0 {
                let jf = j as f64;
                term *= c2 * (2.0 * jf) / (2.0 * jf + 1.0);
            }
            sum += term;
        }
        std::f64::consts::FRAC_2_PI * (theta + s * c * sum)
    } else {
        let mut sum = 0.0;
        let mut term = 1.0;
        for j in 0..nu / 2 {
            if j > 0 {
                let jf = j as f64;
                term *= c2 * (2.0 * jf - 1.0) / (2.0 * jf);
            }
            sum += term;
        }
        s * sum
    }
}

/// `t` with `P(|T| <= t) = confidence` for Student's t with `nu` degrees
/// of freedom (12.706 for 0.95 and `nu = 1`, 2.776 for `nu = 4`).
///
/// # Errors
/// [`Error::InvalidArgument`] for `nu == 0` or a confidence outside `(0, 1)`.
pub fn student_central_quantile(confidence: f64, nu: usize) -> Result<f64> {
    check_level(confidence)?;
    if nu == 0 {
        return Err(Error::InvalidArgument(
            "Student's t needs at least one degree of freedom".into(),
        ));
    }
    let theta = bisect(
        |th| central_probability(th, nu),
        confidence,
        0.0,
        std::f64::consts::FRAC_PI_2,
    );
    Ok((nu as f64).sqrt() * theta.tan())
}

//! Drift between the start and the end of a run.
//!
//! Thermal throttling, clock boosting or a cache warming up over the run
//! show as a shift of the median over time. With `m = n / 3` (rounded
//! down), drift compares the first `m` and the last `m` samples *in
//! measurement order*: `(median(last) - median(first)) / median(all)`.
//! Positive drift means the case got slower.
use super::select::median_select;
use super::validate;
use crate::Result;

/// Median of an unsorted, validated slice (copies it).
fn median_of(values: &[f64]) -> f64 {
    median_select(&mut values.to_vec())
}

/// Drift of samples in measurement order, given their overall median.
/// Returns 0 when `n < 3` or the overall median is 0.
#[must_use]
pub fn drift_with_median(samples: &[f64], median: f64) -> f64 {
    let n = samples.len();
    let m = n / 3;
    if m == 0 || median == 0.0 {
        return 0.0;
    }
    (median_of(&samples[n - m..]) - median_of(&samples[..m])) / median
}

/// Relative drift of samples in measurement order (see the module docs);
/// 0 when `n < 3` or the overall median is 0.
///
/// # Errors
/// [`crate::Error::Empty`] or [`crate::Error::NonFinite`].
pub fn drift(samples: &[f64]) -> Result<f64> {
    validate(samples)?;
    Ok(drift_with_median(samples, median_of(samples)))
}

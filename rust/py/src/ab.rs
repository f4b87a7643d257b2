//! A/B comparison bindings: Mann–Whitney U and the ratio-of-medians verdict,
//! for one run per side or for groups of runs.
use accelbench_core::stats::ab::{self, CompareConfig};
use pyo3::prelude::*;

use crate::convert::{count, runs as extract_runs, samples as extract_samples};
use crate::errors::compute;

/// Result of a two-sided Mann–Whitney U test.
#[pyclass(frozen, module = "accelbench._core", name = "MannWhitney")]
pub struct PyMannWhitney {
    #[pyo3(get)]
    u: f64,
    #[pyo3(get)]
    z: f64,
    #[pyo3(get)]
    p_value: f64,
    #[pyo3(get)]
    effect: f64,
}

#[pymethods]
impl PyMannWhitney {
    fn __repr__(&self) -> String {
        format!(
            "MannWhitney(u={}, z={:.4}, p_value={:.4e}, effect={:.4})",
            self.u, self.z, self.p_value, self.effect
        )
    }
}

/// Comparison of a candidate against a baseline.
#[pyclass(frozen, module = "accelbench._core", name = "Comparison")]
pub struct PyComparison {
    #[pyo3(get)]
    median_a: f64,
    #[pyo3(get)]
    median_b: f64,
    #[pyo3(get)]
    ratio: f64,
    #[pyo3(get)]
    ci_low: f64,
    #[pyo3(get)]
    ci_high: f64,
    #[pyo3(get)]
    p_value: f64,
    #[pyo3(get)]
    effect: f64,
    #[pyo3(get)]
    verdict: &'static str,
    #[pyo3(get)]
    n_runs_a: usize,
    #[pyo3(get)]
    n_runs_b: usize,
    #[pyo3(get)]
    spread_a: Option<f64>,
    #[pyo3(get)]
    spread_b: Option<f64>,
}

impl From<ab::Comparison> for PyComparison {
    fn from(c: ab::Comparison) -> Self {
        Self {
            median_a: c.median_a,
            median_b: c.median_b,
            ratio: c.ratio,
            ci_low: c.ci_low,
            ci_high: c.ci_high,
            p_value: c.p_value,
            effect: c.effect,
            verdict: c.verdict.as_str(),
            n_runs_a: c.n_runs_a,
            n_runs_b: c.n_runs_b,
            spread_a: c.spread_a,
            spread_b: c.spread_b,
        }
    }
}

#[pymethods]
impl PyComparison {
    fn __repr__(&self) -> String {
        format!(
            "Comparison(ratio={:.4}, ci=({:.4}, {:.4}), p_value={:.3e}, verdict={:?}, runs={}/{})",
            self.ratio,
            self.ci_low,
            self.ci_high,
            self.p_value,
            self.verdict,
            self.n_runs_a,
            self.n_runs_b
        )
    }
}

/// Two-sided Mann–Whitney U test of `a` against `b` (normal approximation
/// with tie and continuity corrections, as scipy's `method="asymptotic"`).
#[pyfunction]
fn mann_whitney_u(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<PyMannWhitney> {
    let (xa, xb) = (extract_samples(a)?, extract_samples(b)?);
    let r = compute(py, || ab::mann_whitney_u(&xa, &xb))?;
    Ok(PyMannWhitney {
        u: r.u,
        z: r.z,
        p_value: r.p_value,
        effect: r.effect,
    })
}

/// The comparison settings of both compare functions (`resamples` checked).
fn compare_config(
    threshold: f64,
    alpha: f64,
    confidence: f64,
    resamples: i64,
    seed: u64,
) -> PyResult<CompareConfig> {
    Ok(CompareConfig {
        threshold,
        alpha,
        confidence,
        resamples: count("resamples", resamples)?,
        seed,
    })
}

/// Compares candidate times `b` against baseline times `a`: bootstrap CI of
/// `median(b) / median(a)`, Mann–Whitney p-value and the verdict.
#[pyfunction]
#[pyo3(signature = (a, b, *, threshold = 0.02, alpha = 0.05, confidence = 0.95, resamples = 10_000, seed = 0))]
#[allow(clippy::too_many_arguments)]
fn compare_samples(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    threshold: f64,
    alpha: f64,
    confidence: f64,
    resamples: i64,
    seed: u64,
) -> PyResult<PyComparison> {
    let config = compare_config(threshold, alpha, confidence, resamples, seed)?;
    let (xa, xb) = (extract_samples(a)?, extract_samples(b)?);
    Ok(compute(py, || ab::compare(&xa, &xb, &config))?.into())
}

/// Compares a group of candidate runs `b` against a group of baseline runs
/// `a` (each a sequence of sample sets): two-level bootstrap CI of the ratio
/// of pooled medians, Mann–Whitney p-value of the pooled samples, verdict.
#[pyfunction]
#[pyo3(signature = (a, b, *, threshold = 0.02, alpha = 0.05, confidence = 0.95, resamples = 10_000, seed = 0))]
#[allow(clippy::too_many_arguments)]
fn compare_groups(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    threshold: f64,
    alpha: f64,
    confidence: f64,
    resamples: i64,
    seed: u64,
) -> PyResult<PyComparison> {
    let config = compare_config(threshold, alpha, confidence, resamples, seed)?;
    let (ra, rb) = (extract_runs("a", a)?, extract_runs("b", b)?);
    Ok(compute(py, || ab::compare_groups(&ra, &rb, &config))?.into())
}

/// Compares one run's samples `b` against one run's samples `a`, each given
/// by round, when the log-scale variance of each side's median is known from
/// its rounds (`round_variances`): each median the rounds' balanced median,
/// interval `ratio * exp(±z * sqrt(var_a + var_b))` (the hull over each
/// side's usual median too, when given), Mann–Whitney p-value and the
/// verdict.
#[pyfunction]
#[pyo3(signature = (a, b, var_a, var_b, *, usual_a = None, usual_b = None, threshold = 0.02,
                    alpha = 0.05, confidence = 0.95))]
#[allow(clippy::too_many_arguments)]
fn compare_log_var(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    var_a: f64,
    var_b: f64,
    usual_a: Option<f64>,
    usual_b: Option<f64>,
    threshold: f64,
    alpha: f64,
    confidence: f64,
) -> PyResult<PyComparison> {
    let config = compare_config(threshold, alpha, confidence, 1, 0)?;
    let (xa, xb) = (extract_runs("a", a)?, extract_runs("b", b)?);
    Ok(compute(py, || {
        ab::compare_log_var(&xa, &xb, (var_a, var_b), (usual_a, usual_b), &config)
    })?
    .into())
}

/// Adds the A/B functions and classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMannWhitney>()?;
    m.add_class::<PyComparison>()?;
    m.add_function(wrap_pyfunction!(mann_whitney_u, m)?)?;
    m.add_function(wrap_pyfunction!(compare_samples, m)?)?;
    m.add_function(wrap_pyfunction!(compare_groups, m)?)?;
    m.add_function(wrap_pyfunction!(compare_log_var, m)?)?;
    Ok(())
}

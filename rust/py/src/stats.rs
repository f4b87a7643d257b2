//! Statistics bindings: convert, release the GIL, call the core.
use accelbench_core::stats::{self, Statistic};
use pyo3::prelude::*;

use crate::convert::{count, runs as extract_runs, sample_pair, samples as extract_samples};
use crate::errors::{compute, OrRaise};

/// Robust summary of raw samples (quantiles: linear interpolation, numpy's default).
#[pyclass(frozen, module = "accelbench._core", name = "Summary")]
pub struct PySummary {
    #[pyo3(get)]
    n: usize,
    #[pyo3(get)]
    mean: f64,
    #[pyo3(get)]
    std: f64,
    #[pyo3(get)]
    min: f64,
    #[pyo3(get)]
    max: f64,
    #[pyo3(get)]
    median: f64,
    #[pyo3(get)]
    q1: f64,
    #[pyo3(get)]
    q3: f64,
    #[pyo3(get)]
    iqr: f64,
    #[pyo3(get)]
    p5: f64,
    #[pyo3(get)]
    p95: f64,
    #[pyo3(get)]
    p99: f64,
    #[pyo3(get)]
    cv: f64,
}

impl From<stats::Summary> for PySummary {
    fn from(s: stats::Summary) -> Self {
        Self {
            n: s.n,
            mean: s.mean,
            std: s.std,
            min: s.min,
            max: s.max,
            median: s.median,
            q1: s.q1,
            q3: s.q3,
            iqr: s.iqr,
            p5: s.p5,
            p95: s.p95,
            p99: s.p99,
            cv: s.cv,
        }
    }
}

#[pymethods]
impl PySummary {
    fn __repr__(&self) -> String {
        format!(
            "Summary(n={}, median={:.6e}, mean={:.6e}, std={:.3e}, min={:.6e}, max={:.6e}, \
             q1={:.6e}, q3={:.6e}, iqr={:.3e}, p5={:.6e}, p95={:.6e}, p99={:.6e}, cv={:.4})",
            self.n,
            self.median,
            self.mean,
            self.std,
            self.min,
            self.max,
            self.q1,
            self.q3,
            self.iqr,
            self.p5,
            self.p95,
            self.p99,
            self.cv
        )
    }
}

/// Tukey fences: mild outside 1.5 IQR of the quartiles, severe outside 3 IQR.
#[pyclass(frozen, module = "accelbench._core", name = "Outliers")]
pub struct PyOutliers {
    #[pyo3(get)]
    low_severe: usize,
    #[pyo3(get)]
    low_mild: usize,
    #[pyo3(get)]
    high_mild: usize,
    #[pyo3(get)]
    high_severe: usize,
    #[pyo3(get)]
    fraction: f64,
}

impl From<stats::Outliers> for PyOutliers {
    fn from(o: stats::Outliers) -> Self {
        Self {
            low_severe: o.low_severe,
            low_mild: o.low_mild,
            high_mild: o.high_mild,
            high_severe: o.high_severe,
            fraction: o.fraction,
        }
    }
}

#[pymethods]
impl PyOutliers {
    fn __repr__(&self) -> String {
        format!(
            "Outliers(low_severe={}, low_mild={}, high_mild={}, high_severe={}, fraction={:.4})",
            self.low_severe, self.low_mild, self.high_mild, self.high_severe, self.fraction
        )
    }
}

/// Everything the result table needs from one sample set.
#[pyclass(frozen, module = "accelbench._core", name = "Analysis")]
pub struct PyAnalysis {
    #[pyo3(get)]
    summary: Py<PySummary>,
    #[pyo3(get)]
    ci_low: f64,
    #[pyo3(get)]
    ci_high: f64,
    #[pyo3(get)]
    rel_ci: f64,
    #[pyo3(get)]
    outliers: Py<PyOutliers>,
    #[pyo3(get)]
    drift: f64,
}

#[pymethods]
impl PyAnalysis {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Analysis(median={:.6e}, ci=({:.6e}, {:.6e}), rel_ci={:.4}, drift={:.4}, \
             summary={}, outliers={})",
            self.summary.get().median,
            self.ci_low,
            self.ci_high,
            self.rel_ci,
            self.drift,
            self.summary.bind(py).get().__repr__(),
            self.outliers.get().__repr__()
        )
    }
}

/// Robust summary of samples.
#[pyfunction]
fn summarize(py: Python<'_>, samples: &Bound<'_, PyAny>) -> PyResult<PySummary> {
    let mut x = extract_samples(samples)?;
    compute(py, || stats::summarize_mut(&mut x)).map(PySummary::from)
}

/// Exact distribution-free confidence interval of the median.
#[pyfunction]
#[pyo3(signature = (samples, confidence = 0.95))]
fn median_ci(py: Python<'_>, samples: &Bound<'_, PyAny>, confidence: f64) -> PyResult<(f64, f64)> {
    let x = extract_samples(samples)?;
    compute(py, || stats::median_ci(&x, confidence))
}

/// Seeded percentile-bootstrap confidence interval of the median or mean.
#[pyfunction]
#[pyo3(signature = (samples, *, statistic = "median", resamples = 100_000, confidence = 0.95, seed = 0))]
fn bootstrap_ci(
    py: Python<'_>,
    samples: &Bound<'_, PyAny>,
    statistic: &str,
    resamples: i64,
    confidence: f64,
    seed: u64,
) -> PyResult<(f64, f64)> {
    let statistic = Statistic::parse(statistic).or_raise()?;
    let resamples = count("resamples", resamples)?;
    let x = extract_samples(samples)?;
    compute(py, || {
        stats::bootstrap_ci(&x, statistic, resamples, confidence, seed)
    })
}

/// Seeded percentile-bootstrap confidence interval of
/// `statistic(b) / statistic(a)` for two independent samples.
#[pyfunction]
#[pyo3(signature = (a, b, *, statistic = "median", resamples = 100_000, confidence = 0.95, seed = 0))]
fn bootstrap_ratio_ci(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    statistic: &str,
    resamples: i64,
    confidence: f64,
    seed: u64,
) -> PyResult<(f64, f64)> {
    let statistic = Statistic::parse(statistic).or_raise()?;
    let resamples = count("resamples", resamples)?;
    let (xa, xb) = sample_pair(a, b)?;
    compute(py, || {
        stats::bootstrap_ratio_ci(&xa, &xb, statistic, resamples, confidence, seed)
    })
}

/// Tukey outlier counts.
#[pyfunction]
fn outliers(py: Python<'_>, samples: &Bound<'_, PyAny>) -> PyResult<PyOutliers> {
    let x = extract_samples(samples)?;
    compute(py, || stats::outliers(&x)).map(PyOutliers::from)
}

/// Relative drift between the first and last thirds (measurement order).
#[pyfunction]
fn drift(py: Python<'_>, samples: &Bound<'_, PyAny>) -> PyResult<f64> {
    let x = extract_samples(samples)?;
    compute(py, || stats::drift(&x))
}

/// Summary, median CI, outliers and drift in one pass.
#[pyfunction]
#[pyo3(signature = (samples, confidence = 0.95))]
fn analyze(py: Python<'_>, samples: &Bound<'_, PyAny>, confidence: f64) -> PyResult<PyAnalysis> {
    let mut x = extract_samples(samples)?;
    let a = compute(py, || stats::analyze_mut(&mut x, confidence))?;
    py_analysis(py, a)
}

fn py_analysis(py: Python<'_>, a: stats::Analysis) -> PyResult<PyAnalysis> {
    Ok(PyAnalysis {
        summary: Py::new(py, PySummary::from(a.summary))?,
        ci_low: a.ci_low,
        ci_high: a.ci_high,
        rel_ci: a.rel_ci,
        outliers: Py::new(py, PyOutliers::from(a.outliers))?,
        drift: a.drift,
    })
}

/// A run measured in rounds: pooled analysis with the two-level bootstrap
/// interval, each round's median and their spread.
#[pyclass(frozen, module = "accelbench._core", name = "RoundsAnalysis")]
pub struct PyRoundsAnalysis {
    #[pyo3(get)]
    analysis: Py<PyAnalysis>,
    #[pyo3(get)]
    round_medians: Vec<f64>,
    #[pyo3(get)]
    spread: Option<f64>,
}

#[pymethods]
impl PyRoundsAnalysis {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "RoundsAnalysis(round_medians={:?}, spread={}, analysis={})",
            self.round_medians,
            self.spread
                .map_or_else(|| "None".to_string(), |s| format!("{s:.4}")),
            self.analysis.bind(py).get().__repr__(py)
        )
    }
}

/// Analysis of a run measured in rounds (a sequence of sample sets, each in
/// measurement order): the median's CI from the two-level bootstrap over
/// rounds, the rest from the pooled samples.
#[pyfunction]
#[pyo3(signature = (rounds, confidence = 0.95, *, resamples = 10_000, seed = 0))]
fn analyze_rounds(
    py: Python<'_>,
    rounds: &Bound<'_, PyAny>,
    confidence: f64,
    resamples: i64,
    seed: u64,
) -> PyResult<PyRoundsAnalysis> {
    let resamples = count("resamples", resamples)?;
    let runs = extract_runs("rounds", rounds)?;
    let r = compute(py, || {
        stats::analyze_rounds(&runs, confidence, resamples, seed)
    })?;
    Ok(PyRoundsAnalysis {
        analysis: Py::new(py, py_analysis(py, r.pooled)?)?,
        round_medians: r.round_medians,
        spread: r.spread,
    })
}

/// Log-scale variance of each case's run median from its round medians
/// (one sequence per case), pooled over the cases, plus `drift_sd` squared
/// (estimated with `drift_df` degrees of freedom; infinite: known); `None`
/// for a case with one round. `z * sqrt(v)` is the half-width at
/// `confidence` (Student's t of the sum's Welch–Satterthwaite degrees of
/// freedom folded in).
#[pyfunction]
#[pyo3(signature = (round_medians, drift_sd = 0.0, confidence = 0.95, *, drift_df = f64::INFINITY))]
fn round_variances(
    py: Python<'_>,
    round_medians: &Bound<'_, PyAny>,
    drift_sd: f64,
    confidence: f64,
    drift_df: f64,
) -> PyResult<Vec<Option<f64>>> {
    let cases = extract_runs("round_medians", round_medians)?;
    compute(py, || {
        stats::round_variances(&cases, drift_sd, drift_df, confidence)
    })
}

/// Each case's within-run variance of its log run median from its round
/// medians (pooled over the cases, no drift, no scaling); `None` for one round.
#[pyfunction]
fn within_run_variances(
    py: Python<'_>,
    round_medians: &Bound<'_, PyAny>,
) -> PyResult<Vec<Option<f64>>> {
    let cases = extract_runs("round_medians", round_medians)?;
    compute(py, || {
        Ok(stats::within_run_variances(&cases)?
            .into_iter()
            .map(|w| w.map(|w| w.variance))
            .collect())
    })
}

/// Median of a run's samples given by round, each round weighing the same.
#[pyfunction]
fn balanced_median(py: Python<'_>, rounds: &Bound<'_, PyAny>) -> PyResult<f64> {
    let rounds = extract_runs("rounds", rounds)?;
    compute(py, || stats::balanced_median(&rounds))
}

/// The machine's drift (log-scale standard deviation): the median over cases
/// of the variance of their run medians beyond the within-run variance.
#[pyfunction]
fn excess_between_runs(
    py: Python<'_>,
    run_medians: &Bound<'_, PyAny>,
    within: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let cases = extract_runs("run_medians", run_medians)?;
    let within = extract_samples(within)?;
    compute(py, || stats::excess_between_runs(&cases, &within))
}

/// Adds the statistics functions and classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySummary>()?;
    m.add_class::<PyOutliers>()?;
    m.add_class::<PyAnalysis>()?;
    m.add_function(wrap_pyfunction!(summarize, m)?)?;
    m.add_function(wrap_pyfunction!(median_ci, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_ci, m)?)?;
    m.add_function(wrap_pyfunction!(bootstrap_ratio_ci, m)?)?;
    m.add_function(wrap_pyfunction!(outliers, m)?)?;
    m.add_function(wrap_pyfunction!(drift, m)?)?;
    m.add_function(wrap_pyfunction!(analyze, m)?)?;
    m.add_class::<PyRoundsAnalysis>()?;
    m.add_function(wrap_pyfunction!(analyze_rounds, m)?)?;
    m.add_function(wrap_pyfunction!(round_variances, m)?)?;
    m.add_function(wrap_pyfunction!(within_run_variances, m)?)?;
    m.add_function(wrap_pyfunction!(balanced_median, m)?)?;
    m.add_function(wrap_pyfunction!(excess_between_runs, m)?)?;
    Ok(())
}

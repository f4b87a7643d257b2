//! Timing bindings: the sampler driving a Python callable.
//!
//! Unlike the statistics, the timing loop keeps the GIL: every iteration
//! calls into Python, and re-acquiring the GIL per call would cost more
//! than the call itself and add noise. Ctrl-C still works:
//! `check_signals` runs between batches, outside the timed region.
use std::time::Instant;

use accelbench_core::timing::{self, Sampler, SamplerConfig, Workload};
use accelbench_core::Error;
use pyo3::prelude::*;

use crate::convert::count;
use crate::errors::{to_pyerr, InputError, OrRaise};

/// A Python callable as a core [`Workload`].
///
/// With `batch == false` it times `k` calls of the zero-argument callable
/// with the host monotonic clock read once before and once after the loop;
/// the loop body is the call and an error check, nothing else. With
/// `batch == true` it calls `fn(k)`, which returns the elapsed seconds
/// itself (the hook for device-event timers).
///
/// A Python exception is parked in `pending` and the core sees an
/// [`Error::Workload`]; [`run`] re-raises the parked exception unchanged.
struct PyWorkload<'py> {
    func: Bound<'py, PyAny>,
    batch: bool,
    pending: Option<PyErr>,
}

impl<'py> PyWorkload<'py> {
    fn new(func: Bound<'py, PyAny>, batch: bool) -> Self {
        Self {
            func,
            batch,
            pending: None,
        }
    }

    fn park(&mut self, err: PyErr) -> Error {
        let msg = err.to_string();
        self.pending = Some(err);
        Error::Workload(msg)
    }

    /// Runs `f` on the core and re-raises a parked Python exception as is.
    fn run<T>(&mut self, f: impl FnOnce(&mut Self) -> accelbench_core::Result<T>) -> PyResult<T> {
        f(self).map_err(|e| self.pending.take().unwrap_or_else(|| to_pyerr(&e)))
    }
}

impl Workload for PyWorkload<'_> {
    fn run_batch(&mut self, k: u64) -> accelbench_core::Result<f64> {
        if self.batch {
            return match self.func.call1((k,)).and_then(|r| r.extract::<f64>()) {
                Ok(t) => Ok(t),
                Err(e) => Err(self.park(e)),
            };
        }
        let f = &self.func;
        let t0 = Instant::now();
        for _ in 0..k {
            if let Err(e) = f.call0() {
                return Err(self.park(e));
            }
        }
        Ok(t0.elapsed().as_secs_f64())
    }

    fn between_batches(&mut self) -> accelbench_core::Result<()> {
        self.func.py().check_signals().map_err(|e| self.park(e))
    }
}

/// Raw samples and the sampler's verdict for one case.
#[pyclass(frozen, module = "accelbench._core", name = "SampleResult")]
pub struct PySampleResult {
    #[pyo3(get)]
    samples: Vec<f64>,
    #[pyo3(get)]
    k: u64,
    #[pyo3(get)]
    converged: bool,
    #[pyo3(get)]
    stop_reason: &'static str,
    #[pyo3(get)]
    median_s: f64,
    #[pyo3(get)]
    ci_low_s: f64,
    #[pyo3(get)]
    ci_high_s: f64,
    #[pyo3(get)]
    rel_ci: f64,
    #[pyo3(get)]
    warmup_s: f64,
    #[pyo3(get)]
    warmup_iters: u64,
    #[pyo3(get)]
    elapsed_s: f64,
}

#[pymethods]
impl PySampleResult {
    fn __repr__(&self) -> String {
        format!(
            "SampleResult(median_s={:.6e}, ci_s=({:.6e}, {:.6e}), rel_ci={:.4}, n={}, k={}, \
             converged={}, stop_reason='{}', warmup_s={:.3}, warmup_iters={}, elapsed_s={:.3})",
            self.median_s,
            self.ci_low_s,
            self.ci_high_s,
            self.rel_ci,
            self.samples.len(),
            self.k,
            if self.converged { "True" } else { "False" },
            self.stop_reason,
            self.warmup_s,
            self.warmup_iters,
            self.elapsed_s
        )
    }
}

/// Samples a Python callable with the adaptive plan of DESIGN §2.
#[pyfunction]
#[pyo3(signature = (
    r#fn, *, batch = false, warmup_s = 0.5, max_time_s = 5.0, target_rel_ci = 0.01,
    min_samples = 10, max_samples = 100_000, min_sample_s = 1e-3, confidence = 0.95
))]
#[allow(clippy::too_many_arguments)] // mirrors the Python keyword arguments
fn sample(
    r#fn: Bound<'_, PyAny>,
    batch: bool,
    warmup_s: f64,
    max_time_s: f64,
    target_rel_ci: f64,
    min_samples: i64,
    max_samples: i64,
    min_sample_s: f64,
    confidence: f64,
) -> PyResult<PySampleResult> {
    let config = SamplerConfig {
        warmup_s,
        max_time_s,
        target_rel_ci,
        min_samples: count("min_samples", min_samples)?,
        max_samples: count("max_samples", max_samples)?,
        min_sample_s,
        confidence,
    };
    let sampler = Sampler::new(config).or_raise()?;
    if !r#fn.is_callable() {
        return Err(InputError::new_err("fn must be callable"));
    }
    let r = PyWorkload::new(r#fn, batch).run(|w| sampler.run(w))?;
    Ok(PySampleResult {
        samples: r.samples,
        k: r.k,
        converged: r.converged,
        stop_reason: r.stop_reason.as_str(),
        median_s: r.median_s,
        ci_low_s: r.ci_low_s,
        ci_high_s: r.ci_high_s,
        rel_ci: r.rel_ci,
        warmup_s: r.warmup_s,
        warmup_iters: r.warmup_iters,
        elapsed_s: r.elapsed_s,
    })
}

/// Effective resolution of the monotonic clock, in seconds.
#[pyfunction]
fn clock_resolution() -> f64 {
    timing::clock_resolution()
}

/// Per-call overhead, in seconds, of the sampler's batch loop around an
/// empty Python callable (`lambda: None`): the floor below which a
/// per-iteration time is harness, not workload.
#[pyfunction]
#[pyo3(signature = (iterations = 1_000_000))]
fn loop_overhead(py: Python<'_>, iterations: i64) -> PyResult<f64> {
    let iterations = count("iterations", iterations)?.max(1) as u64;
    let empty = py.eval(c"lambda: None", None, None)?;
    PyWorkload::new(empty, false).run(|w| timing::loop_overhead(w, iterations))
}

/// Adds the timing functions and classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySampleResult>()?;
    m.add_function(wrap_pyfunction!(sample, m)?)?;
    m.add_function(wrap_pyfunction!(clock_resolution, m)?)?;
    m.add_function(wrap_pyfunction!(loop_overhead, m)?)?;
    Ok(())
}

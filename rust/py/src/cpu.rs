//! The CPU core's clock rate, measured (used by the CPU peak estimate).
use pyo3::prelude::*;

use accelbench_core::timing;

/// Clock rate (Hz) of the core running this thread while busy, measured by a
/// chain of dependent integer additions (one per cycle): the best of
/// `trials` runs of about `trial_s` seconds each. None on architectures
/// other than x86-64 and `AArch64`. Runs with the GIL released.
#[pyfunction]
#[pyo3(signature = (trial_s = 0.01, trials = 5))]
fn core_clock_hz(py: Python<'_>, trial_s: f64, trials: usize) -> Option<f64> {
    py.detach(|| timing::core_clock_hz(trial_s, trials))
}

/// Adds the CPU functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(core_clock_hz, m)?)?;
    Ok(())
}

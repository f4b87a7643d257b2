//! Conversions of Python inputs into core types.
use numpy::{PyReadonlyArray1, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;

use crate::errors::InputError;

/// Copies samples out of a 1-D numpy array (any dtype convertible to
/// float64, contiguous or strided) or any sequence of floats.
///
/// The copy is deliberate: the statistics then run with the GIL released,
/// when Python code in another thread could otherwise mutate the array
/// under us. It costs far less than the sort every statistic needs.
pub fn samples(obj: &Bound<'_, PyAny>) -> PyResult<Vec<f64>> {
    if let Ok(arr) = obj.cast::<PyUntypedArray>() {
        if arr.ndim() != 1 {
            return Err(InputError::new_err(format!(
                "samples must be a 1-D array, got {} dimensions",
                arr.ndim()
            )));
        }
        let ro: PyReadonlyArray1<'_, f64> = match obj.extract() {
            Ok(ro) => ro,
            Err(_) => obj.call_method1("astype", ("float64",))?.extract()?,
        };
        return Ok(match ro.as_slice() {
            Ok(s) => s.to_vec(),
            Err(_) => ro.as_array().iter().copied().collect(),
        });
    }
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(InputError::new_err("samples must be numbers, not a string"));
    }
    obj.extract::<Vec<f64>>().map_err(|e| {
        InputError::new_err(format!(
            "samples must be a sequence of floats or a 1-D float64 array: {e}"
        ))
    })
}

/// [`samples`] of two arguments (a baseline and a candidate).
pub fn sample_pair(a: &Bound<'_, PyAny>, b: &Bound<'_, PyAny>) -> PyResult<(Vec<f64>, Vec<f64>)> {
    Ok((samples(a)?, samples(b)?))
}

/// A non-negative Python int as `usize`, with an [`InputError`] naming the
/// argument otherwise.
pub fn count(name: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value)
        .map_err(|_| InputError::new_err(format!("{name} must be >= 0, got {value}")))
}

/// The samples of each run of a group (a sequence of sample sets); `side`
/// names the argument in errors.
pub fn runs(side: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<f64>>> {
    if obj.is_instance_of::<pyo3::types::PyString>() {
        return Err(InputError::new_err(format!(
            "{side} must be a sequence of runs' samples, not a string"
        )));
    }
    let mut runs = Vec::new();
    for (r, item) in obj.try_iter()?.enumerate() {
        let samples = samples(&item?)
            .map_err(|e| InputError::new_err(format!("{side}, run {r}: {}", e.value(obj.py()))))?;
        runs.push(samples);
    }
    Ok(runs)
}

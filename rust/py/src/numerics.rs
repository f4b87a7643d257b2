//! Numerics bindings: borrow numpy memory (no copy for C-contiguous
//! arrays), release the GIL, call the core.
//!
//! The dtype is always given explicitly (`fp64`, `fp32`, `fp16`, `bf16`):
//! numpy has no bfloat16, so bfloat16 arrives as 16-bit integers
//! (`tensor.view(torch.int16).numpy()`), and float16 may arrive either as
//! `numpy.float16` or as its 16-bit integer bits. A non-contiguous array is
//! copied once into C order first.
use accelbench_core::numerics::{self, Buffer, DType, Tolerance};
use numpy::{
    PyArray1, PyArrayDescrMethods, PyReadonlyArrayDyn, PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use crate::errors::{compute, InputError, OrRaise};

/// A borrowed numpy array of one of the four formats.
enum Held<'py> {
    F64(PyReadonlyArrayDyn<'py, f64>),
    F32(PyReadonlyArrayDyn<'py, f32>),
    Half(DType, PyReadonlyArrayDyn<'py, u16>),
}

impl Held<'_> {
    fn buffer(&self) -> Buffer<'_> {
        // `hold` made the array C-contiguous, so `as_slice` cannot fail.
        match self {
            Held::F64(a) => Buffer::F64(a.as_slice().unwrap_or_default()),
            Held::F32(a) => Buffer::F32(a.as_slice().unwrap_or_default()),
            Held::Half(DType::F16, a) => Buffer::F16(a.as_slice().unwrap_or_default()),
            Held::Half(_, a) => Buffer::Bf16(a.as_slice().unwrap_or_default()),
        }
    }
}

/// Borrows `obj` as an array of `dtype`, checking its element type.
fn hold<'py>(
    obj: &Bound<'py, PyAny>,
    dtype: DType,
    what: &str,
) -> PyResult<(Held<'py>, Vec<usize>)> {
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        InputError::new_err(format!(
            "{what} must be a numpy array (use tensor.cpu().numpy(); bfloat16: \
             tensor.view(torch.int16).numpy()), got {}",
            obj.get_type()
                .name()
                .map_or_else(|_| "?".to_string(), |n| n.to_string())
        ))
    })?;
    let descr = arr.dtype();
    let (kind, itemsize) = (descr.kind(), descr.itemsize());
    let shape = arr.shape().to_vec();
    let obj = if arr.is_c_contiguous() {
        obj.clone()
    } else {
        obj.py()
            .import("numpy")?
            .call_method1("ascontiguousarray", (obj,))?
    };
    let mismatch = || {
        InputError::new_err(format!(
            "{what}: dtype {} expects {}, got a numpy array of kind {:?} with {itemsize}-byte items",
            dtype.name(),
            match dtype {
                DType::F64 => "float64",
                DType::F32 => "float32",
                DType::F16 => "float16 (or its bits as int16/uint16)",
                DType::Bf16 => "bfloat16 bits as int16/uint16",
            },
            char::from(kind)
        ))
    };
    let held = match dtype {
        DType::F64 if kind == b'f' && itemsize == 8 => Held::F64(obj.extract()?),
        DType::F32 if kind == b'f' && itemsize == 4 => Held::F32(obj.extract()?),
        DType::F16 | DType::Bf16
            if itemsize == 2
                && (matches!(kind, b'i' | b'u' | b'V')
                    || (kind == b'f' && dtype == DType::F16)) =>
        {
            let bits = obj.call_method1("view", ("uint16",))?;
            Held::Half(dtype, bits.extract()?)
        }
        _ => return Err(mismatch()),
    };
    Ok((held, shape))
}

/// Borrows two arrays of the same shape, each checked against its dtype
/// (`(object, dtype, argument name)`), in argument order.
fn hold_pair<'py>(
    a: (&Bound<'py, PyAny>, DType, &str),
    b: (&Bound<'py, PyAny>, DType, &str),
) -> PyResult<(Held<'py>, Held<'py>)> {
    let (x, sx) = hold(a.0, a.1, a.2)?;
    let (y, sy) = hold(b.0, b.1, b.2)?;
    if sx == sy {
        Ok((x, y))
    } else {
        Err(InputError::new_err(format!(
            "shapes differ: {sx:?} vs {sy:?}"
        )))
    }
}

/// Error metrics of one comparison.
#[pyclass(frozen, module = "accelbench._core", name = "ErrorMetrics")]
pub struct PyComparison {
    #[pyo3(get)]
    dtype: &'static str,
    #[pyo3(get)]
    n: usize,
    #[pyo3(get)]
    matched: usize,
    #[pyo3(get)]
    max_abs_err: f64,
    #[pyo3(get)]
    max_rel_err: f64,
    #[pyo3(get)]
    ulp_max: u64,
    #[pyo3(get)]
    ulp_mean: f64,
    #[pyo3(get)]
    ulp_hist: Vec<u64>,
    #[pyo3(get)]
    mismatches: usize,
    #[pyo3(get)]
    mismatch_frac: f64,
    #[pyo3(get)]
    nan_mismatch: usize,
    #[pyo3(get)]
    inf_mismatch: usize,
    #[pyo3(get)]
    bitwise_equal: usize,
    #[pyo3(get)]
    identical: bool,
    #[pyo3(get)]
    first_mismatch: Option<usize>,
    #[pyo3(get)]
    rtol: f64,
    #[pyo3(get)]
    atol: f64,
    #[pyo3(get)]
    cosine: f64,
    #[pyo3(get)]
    rel_rmse: f64,
    #[pyo3(get)]
    ulp_threshold: u64,
    #[pyo3(get)]
    ulp_over: usize,
    #[pyo3(get)]
    ulp_frac: f64,
    #[pyo3(get)]
    small_threshold: f64,
    #[pyo3(get)]
    small_atol: f64,
    #[pyo3(get)]
    small_elements: usize,
    #[pyo3(get)]
    small_max_abs_err: f64,
    #[pyo3(get)]
    small_mismatches: usize,
    #[pyo3(get)]
    large_mismatches: usize,
}

impl PyComparison {
    fn new(c: &numerics::Comparison, tol: Tolerance) -> Self {
        Self {
            dtype: c.dtype.name(),
            n: c.n,
            matched: c.matched,
            max_abs_err: c.max_abs_err,
            max_rel_err: c.max_rel_err,
            ulp_max: c.ulp_max,
            ulp_mean: c.ulp_mean,
            ulp_hist: c.ulp_hist.to_vec(),
            mismatches: c.mismatches,
            mismatch_frac: c.mismatch_frac(),
            nan_mismatch: c.nan_mismatch,
            inf_mismatch: c.inf_mismatch,
            bitwise_equal: c.bitwise_equal,
            identical: c.all_bitwise_equal(),
            first_mismatch: c.first_mismatch,
            rtol: tol.rtol,
            atol: tol.atol,
            cosine: c.cosine,
            rel_rmse: c.rel_rmse,
            ulp_threshold: c.ulp_threshold,
            ulp_over: c.ulp_over,
            ulp_frac: c.ulp_frac(),
            small_threshold: tol.small,
            small_atol: tol.small_atol,
            small_elements: c.small,
            small_max_abs_err: c.small_max_abs_err,
            small_mismatches: c.small_mismatches,
            large_mismatches: c.large_mismatches,
        }
    }
}

#[pymethods]
impl PyComparison {
    fn __repr__(&self) -> String {
        format!(
            "Comparison(dtype={}, n={}, cosine={:.9}, rel_rmse={:.3e}, ulp_frac={:.3e}, \
             max_abs_err={:.3e}, max_rel_err={:.3e}, ulp_max={}, ulp_mean={:.3}, mismatches={}, \
             nan_mismatch={}, inf_mismatch={}, identical={})",
            self.dtype,
            self.n,
            self.cosine,
            self.rel_rmse,
            self.ulp_frac,
            self.max_abs_err,
            self.max_rel_err,
            self.ulp_max,
            self.ulp_mean,
            self.mismatches,
            self.nan_mismatch,
            self.inf_mismatch,
            if self.identical { "True" } else { "False" }
        )
    }
}

/// Fingerprint of an output array.
#[pyclass(frozen, module = "accelbench._core", name = "Fingerprint")]
pub struct PyFingerprint {
    #[pyo3(get)]
    dtype: &'static str,
    #[pyo3(get)]
    n: usize,
    #[pyo3(get)]
    hash: u64,
    #[pyo3(get)]
    positions: Vec<usize>,
    #[pyo3(get)]
    bits: Vec<u64>,
    #[pyo3(get)]
    values: Vec<f64>,
    #[pyo3(get)]
    all_equal: bool,
    #[pyo3(get)]
    nan_count: usize,
    #[pyo3(get)]
    inf_count: usize,
}

#[pymethods]
impl PyFingerprint {
    /// The hash as 16 hex digits.
    #[getter]
    fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    fn __repr__(&self) -> String {
        format!(
            "Fingerprint(dtype={}, n={}, hash={:016x}, samples={}, all_equal={})",
            self.dtype,
            self.n,
            self.hash,
            self.positions.len(),
            if self.all_equal { "True" } else { "False" }
        )
    }
}

/// Compares `out` (in `dtype`) against a float64 reference of the same shape.
#[pyfunction]
#[pyo3(signature = (out, reference, *, dtype, rtol, atol, small_threshold = 0.0,
                    small_atol = 0.0, ulp_threshold = 0))]
#[allow(clippy::too_many_arguments)] // keyword arguments of one Python function
fn compare_to_reference(
    py: Python<'_>,
    out: &Bound<'_, PyAny>,
    reference: &Bound<'_, PyAny>,
    dtype: &str,
    rtol: f64,
    atol: f64,
    small_threshold: f64,
    small_atol: f64,
    ulp_threshold: u64,
) -> PyResult<PyComparison> {
    let dtype = DType::parse(dtype).or_raise()?;
    let (o, r) = hold_pair((out, dtype, "out"), (reference, DType::F64, "reference"))?;
    let (ob, rb) = (o.buffer(), r.buffer());
    let Buffer::F64(rs) = rb else {
        unreachable!("reference held as float64")
    };
    let tol = Tolerance::new(rtol, atol).with_small(small_threshold, small_atol, ulp_threshold);
    let c = compute(py, || numerics::compare_to_reference(ob, rs, tol))?;
    Ok(PyComparison::new(&c, tol))
}

/// Compares two arrays of the same dtype and shape (`b` plays the reference).
#[pyfunction]
#[pyo3(signature = (a, b, *, dtype, rtol = 0.0, atol = 0.0, small_threshold = 0.0,
                    small_atol = 0.0, ulp_threshold = 0))]
#[allow(clippy::too_many_arguments)] // keyword arguments of one Python function
fn compare(
    py: Python<'_>,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    dtype: &str,
    rtol: f64,
    atol: f64,
    small_threshold: f64,
    small_atol: f64,
    ulp_threshold: u64,
) -> PyResult<PyComparison> {
    let dtype = DType::parse(dtype).or_raise()?;
    let (x, y) = hold_pair((a, dtype, "a"), (b, dtype, "b"))?;
    let (xb, yb) = (x.buffer(), y.buffer());
    let tol = Tolerance::new(rtol, atol).with_small(small_threshold, small_atol, ulp_threshold);
    let c = compute(py, || numerics::compare(xb, yb, tol))?;
    Ok(PyComparison::new(&c, tol))
}

/// Element-wise ULP distances (flattened, uint64; 2**64-1 where exactly one side is NaN).
#[pyfunction]
#[pyo3(signature = (a, b, *, dtype))]
fn ulp_distance<'py>(
    py: Python<'py>,
    a: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let dtype = DType::parse(dtype).or_raise()?;
    let (x, y) = hold_pair((a, dtype, "a"), (b, dtype, "b"))?;
    let (xb, yb) = (x.buffer(), y.buffer());
    let d = compute(py, || numerics::ulp_distances(xb, yb))?;
    Ok(PyArray1::from_vec(py, d))
}

/// Hash of the bytes plus the values at `2 * samples` fixed positions.
#[pyfunction]
#[pyo3(signature = (arr, *, dtype, samples = 16))]
fn fingerprint(
    py: Python<'_>,
    arr: &Bound<'_, PyAny>,
    dtype: &str,
    samples: usize,
) -> PyResult<PyFingerprint> {
    let dtype = DType::parse(dtype).or_raise()?;
    let (x, _) = hold(arr, dtype, "arr")?;
    let xb = x.buffer();
    let f = compute(py, || Ok(numerics::fingerprint(xb, samples)))?;
    let values = f.bits.iter().map(|&b| dtype.bits_to_f64(b)).collect();
    Ok(PyFingerprint {
        dtype: dtype.name(),
        n: f.n,
        hash: f.hash,
        positions: f.positions,
        bits: f.bits,
        values,
        all_equal: f.all_equal,
        nan_count: f.nan_count,
        inf_count: f.inf_count,
    })
}

/// Positions that `fingerprint` samples for an array of `n` elements.
#[pyfunction]
#[pyo3(signature = (n, samples = 16))]
fn sample_positions(n: usize, samples: usize) -> Vec<usize> {
    numerics::sample_positions(n, samples)
}

/// Labels of the ULP histogram buckets (`Comparison.ulp_hist`).
#[pyfunction]
fn ulp_histogram_labels() -> Vec<String> {
    numerics::ulp_bucket_labels()
}

/// Rounds float64 values to `dtype` (nearest, ties to even); returns the bits as uint64.
#[pyfunction]
#[pyo3(signature = (values, *, dtype))]
fn round_bits<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyAny>,
    dtype: &str,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let dtype = DType::parse(dtype).or_raise()?;
    let (x, _) = hold(values, DType::F64, "values")?;
    let Buffer::F64(xs) = x.buffer() else {
        unreachable!("held as float64")
    };
    let bits: Vec<u64> = py.detach(|| xs.iter().map(|&v| dtype.round_bits(v)).collect());
    Ok(PyArray1::from_vec(py, bits))
}

/// Adds the numerics functions and classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyComparison>()?;
    m.add_class::<PyFingerprint>()?;
    m.add_function(wrap_pyfunction!(compare_to_reference, m)?)?;
    m.add_function(wrap_pyfunction!(compare, m)?)?;
    m.add_function(wrap_pyfunction!(ulp_distance, m)?)?;
    m.add_function(wrap_pyfunction!(fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(sample_positions, m)?)?;
    m.add_function(wrap_pyfunction!(ulp_histogram_labels, m)?)?;
    m.add_function(wrap_pyfunction!(round_bits, m)?)?;
    Ok(())
}

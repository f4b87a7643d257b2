//! The exception hierarchy and the one mapping of core errors to it.
use accelbench_core::Error;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    accelbench._core,
    AccelbenchError,
    PyException,
    "Base of every error raised by accelbench."
);
create_exception!(
    accelbench._core,
    InputError,
    AccelbenchError,
    "Bad data given to a native function (empty, NaN/inf, bad argument)."
);

/// Maps a core error to its Python exception (exhaustive on purpose: a
/// new variant must choose its exception here).
///
/// [`Error::Workload`] only reaches this function when the workload failed
/// without a Python exception; a Python exception raised by a timed
/// callable is re-raised unchanged by the timing binding instead.
pub fn to_pyerr(err: &Error) -> PyErr {
    let msg = err.to_string();
    match err {
        Error::Empty | Error::NonFinite { .. } | Error::InvalidArgument(_) => {
            InputError::new_err(msg)
        }
        Error::Workload(_) => AccelbenchError::new_err(msg),
    }
}

/// A core result as a Python one, its error mapped by [`to_pyerr`]: the
/// `?`-friendly form every binding uses (`DType::parse(name).or_raise()?`).
pub trait OrRaise<T> {
    /// The value, or the core error as its Python exception.
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for accelbench_core::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(|e| to_pyerr(&e))
    }
}

/// Runs a core computation with the GIL released and maps its error: the
/// one path by which statistics leave Python's thread. Inputs must already
/// be extracted into Rust values.
pub fn compute<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> accelbench_core::Result<T> + Send,
{
    py.detach(f).or_raise()
}

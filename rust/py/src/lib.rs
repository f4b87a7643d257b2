//! `accelbench._core`: thin pyo3 bindings over `accelbench-core`.
//!
//! Every function here only converts types, calls the core and maps
//! errors. Statistics run with the GIL released ([`errors::compute`]); the
//! timing loop calls Python and keeps the GIL (see [`timing`]).
#![warn(missing_docs)]

use pyo3::prelude::*;

mod ab;
mod convert;
mod cpu;
mod errors;
mod numerics;
mod stats;
mod timing;

/// The native module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("AccelbenchError", py.get_type::<errors::AccelbenchError>())?;
    m.add("InputError", py.get_type::<errors::InputError>())?;
    stats::register(m)?;
    timing::register(m)?;
    ab::register(m)?;
    numerics::register(m)?;
    cpu::register(m)?;
    Ok(())
}

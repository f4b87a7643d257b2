//! accelbench-core: the measurement science of accelbench, in plain Rust.
//!
//! * [`timing`]: the adaptive sampling plan, clocks and calibration.
//! * [`stats`]: robust summaries, confidence intervals, outliers, drift.
//! * [`numerics`]: error metrics, ULP distances, fingerprints.
//!
//! Nothing here knows about Python; the `accelbench-py` crate converts
//! types and calls into this crate.
#![warn(missing_docs)]

pub mod error;
pub mod numerics;
pub mod stats;
pub mod timing;

pub use error::{Error, Result};

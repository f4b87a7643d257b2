//! The one error type of the core.
use std::fmt;

/// Everything that can go wrong in the core.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// A statistic was asked of an empty sample set.
    Empty,
    /// A sample was NaN or infinite; `index` is its position.
    NonFinite {
        /// Position of the offending value.
        index: usize,
    },
    /// An argument is out of its valid range.
    InvalidArgument(String),
    /// The workload being timed failed; the message is the workload's.
    Workload(String),
}

/// Result alias of the core.
pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Empty => write!(f, "no samples: statistics need at least one value"),
            Error::NonFinite { index } => {
                write!(
                    f,
                    "sample {index} is NaN or infinite; samples must be finite"
                )
            }
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Workload(msg) => write!(f, "workload failed: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

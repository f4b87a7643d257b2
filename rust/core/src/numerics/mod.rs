//! Numerical agreement: error metrics against a float64 reference, ULP
//! distances in the output dtype, bitwise determinism and fingerprints.
//!
//! * [`float`]: the four formats as bit patterns; ordered integers, ULP
//!   distance, exact rounding of a float64 to float16/bfloat16.
//! * [`compare`]: one parallel pass giving max abs/rel error, ULP max/mean
//!   and histogram, the count outside a tolerance, NaN/Inf pattern
//!   mismatches, bitwise equality, and the figures that mean something at
//!   every scale: cosine similarity, relative RMS error, small-value error
//!   and the share of elements beyond a ULP threshold.
//! * `kernel`: that pass's branch-free, vectorised chunk kernel; `isa`
//!   compiles it for the baseline target and (x86-64) for AVX2 and
//!   AVX-512, and picks one at run time.
//! * [`hash`]: a block-parallel 64-bit hash and the fingerprint (hash plus
//!   values at fixed positions) stored with every run.
//!
//! Inputs are borrowed slices ([`Buffer`]): the Python bindings hand numpy
//! memory over without a copy; float16 and bfloat16 arrive as `u16` bits.

// The per-element helpers of the comparison kernel must inline into its
// vectorised loop (and into its AVX2/AVX-512 copies).
#![allow(clippy::inline_always)]

pub mod compare;
pub mod float;
pub mod hash;
mod isa;
mod kernel;

pub use compare::{
    compare, compare_to_reference, ulp_bucket, ulp_bucket_labels, ulp_distances, Comparison,
    Tolerance, HIST_BUCKETS, LANES,
};
pub use float::{ulp_distance, DType};
pub use hash::{fingerprint, hash64, hash_buffer, sample_positions, Fingerprint};

/// A borrowed array of one of the four formats.
#[derive(Debug, Clone, Copy)]
pub enum Buffer<'a> {
    /// float64 values.
    F64(&'a [f64]),
    /// float32 values.
    F32(&'a [f32]),
    /// float16 bits.
    F16(&'a [u16]),
    /// bfloat16 bits.
    Bf16(&'a [u16]),
}

impl Buffer<'_> {
    /// The dtype of the elements.
    #[must_use]
    pub fn dtype(&self) -> DType {
        match self {
            Self::F64(_) => DType::F64,
            Self::F32(_) => DType::F32,
            Self::F16(_) => DType::F16,
            Self::Bf16(_) => DType::Bf16,
        }
    }

    /// Number of elements.
    #[must_use]
    pub fn len(&self) -> usize {
        match self {
            Self::F64(x) => x.len(),
            Self::F32(x) => x.len(),
            Self::F16(x) | Self::Bf16(x) => x.len(),
        }
    }

    /// Whether there are no elements.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod agreement_tests;
#[cfg(test)]
mod tests;

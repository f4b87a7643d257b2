//! Run-time choice of the instruction set for the comparison kernel.
//!
//! The kernel is generic code that the compiler vectorises for whatever
//! the function it is inlined into may use. It is compiled three times:
//! for the build target's baseline (the portable wheel: SSE2 on x86-64,
//! NEON on aarch64) and, on x86-64, inside functions with AVX2 and with
//! AVX-512 enabled. [`Isa::detect`] picks the best one this CPU runs
//! (`is_x86_feature_detected!`, cached by the standard library); the
//! results are identical on every path.
use super::compare::Tolerance;
use super::kernel::{scan_chunk, Acc, Pair};

/// The instruction sets the kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// The build target's baseline (SSE2 on x86-64, NEON on aarch64).
    Baseline,
    /// x86-64 with AVX2.
    Avx2,
    /// x86-64 with AVX-512 (F, BW, DQ, VL).
    Avx512,
}

impl Isa {
    /// Every variant, best last.
    pub(crate) const ALL: [Isa; 3] = [Isa::Baseline, Isa::Avx2, Isa::Avx512];

    /// Whether this CPU runs the variant.
    pub(crate) fn supported(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx512bw")
                    && is_x86_feature_detected!("avx512dq")
                    && is_x86_feature_detected!("avx512vl")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The best variant this CPU runs.
    pub(crate) fn detect() -> Self {
        Self::ALL
            .into_iter()
            .rev()
            .find(|isa| isa.supported())
            .unwrap_or(Isa::Baseline)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{scan_chunk, Acc, Pair, Tolerance};

    /// [`scan_chunk`] compiled with AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2<P: Pair>(a: &[P::A], b: &[P::B], base: usize, tol: Tolerance) -> Acc {
        scan_chunk::<P>(a, b, base, tol)
    }

    /// [`scan_chunk`] compiled with AVX-512.
    ///
    /// # Safety
    /// The CPU must support AVX-512 F, BW, DQ and VL.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
    pub(super) unsafe fn avx512<P: Pair>(
        a: &[P::A],
        b: &[P::B],
        base: usize,
        tol: Tolerance,
    ) -> Acc {
        scan_chunk::<P>(a, b, base, tol)
    }
}

/// Statistics of one chunk (`base`: its first element's index) with the
/// kernel for `isa`, or the baseline one where the CPU lacks it.
pub(crate) fn chunk<P: Pair>(isa: Isa, a: &[P::A], b: &[P::B], base: usize, tol: Tolerance) -> Acc {
    #[cfg(target_arch = "x86_64")]
    if isa.supported() {
        match isa {
            // SAFETY: `supported` checked that this CPU has AVX-512 F/BW/DQ/VL.
            Isa::Avx512 => return unsafe { x86::avx512::<P>(a, b, base, tol) },
            // SAFETY: `supported` checked that this CPU has AVX2.
            Isa::Avx2 => return unsafe { x86::avx2::<P>(a, b, base, tol) },
            Isa::Baseline => {}
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    scan_chunk::<P>(a, b, base, tol)
}

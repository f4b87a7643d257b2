//! The four floating-point formats, seen through their bit patterns.
//!
//! Every format is handled as raw bits: `f64` and `f32` natively, IEEE
//! binary16 (`float16`) and bfloat16 as `u16` (numpy has no bfloat16, and a
//! torch bfloat16 tensor reaches us as `tensor.view(torch.int16).numpy()`).
//!
//! **Ordered integers.** A float's bits are sign-magnitude; mapping the
//! magnitude `m` to `+m` for a clear sign bit and to `-m` for a set one gives
//! a two's-complement integer that is monotonic in the float's value, with
//! +0 and -0 both at 0 and ±inf one step beyond the largest finite value.
//! The ULP distance of two non-NaN values is the absolute difference of
//! their ordered integers: adjacent floats are 1 apart, the smallest
//! positive and negative subnormals are 2 apart, and max-finite to inf is 1.
//!
//! **Rounding a float64 reference.** [`Format::round`] rounds an `f64` to
//! the nearest value of the format, ties to even, in one step (rounding
//! through `f32` first would double-round bfloat16 and float16 values),
//! with gradual underflow to subnormals and overflow to infinity.
/// The element types accelbench compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE binary64.
    F64,
    /// IEEE binary32.
    F32,
    /// IEEE binary16 (`float16`, `half`).
    F16,
    /// bfloat16: the upper half of a binary32.
    Bf16,
}

impl DType {
    /// Parses `fp64 float64 fp32 float32 fp16 float16 half bf16 bfloat16`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidArgument`] for any other name.
    pub fn parse(name: &str) -> crate::Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "fp64" | "float64" | "f64" | "double" => Ok(Self::F64),
            "fp32" | "float32" | "f32" | "float" => Ok(Self::F32),
            "fp16" | "float16" | "f16" | "half" => Ok(Self::F16),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            other => Err(crate::Error::InvalidArgument(format!(
                "unknown dtype {other:?} (known: fp64, fp32, fp16, bf16)"
            ))),
        }
    }

    /// Canonical short name (`fp64`, `fp32`, `fp16`, `bf16`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::F64 => "fp64",
            Self::F32 => "fp32",
            Self::F16 => "fp16",
            Self::Bf16 => "bf16",
        }
    }

    /// Bytes per element.
    #[must_use]
    pub fn itemsize(self) -> usize {
        match self {
            Self::F64 => 8,
            Self::F32 => 4,
            Self::F16 | Self::Bf16 => 2,
        }
    }

    /// Exponent and explicit mantissa bits.
    #[inline(always)]
    #[must_use]
    pub fn layout(self) -> (u32, u32) {
        match self {
            Self::F64 => (11, 52),
            Self::F32 => (8, 23),
            Self::F16 => (5, 10),
            Self::Bf16 => (8, 7),
        }
    }

    /// Ordered integer of a bit pattern of this format (see the module docs).
    #[inline(always)]
    #[must_use]
    pub fn ordered(self, bits: u64) -> i64 {
        let (e, m) = self.layout();
        ordered_bits(bits, e + m)
    }

    /// Whether `bits` is a NaN of this format.
    #[inline(always)]
    #[must_use]
    pub fn is_nan_bits(self, bits: u64) -> bool {
        let (e, m) = self.layout();
        let exp_mask = ((1u64 << e) - 1) << m;
        bits & exp_mask == exp_mask && bits & ((1u64 << m) - 1) != 0
    }

    /// Whether `bits` is an infinity (either sign) of this format.
    #[inline(always)]
    #[must_use]
    pub fn is_inf_bits(self, bits: u64) -> bool {
        let (e, m) = self.layout();
        bits & ((1u64 << (e + m)) - 1) == ((1u64 << e) - 1) << m
    }

    /// Whether the exponent field is all ones (an infinity or a NaN).
    #[inline(always)]
    #[must_use]
    pub fn is_special_bits(self, bits: u64) -> bool {
        let (e, m) = self.layout();
        let exp_all = ((1u64 << e) - 1) << m;
        bits & exp_all == exp_all
    }

    /// The value of a bit pattern of this format, exactly, as `f64`.
    #[must_use]
    pub fn bits_to_f64(self, bits: u64) -> f64 {
        match self {
            Self::F64 => f64::from_bits(bits),
            Self::F32 => f64::from(f32::from_bits(bits as u32)),
            Self::F16 => f16_to_f64(bits as u16),
            Self::Bf16 => f64::from(bf16_to_f32(bits as u16)),
        }
    }

    /// Bits of `x` rounded to this format (nearest, ties to even).
    #[must_use]
    pub fn round_bits(self, x: f64) -> u64 {
        match self {
            Self::F64 => x.to_bits(),
            Self::F32 => u64::from((x as f32).to_bits()),
            Self::F16 | Self::Bf16 => {
                let (e, m) = self.layout();
                round_f64_to_bits(x, e, m)
            }
        }
    }
}

/// Sign-magnitude bits (sign at bit `sign_pos`) to a two's-complement
/// integer, without a branch: `(m ^ -s) + s` negates the magnitude `m`
/// exactly when the sign bit `s` is set.
#[inline(always)]
#[must_use]
pub fn ordered_bits(bits: u64, sign_pos: u32) -> i64 {
    // sign_pos <= 63, so the magnitude has at most 63 bits and fits an i64.
    #[allow(clippy::cast_possible_wrap)]
    let magnitude = (bits & ((1u64 << sign_pos) - 1)) as i64;
    let s = i64::from((bits >> sign_pos) & 1 == 1);
    (magnitude ^ s.wrapping_neg()) + s
}

/// ULP distance of two bit patterns of `dtype`: `None` when exactly one is
/// NaN (undefined), `Some(0)` when both are NaN (the patterns agree).
#[must_use]
pub fn ulp_distance(dtype: DType, a: u64, b: u64) -> Option<u64> {
    match (dtype.is_nan_bits(a), dtype.is_nan_bits(b)) {
        (true, true) => Some(0),
        (false, false) => Some(dtype.ordered(a).abs_diff(dtype.ordered(b))),
        _ => None,
    }
}

/// Rounds `x` to a binary format with `ebits` exponent and `mbits` mantissa
/// bits (`1 <= mbits <= 51`), nearest with ties to even; returns the bits.
///
/// Branch-free, so the comparison kernel vectorises it: the 53-bit
/// significand is shifted right by `52 - mbits`, plus the distance below
/// the format's smallest normal exponent (gradual underflow; the shift is
/// capped at 63, where every significand rounds to zero, which also covers
/// zero and float64 subnormals: far below half the smallest subnormal of
/// every narrower format). The magnitude is then `(E - 1) << mbits` plus
/// the rounded significand, `E` the biased exponent clamped to at least 1,
/// so a carry out of the significand moves to the next binade (or from the
/// largest subnormal to the smallest normal) by plain addition; a result
/// beyond the largest finite value is clamped to infinity. Infinities keep
/// their sign; a NaN becomes the format's quiet NaN with the same sign.
#[inline(always)]
#[must_use]
pub fn round_f64_to_bits(x: f64, ebits: u32, mbits: u32) -> u64 {
    let bits = x.to_bits();
    let sign = (bits >> 63) << (ebits + mbits);
    let exp_all = ((1u64 << ebits) - 1) << mbits;
    let field = i64::from(((bits >> 52) & 0x7ff) as u16);
    let frac = bits & ((1u64 << 52) - 1);
    let bias = (1i64 << (ebits - 1)) - 1;
    // the target's biased exponent; <= 0 below its smallest normal
    let e = field - 1023 + bias;
    let shift = (52 - i64::from(mbits) + (1 - e).max(0)).min(63) as u32;
    let full = frac | (1u64 << 52);
    let q = full >> shift;
    let rem = full & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    let up = u64::from(rem > half || (rem == half && q & 1 == 1));
    let magnitude = ((((e.max(1) - 1) as u64) << mbits) + q + up).min(exp_all);
    let special = if frac == 0 {
        exp_all
    } else {
        exp_all | (1u64 << (mbits - 1))
    };
    sign | if field == 0x7ff { special } else { magnitude }
}

/// bfloat16 bits to `f32` (exact: bfloat16 is the upper half of a binary32).
#[inline]
#[must_use]
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// binary16 bits to `f32` (exact; see [`f16_to_f64`]).
#[inline]
#[must_use]
pub fn f16_to_f32(bits: u16) -> f32 {
    // every binary16 value, NaN payloads included, is exact in binary32
    f16_to_f64(bits) as f32
}

/// binary16 bits to `f64`, exactly and without branches or tables (the
/// comparison kernel vectorises it): the significand (with its implicit bit
/// for a normal number) is converted as an integer and scaled by the power
/// of two `2^(max(exp, 1) - 25)`, built directly as float64 bits. Both
/// factors are exact and so is their product, and no float64 subnormal is
/// involved, so a flush-to-zero mode cannot change the result. Infinities
/// and NaNs (payload moved to the top of the float64 fraction, as a
/// hardware conversion does) are assembled from their bits.
#[inline(always)]
#[must_use]
pub fn f16_to_f64(bits: u16) -> f64 {
    let b = u64::from(bits);
    let exp = (b >> 10) & 0x1f;
    let man = b & 0x3ff;
    let sig = if exp == 0 { man } else { man | 0x400 };
    let scale = f64::from_bits((exp.max(1) + 1023 - 25) << 52);
    let finite = (f64::from(sig as i32) * scale).to_bits();
    let special = (0x7ffu64 << 52) | (man << 42);
    let sign = (b >> 15) << 63;
    f64::from_bits(sign | if exp == 0x1f { special } else { finite })
}

/// binary16 to `f32` by decoding the fields (the tests' oracle).
#[must_use]
pub fn f16_to_f32_slow(bits: u16) -> f32 {
    let sign = if bits >> 15 == 1 { -1.0f32 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let man = f32::from(bits & 0x3ff);
    match exp {
        0 => sign * man * 2f32.powi(-24),
        31 if man == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN.copysign(sign),
        _ => sign * (1.0 + man / 1024.0) * 2f32.powi(exp - 15),
    }
}

mod sealed {
    /// Only this module's four formats implement [`super::Format`]: code
    /// that views their raw slices as bytes relies on it.
    pub trait Sealed {}
    impl Sealed for super::F64 {}
    impl Sealed for super::F32 {}
    impl Sealed for super::F16 {}
    impl Sealed for super::Bf16 {}

    /// Only `u32` and `u64` implement [`super::Word`].
    pub trait SealedWord {}
    impl SealedWord for u32 {}
    impl SealedWord for u64 {}
}

/// The unsigned integer a format's bits are handled in: `u32` up to
/// binary32, `u64` for binary64. The comparison kernel does its integer
/// work (masks, ULP distances, their maximum) in this type, so a 32-bit or
/// 16-bit format uses lanes half as wide as float64 ones.
pub trait Word:
    sealed::SealedWord
    + Copy
    + Ord
    + Send
    + Sync
    + std::ops::BitAnd<Output = Self>
    + std::ops::BitXor<Output = Self>
    + std::ops::Shr<u32, Output = Self>
    + std::ops::Add<Output = Self>
{
    /// The low bits of `x`.
    fn from_u64(x: u64) -> Self;
    /// Zero-extended to 64 bits.
    fn to_u64(self) -> u64;
    /// The low 32 bits.
    fn low_u32(self) -> u32;
    /// The bits above the low 32 (0 for `u32`, without widening it).
    fn high_u32(self) -> u32;
    /// `min(self, cap)` as a `u32`.
    fn min_u32(self, cap: u32) -> u32;
    /// `|self - other|`.
    #[must_use]
    fn abs_diff(self, other: Self) -> Self;
}

impl Word for u32 {
    #[inline(always)]
    fn from_u64(x: u64) -> Self {
        x as u32
    }
    #[inline(always)]
    fn to_u64(self) -> u64 {
        u64::from(self)
    }
    #[inline(always)]
    fn low_u32(self) -> u32 {
        self
    }
    #[inline(always)]
    fn high_u32(self) -> u32 {
        0
    }
    #[inline(always)]
    fn min_u32(self, cap: u32) -> u32 {
        self.min(cap)
    }
    #[inline(always)]
    fn abs_diff(self, other: Self) -> Self {
        u32::abs_diff(self, other)
    }
}

impl Word for u64 {
    #[inline(always)]
    fn from_u64(x: u64) -> Self {
        x
    }
    #[inline(always)]
    fn to_u64(self) -> u64 {
        self
    }
    #[inline(always)]
    fn low_u32(self) -> u32 {
        self as u32
    }
    #[inline(always)]
    fn high_u32(self) -> u32 {
        (self >> 32) as u32
    }
    #[inline(always)]
    fn min_u32(self, cap: u32) -> u32 {
        self.min(u64::from(cap)) as u32
    }
    #[inline(always)]
    fn abs_diff(self, other: Self) -> Self {
        u64::abs_diff(self, other)
    }
}

/// A format's raw element type and how to read it (monomorphised loops).
/// Sealed: implemented only for [`F64`], [`F32`], [`F16`] and [`Bf16`].
pub trait Format: sealed::Sealed + Send + Sync {
    /// The element as stored (`f64`, `f32`, or `u16` bits).
    type Raw: Copy + Send + Sync;
    /// The integer its bits are handled in.
    type Word: Word;
    /// Which format this is.
    const DTYPE: DType;
    /// Bits, zero-extended to the word.
    fn word(x: Self::Raw) -> Self::Word;
    /// Exact value.
    fn value(x: Self::Raw) -> f64;
    /// Bits of a float64 rounded to this format (nearest, ties to even).
    fn round(x: f64) -> Self::Word;
    /// Bits, zero-extended to 64.
    #[inline(always)]
    fn bits(x: Self::Raw) -> u64 {
        Self::word(x).to_u64()
    }
}

/// `f64` elements.
pub struct F64;
/// `f32` elements.
pub struct F32;
/// binary16 elements as `u16` bits.
pub struct F16;
/// bfloat16 elements as `u16` bits.
pub struct Bf16;

impl Format for F64 {
    type Raw = f64;
    type Word = u64;
    const DTYPE: DType = DType::F64;
    #[inline(always)]
    fn word(x: f64) -> u64 {
        x.to_bits()
    }
    #[inline(always)]
    fn value(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn round(x: f64) -> u64 {
        x.to_bits()
    }
}

impl Format for F32 {
    type Raw = f32;
    type Word = u32;
    const DTYPE: DType = DType::F32;
    #[inline(always)]
    fn word(x: f32) -> u32 {
        x.to_bits()
    }
    #[inline(always)]
    fn value(x: f32) -> f64 {
        f64::from(x)
    }
    #[inline(always)]
    fn round(x: f64) -> u32 {
        (x as f32).to_bits()
    }
}

impl Format for F16 {
    type Raw = u16;
    type Word = u32;
    const DTYPE: DType = DType::F16;
    #[inline(always)]
    fn word(x: u16) -> u32 {
        u32::from(x)
    }
    #[inline(always)]
    fn value(x: u16) -> f64 {
        f16_to_f64(x)
    }
    #[inline(always)]
    fn round(x: f64) -> u32 {
        round_f64_to_bits(x, 5, 10) as u32
    }
}

impl Format for Bf16 {
    type Raw = u16;
    type Word = u32;
    const DTYPE: DType = DType::Bf16;
    #[inline(always)]
    fn word(x: u16) -> u32 {
        u32::from(x)
    }
    #[inline(always)]
    fn value(x: u16) -> f64 {
        f64::from(bf16_to_f32(x))
    }
    #[inline(always)]
    fn round(x: f64) -> u32 {
        round_f64_to_bits(x, 8, 7) as u32
    }
}

/// Views a slice of a format's raw elements as bytes.
pub(crate) fn as_bytes<F: Format>(x: &[F::Raw]) -> &[u8] {
    // SAFETY: `Format` is sealed; its `Raw` types are f64, f32 and u16: plain
    // numbers without padding whose every byte is initialised, so reading
    // `size_of_val(x)` bytes from the slice's start is valid for its lifetime.
    unsafe { std::slice::from_raw_parts(x.as_ptr().cast::<u8>(), std::mem::size_of_val(x)) }
}

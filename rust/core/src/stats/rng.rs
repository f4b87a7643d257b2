//! Small, fast, seedable random number generators for the bootstrap.
//!
//! `SplitMix64` turns a seed (and a stream number) into well-mixed state;
//! `Xoshiro256PlusPlus` (Blackman & Vigna, 2019) generates the draws. Both
//! are tiny and deterministic on every platform, so a seed reproduces the
//! same bootstrap anywhere.

/// The `SplitMix64` finaliser: a bijective 64-bit mix.
#[must_use]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `SplitMix64` (Steele, Lea & Flood, 2014): used to seed other generators.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting at `seed`.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }
}

/// xoshiro256++: a fast all-purpose generator with 256 bits of state.
#[derive(Debug, Clone)]
pub struct Xoshiro256PlusPlus {
    s: [u64; 4],
}

impl Xoshiro256PlusPlus {
    /// Generator number `stream` of `seed`: distinct streams are seeded
    /// from distinct `SplitMix64` sequences, so they are independent in
    /// practice. This is what makes the bootstrap reproducible whatever the
    /// number of threads: resample chunk `c` always uses stream `c`.
    #[must_use]
    pub fn from_seed_stream(seed: u64, stream: u64) -> Self {
        let mut sm = SplitMix64::new(seed ^ mix64(stream.wrapping_add(0xA076_1D64_78BD_642F)));
        let s = [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()];
        // The all-zero state is the one forbidden state; SplitMix64 cannot
        // output four zeros in a row, so `s` is valid.
        Self { s }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Two independent uniform indices in `0..n` from (usually) one 64-bit
    /// draw, by Lemire's nearly divisionless method on each 32-bit half:
    /// unbiased, with a rejection only when the low product falls below
    /// `2^32 mod n`.
    #[inline]
    pub fn two_below(&mut self, n: u32) -> (u32, u32) {
        let x = self.next_u64();
        let a = self.fix_below(x as u32, n);
        let b = self.fix_below((x >> 32) as u32, n);
        (a, b)
    }

    /// One uniform index in `0..n`.
    #[inline]
    pub fn below(&mut self, n: u32) -> u32 {
        let x = self.next_u64() as u32;
        self.fix_below(x, n)
    }

    #[inline]
    fn fix_below(&mut self, mut x: u32, n: u32) -> u32 {
        let mut m = u64::from(x) * u64::from(n);
        let mut low = m as u32;
        if low < n {
            let threshold = n.wrapping_neg() % n;
            while low < threshold {
                x = self.next_u64() as u32;
                m = u64::from(x) * u64::from(n);
                low = m as u32;
            }
        }
        (m >> 32) as u32
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

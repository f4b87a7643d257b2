//! Output fingerprints: a fast 64-bit hash of the bytes plus the values at
//! a fixed set of positions.
//!
//! **Hash.** The bytes are cut into fixed blocks of [`BLOCK`] bytes hashed
//! in parallel; each block uses xxHash64's round and merge steps (four
//! independent lanes over 32-byte stripes, so a core keeps several
//! multiplies in flight) and its avalanche. Block hashes are then folded in
//! order with the same round, seeded with the total length. The result
//! therefore depends only on the bytes, never on the thread count. It is
//! xxHash64-*style*, not xxHash64-compatible (the block tree differs), and
//! not cryptographic: it detects changed outputs, it does not resist
//! adversaries. Bytes are read in native order (little-endian on every
//! platform accelbench supports).
//!
//! **Sampled positions.** [`sample_positions`] picks `count` evenly spaced
//! indices (first and last included) plus `count` indices from a `SplitMix64`
//! stream seeded by the length, so two runs of the same shape sample the
//! same elements and can be compared value by value later, without either
//! device.
use rayon::prelude::*;

use super::float::{as_bytes, Bf16, DType, Format, F16, F32, F64};
use super::Buffer;

/// Bytes per parallel hash block (1 MiB).
pub const BLOCK: usize = 1 << 20;

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[inline]
fn round(acc: u64, input: u64) -> u64 {
    acc.wrapping_add(input.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

#[inline]
fn merge(acc: u64, lane: u64) -> u64 {
    (acc ^ round(0, lane)).wrapping_mul(P1).wrapping_add(P4)
}

#[inline]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[inline]
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// Hash of one block (xxHash64's structure with seed 0).
fn block_hash(data: &[u8]) -> u64 {
    let mut lanes = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
    let mut stripes = data.chunks_exact(32);
    for s in &mut stripes {
        lanes[0] = round(lanes[0], word(&s[0..]));
        lanes[1] = round(lanes[1], word(&s[8..]));
        lanes[2] = round(lanes[2], word(&s[16..]));
        lanes[3] = round(lanes[3], word(&s[24..]));
    }
    let mut h = lanes[0]
        .rotate_left(1)
        .wrapping_add(lanes[1].rotate_left(7))
        .wrapping_add(lanes[2].rotate_left(12))
        .wrapping_add(lanes[3].rotate_left(18));
    for lane in lanes {
        h = merge(h, lane);
    }
    h = h.wrapping_add(data.len() as u64);
    let tail = stripes.remainder();
    let mut words = tail.chunks_exact(8);
    for w in &mut words {
        h = (h ^ round(0, word(w)))
            .rotate_left(27)
            .wrapping_mul(P1)
            .wrapping_add(P4);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    avalanche(h)
}

/// 64-bit hash of `data` (see the module docs).
#[must_use]
pub fn hash64(data: &[u8]) -> u64 {
    let blocks: Vec<u64> = data.par_chunks(BLOCK).map(block_hash).collect();
    let mut h = (data.len() as u64).wrapping_mul(P5);
    for b in blocks {
        h = round(h, b)
            .rotate_left(27)
            .wrapping_mul(P1)
            .wrapping_add(P4);
    }
    avalanche(h)
}

/// `SplitMix64`: one step of the stream (state advanced in place).
#[inline]
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `count` evenly spaced positions then `count` pseudo-random ones, for an
/// array of `n` elements (empty when `n == 0`; positions may repeat when
/// `n` is small).
#[must_use]
pub fn sample_positions(n: usize, count: usize) -> Vec<usize> {
    if n == 0 || count == 0 {
        return Vec::new();
    }
    let mut pos: Vec<usize> = (0..count)
        .map(|i| {
            if count == 1 {
                0
            } else {
                ((i as u128 * (n as u128 - 1)) / (count as u128 - 1)) as usize
            }
        })
        .collect();
    let mut state = 0x6163_6365_6C62_656E ^ (n as u64);
    pos.extend((0..count).map(|_| (splitmix(&mut state) % n as u64) as usize));
    pos
}

/// Fingerprint of an output array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// The array's dtype.
    pub dtype: DType,
    /// Number of elements.
    pub n: usize,
    /// [`hash64`] of the bytes.
    pub hash: u64,
    /// Sampled positions ([`sample_positions`]).
    pub positions: Vec<usize>,
    /// Bits of the elements at `positions` (exact; NaN payloads included).
    pub bits: Vec<u64>,
    /// Whether every element has the bits of the first one (a constant output).
    pub all_equal: bool,
    /// NaN elements.
    pub nan_count: usize,
    /// Infinite elements.
    pub inf_count: usize,
}

fn scan<F: Format>(x: &[F::Raw], count: usize) -> Fingerprint {
    let dtype = F::DTYPE;
    let hash = hash64(as_bytes::<F>(x));
    let first = x.first().map_or(0, |&v| F::bits(v));
    let (all_equal, nan_count, inf_count) = x
        .par_chunks(BLOCK / dtype.itemsize())
        .map(|c| {
            let mut eq = true;
            let (mut nan, mut inf) = (0usize, 0usize);
            for &v in c {
                let b = F::bits(v);
                eq &= b == first;
                nan += usize::from(dtype.is_nan_bits(b));
                inf += usize::from(dtype.is_inf_bits(b));
            }
            (eq, nan, inf)
        })
        .reduce(|| (true, 0, 0), |a, b| (a.0 && b.0, a.1 + b.1, a.2 + b.2));
    let positions = sample_positions(x.len(), count);
    let bits = positions.iter().map(|&p| F::bits(x[p])).collect();
    Fingerprint {
        dtype,
        n: x.len(),
        hash,
        positions,
        bits,
        all_equal,
        nan_count,
        inf_count,
    }
}

/// Fingerprint of `buf` with `count` evenly spaced and `count` random samples.
#[must_use]
pub fn fingerprint(buf: Buffer<'_>, count: usize) -> Fingerprint {
    match buf {
        Buffer::F64(x) => scan::<F64>(x, count),
        Buffer::F32(x) => scan::<F32>(x, count),
        Buffer::F16(x) => scan::<F16>(x, count),
        Buffer::Bf16(x) => scan::<Bf16>(x, count),
    }
}

/// [`hash64`] of a buffer's bytes.
#[must_use]
pub fn hash_buffer(buf: Buffer<'_>) -> u64 {
    match buf {
        Buffer::F64(x) => hash64(as_bytes::<F64>(x)),
        Buffer::F32(x) => hash64(as_bytes::<F32>(x)),
        Buffer::F16(x) => hash64(as_bytes::<F16>(x)),
        Buffer::Bf16(x) => hash64(as_bytes::<Bf16>(x)),
    }
}

//! The vectorised kernel against a scalar reference written from the rules
//! of the comparison module docs, on every instruction set this CPU runs.

// Exact float equality is the point of these tests: bits and maxima must match exactly.
#![allow(clippy::float_cmp)]

use super::{bucket, BLOCK, LANES};
use crate::numerics::compare::{against_f64, same_dtype, ulp_bucket, CHUNK, HIST_BUCKETS};
use crate::numerics::float::{
    bf16_to_f32, f16_to_f32_slow, f16_to_f64, round_f64_to_bits, Bf16, DType, Format, F16, F32, F64,
};
use crate::numerics::isa::Isa;
use crate::numerics::{Comparison, Tolerance};

/// `SplitMix64`: a reproducible stream of 64-bit words.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The rounding of a float64 to float16/bfloat16 as first written (with
/// branches): the oracle of the branch-free [`round_f64_to_bits`].
fn round_reference(x: f64, ebits: u32, mbits: u32) -> u64 {
    let bits = x.to_bits();
    let sign = (bits >> 63) << (ebits + mbits);
    let exp_all = ((1u64 << ebits) - 1) << mbits;
    if x.is_nan() {
        return sign | exp_all | (1u64 << (mbits - 1));
    }
    if x.is_infinite() {
        return sign | exp_all;
    }
    let exp = i64::from(((bits >> 52) & 0x7ff) as u16);
    if exp == 0 {
        return sign;
    }
    let bias = (1i64 << (ebits - 1)) - 1;
    let e = exp - 1023;
    let emin = 1 - bias;
    let full = (bits & ((1u64 << 52) - 1)) | (1u64 << 52);
    let mut shift = 52 - i64::from(mbits);
    if e < emin {
        shift += emin - e;
    }
    if shift > 53 {
        return sign;
    }
    let shift = shift as u32;
    let mut q = full >> shift;
    let rem = full & ((1u64 << shift) - 1);
    let half = 1u64 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q += 1;
    }
    let magnitude = if e < emin {
        q
    } else {
        (((e + bias) as u64) << mbits) + (q - (1u64 << mbits))
    };
    sign | magnitude.min(exp_all)
}

/// Exact value of a bit pattern, decoded independently of the kernel's
/// conversions.
fn value_reference(d: DType, bits: u64) -> f64 {
    match d {
        DType::F64 => f64::from_bits(bits),
        DType::F32 => f64::from(f32::from_bits(bits as u32)),
        DType::F16 => f64::from(f16_to_f32_slow(bits as u16)),
        DType::Bf16 => f64::from(f32::from_bits((bits as u32) << 16)),
    }
}

fn round_bits_reference(d: DType, x: f64) -> u64 {
    match d {
        DType::F64 => x.to_bits(),
        DType::F32 => u64::from((x as f32).to_bits()),
        DType::F16 => round_reference(x, 5, 10),
        DType::Bf16 => round_reference(x, 8, 7),
    }
}

fn ordered_reference(d: DType, bits: u64) -> i128 {
    let (e, m) = d.layout();
    let magnitude = i128::from(bits & ((1u64 << (e + m)) - 1));
    if (bits >> (e + m)) & 1 == 1 {
        -magnitude
    } else {
        magnitude
    }
}

/// The comparison rules of the module docs, one element at a time, in the
/// plainest form: `(out bits, out value, ref value, ref bits)` per pair.
fn reference(d: DType, pairs: &[(u64, f64, f64, u64)], tol: Tolerance) -> Comparison {
    let special = |b: u64| d.is_special_bits(b);
    let mut c = Comparison {
        dtype: d,
        n: pairs.len(),
        matched: 0,
        max_abs_err: 0.0,
        max_rel_err: 0.0,
        ulp_max: 0,
        ulp_mean: 0.0,
        ulp_hist: [0; HIST_BUCKETS],
        mismatches: 0,
        nan_mismatch: 0,
        inf_mismatch: 0,
        bitwise_equal: 0,
        first_mismatch: None,
        cosine: 0.0,
        rel_rmse: 0.0,
        ulp_threshold: tol.ulp,
        ulp_over: 0,
        small: 0,
        small_max_abs_err: 0.0,
        small_mismatches: 0,
        large_mismatches: 0,
    };
    let mut ulp_sum = 0u128;
    let sums = ordered_sums(pairs, |&(ob, _, _, rb)| !special(ob) && !special(rb));
    c.cosine = reference_cosine(sums);
    c.rel_rmse = if sums[0] == 0.0 {
        0.0
    } else {
        (sums[0] / sums[1]).sqrt()
    };
    for (i, &(ob, ov, rv, rb)) in pairs.iter().enumerate() {
        c.bitwise_equal += usize::from(ob == rb);
        let mut miss = false;
        if special(ob) || special(rb) {
            if ob == rb || (ov.is_nan() && rv.is_nan()) {
                c.matched += 1;
                c.ulp_hist[0] += 1;
            } else if ov.is_nan() || rv.is_nan() {
                c.nan_mismatch += 1;
                miss = true;
            } else {
                c.inf_mismatch += 1;
                miss = true;
            }
        } else {
            c.matched += 1;
            let err = (ov - rv).abs();
            c.max_abs_err = c.max_abs_err.max(err);
            if rv != 0.0 {
                c.max_rel_err = c.max_rel_err.max(err / rv.abs());
            }
            let diff = ordered_reference(d, ob) - ordered_reference(d, rb);
            let ulp = u64::try_from(diff.abs()).unwrap();
            c.ulp_max = c.ulp_max.max(ulp);
            ulp_sum += u128::from(ulp);
            c.ulp_hist[ulp_bucket(ulp)] += 1;
            c.ulp_over += usize::from(ulp > tol.ulp);
            miss = err > tol.atol + tol.rtol * rv.abs();
            if rv.abs() < tol.small {
                c.small += 1;
                c.small_max_abs_err = c.small_max_abs_err.max(err);
                c.small_mismatches += usize::from(err > tol.small_atol);
            } else {
                c.large_mismatches += usize::from(miss);
            }
        }
        if miss {
            c.mismatches += 1;
            c.first_mismatch.get_or_insert(i);
        }
    }
    if c.matched > 0 {
        c.ulp_mean = ulp_sum as f64 / c.matched as f64;
    }
    c
}

/// The float64 sums of the module docs (squared error, squared reference,
/// squared output, output times reference) over the pairs `keep` accepts,
/// in their defined order: lane `i % LANES` within a block of `BLOCK`, lanes
/// combined pairwise, blocks added in order within a chunk of `CHUNK`,
/// chunks added in order.
fn ordered_sums(
    pairs: &[(u64, f64, f64, u64)],
    keep: impl Fn(&(u64, f64, f64, u64)) -> bool,
) -> [f64; 4] {
    let mut total = [0.0f64; 4];
    for chunk in pairs.chunks(CHUNK) {
        let mut in_chunk = [0.0f64; 4];
        for block in chunk.chunks(BLOCK) {
            let mut lanes = [[0.0f64; LANES]; 4];
            for (j, p) in block.iter().enumerate() {
                let (ov, rv) = (p.1, p.2);
                let terms = [(ov - rv) * (ov - rv), rv * rv, ov * ov, ov * rv];
                for (lane, t) in lanes.iter_mut().zip(terms) {
                    lane[j % LANES] += if keep(p) { t } else { 0.0 };
                }
            }
            for (s, l) in in_chunk.iter_mut().zip(lanes) {
                *s += ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
            }
        }
        for (t, s) in total.iter_mut().zip(in_chunk) {
            *t += s;
        }
    }
    total
}

fn reference_cosine([_, r2, o2, or]: [f64; 4]) -> f64 {
    if o2 == 0.0 && r2 == 0.0 {
        1.0
    } else if o2 == 0.0 || r2 == 0.0 {
        0.0
    } else {
        let norms = (o2 * r2).sqrt();
        let norms = if norms.is_normal() {
            norms
        } else {
            o2.sqrt() * r2.sqrt()
        };
        (or / norms).clamp(-1.0, 1.0)
    }
}

/// Asserts two comparisons agree exactly, float fields bit for bit.
fn assert_same(got: &Comparison, want: &Comparison, what: &str) {
    assert_eq!(
        got.max_abs_err.to_bits(),
        want.max_abs_err.to_bits(),
        "{what}: max_abs {got:?}"
    );
    assert_eq!(
        got.max_rel_err.to_bits(),
        want.max_rel_err.to_bits(),
        "{what}: max_rel {got:?}"
    );
    assert_eq!(
        got.ulp_mean.to_bits(),
        want.ulp_mean.to_bits(),
        "{what}: ulp_mean {got:?}"
    );
    for (name, g, w) in [
        ("cosine", got.cosine, want.cosine),
        ("rel_rmse", got.rel_rmse, want.rel_rmse),
        ("small_max", got.small_max_abs_err, want.small_max_abs_err),
    ] {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what}: {name} {g} vs {w}"
        );
    }
    let (mut got, mut want) = (got.clone(), want.clone());
    (got.cosine, got.rel_rmse, want.cosine, want.rel_rmse) = (0.0, 0.0, 0.0, 0.0);
    assert_eq!(got, want, "{what}");
}

const TOLS: [Tolerance; 3] = [
    Tolerance::new(0.0, 0.0),
    Tolerance::new(1e-3, 1e-5).with_small(1e-3, 1e-6, 1),
    Tolerance::new(0.5, 1e300).with_small(1.0, 0.5, 32),
];

/// Runs `F`'s same-format comparison of bit patterns `a`, `b` on every
/// supported kernel, serially and in parallel, against the reference.
fn check_same<F: Format>(a: &[F::Raw], b: &[F::Raw], what: &str) {
    let d = F::DTYPE;
    let pairs: Vec<_> = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| {
            let (xb, yb) = (F::bits(x), F::bits(y));
            (xb, value_reference(d, xb), value_reference(d, yb), yb)
        })
        .collect();
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    for tol in TOLS {
        let want = reference(d, &pairs, tol);
        for isa in Isa::ALL.into_iter().filter(|i| i.supported()) {
            let got = same_dtype::<F>(isa, a, b, tol);
            assert_same(&got, &want, &format!("{what} {d:?} {isa:?} {tol:?}"));
            let got1 = serial.install(|| same_dtype::<F>(isa, a, b, tol));
            assert_same(&got1, &want, &format!("{what} {d:?} {isa:?} 1 thread"));
        }
    }
}

/// Same for an output against a float64 reference.
fn check_reference<F: Format>(out: &[F::Raw], r: &[f64], what: &str) {
    let d = F::DTYPE;
    let pairs: Vec<_> = out
        .iter()
        .zip(r)
        .map(|(&o, &x)| {
            let ob = F::bits(o);
            (ob, value_reference(d, ob), x, round_bits_reference(d, x))
        })
        .collect();
    for tol in TOLS {
        let want = reference(d, &pairs, tol);
        for isa in Isa::ALL.into_iter().filter(|i| i.supported()) {
            let got = against_f64::<F>(isa, out, r, tol);
            assert_same(&got, &want, &format!("{what} {d:?} {isa:?} {tol:?}"));
        }
    }
}

/// Landmark bit patterns of a format, both signs: zeros, subnormals,
/// normals, max finite, infinities, quiet and signalling NaNs with
/// different payloads.
fn landmarks(d: DType) -> Vec<u64> {
    let (e, m) = d.layout();
    let exp_all = ((1u64 << e) - 1) << m;
    let one = ((1u64 << (e - 1)) - 1) << m;
    let quiet = 1u64 << (m - 1);
    let positive = [
        0,
        1,
        2,
        (1u64 << m) - 1,
        1u64 << m,
        (1u64 << m) + 1,
        one - 1,
        one,
        one + 1,
        one + 3,
        exp_all - 1,
        exp_all - 2,
        exp_all,
        exp_all | quiet,
        exp_all | 1,
        exp_all | quiet | 5,
        exp_all | ((1u64 << m) - 1),
    ];
    let sign = 1u64 << (e + m);
    positive.iter().flat_map(|&b| [b, b | sign]).collect()
}

/// Every ordered pair of landmarks, then random patterns near landmarks
/// and fully random patterns, to a length that is not a multiple of the
/// block or the chunk.
fn adversarial_pairs(d: DType, len: usize, seed: u64) -> (Vec<u64>, Vec<u64>) {
    let marks = landmarks(d);
    let (e, m) = d.layout();
    let width_mask = if e + m + 1 == 64 {
        u64::MAX
    } else {
        (1u64 << (e + m + 1)) - 1
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for &x in &marks {
        for &y in &marks {
            a.push(x);
            b.push(y);
        }
    }
    let mut rng = Rng(seed);
    while a.len() < len {
        let x = match rng.below(3) {
            0 => marks[rng.below(marks.len() as u64) as usize],
            _ => rng.next() & width_mask,
        };
        // the partner: the same bits, a few ULP away (either way), the
        // negated value, another landmark or anything
        let y = match rng.below(6) {
            0 => x,
            1 => x.wrapping_add(rng.below(40)) & width_mask,
            2 => x.wrapping_sub(rng.below(3000)) & width_mask,
            3 => x ^ (1u64 << (e + m)),
            4 => marks[rng.below(marks.len() as u64) as usize],
            _ => rng.next() & width_mask,
        };
        a.push(x);
        b.push(y);
    }
    a.truncate(len);
    b.truncate(len);
    (a, b)
}

const LENGTHS: [usize; 5] = [0, 1, 7, BLOCK + 37, CHUNK + 3 * BLOCK + 5];

#[test]
fn kernels_match_the_scalar_reference_same_dtype() {
    for (k, len) in LENGTHS.into_iter().enumerate() {
        let seed = 11 + k as u64;
        let (a, b) = adversarial_pairs(DType::F64, len.max(1200), seed);
        let (a, b): (Vec<f64>, Vec<f64>) = (
            a.iter().map(|&x| f64::from_bits(x)).collect(),
            b.iter().map(|&x| f64::from_bits(x)).collect(),
        );
        check_same::<F64>(&a[..len], &b[..len], "fp64");
        let (a, b) = adversarial_pairs(DType::F32, len.max(1200), seed);
        let (a, b): (Vec<f32>, Vec<f32>) = (
            a.iter().map(|&x| f32::from_bits(x as u32)).collect(),
            b.iter().map(|&x| f32::from_bits(x as u32)).collect(),
        );
        check_same::<F32>(&a[..len], &b[..len], "fp32");
        for d in [DType::F16, DType::Bf16] {
            let (a, b) = adversarial_pairs(d, len.max(1200), seed);
            let (a, b): (Vec<u16>, Vec<u16>) = (
                a.iter().map(|&x| x as u16).collect(),
                b.iter().map(|&x| x as u16).collect(),
            );
            if d == DType::F16 {
                check_same::<F16>(&a[..len], &b[..len], "fp16");
            } else {
                check_same::<Bf16>(&a[..len], &b[..len], "bf16");
            }
        }
    }
}

/// float64 references that stress rounding to each format: exact values,
/// midpoints (ties), values just off midpoints, overflow past max finite,
/// underflow, float64 subnormals, infinities and NaNs.
fn references_for(d: DType, outs: &[u64], rng: &mut Rng) -> Vec<f64> {
    outs.iter()
        .map(|&o| {
            let v = value_reference(d, o);
            let next = value_reference(d, o.wrapping_add(1));
            match rng.below(9) {
                0 => v,
                1 => 0.5 * (v + next),
                2 => 0.5 * (v + next) * (1.0 + 1e-15),
                3 => v * (1.0 + (rng.below(1000) as f64 - 500.0) * 1e-9),
                4 => f64::from_bits(rng.next()),
                5 => f64::from_bits(rng.below(1 << 20)), // float64 subnormals
                6 => [
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::NAN,
                    -f64::NAN,
                    1e300,
                    -1e300,
                ][rng.below(6) as usize],
                7 => 0.0,
                _ => next,
            }
        })
        .collect()
}

#[test]
fn kernels_match_the_scalar_reference_against_f64() {
    for (k, len) in LENGTHS.into_iter().enumerate() {
        let mut rng = Rng(101 + k as u64);
        for d in [DType::F64, DType::F32, DType::F16, DType::Bf16] {
            let (outs, _) = adversarial_pairs(d, len, 7 + k as u64);
            let r = references_for(d, &outs, &mut rng);
            match d {
                DType::F64 => {
                    let o: Vec<f64> = outs.iter().map(|&x| f64::from_bits(x)).collect();
                    check_reference::<F64>(&o, &r, "fp64 vs ref");
                }
                DType::F32 => {
                    let o: Vec<f32> = outs.iter().map(|&x| f32::from_bits(x as u32)).collect();
                    check_reference::<F32>(&o, &r, "fp32 vs ref");
                }
                DType::F16 => {
                    let o: Vec<u16> = outs.iter().map(|&x| x as u16).collect();
                    check_reference::<F16>(&o, &r, "fp16 vs ref");
                }
                DType::Bf16 => {
                    let o: Vec<u16> = outs.iter().map(|&x| x as u16).collect();
                    check_reference::<Bf16>(&o, &r, "bf16 vs ref");
                }
            }
        }
    }
}

#[test]
fn relative_error_maximum_is_the_plain_quotient_in_edge_cases() {
    // A float64 subnormal reference with a zero output (quotient exactly 1)
    // after a pair of relative error 0.9999, and an overflowing difference
    // (quotient +inf) after a pair of relative error 2: a division-free
    // filter based on `max_rel * |ref|` rounds both away.
    let big = Tolerance::new(10.0, 10.0);
    for isa in Isa::ALL.into_iter().filter(|i| i.supported()) {
        let c = against_f64::<F64>(isa, &[1.9999, 0.0], &[1.0, 5e-324], big);
        assert_eq!(c.max_rel_err, 1.0, "{isa:?}");
        let c = against_f64::<F64>(isa, &[3.0, f64::MAX], &[1.0, -f64::MAX], big);
        assert_eq!(c.max_rel_err, f64::INFINITY, "{isa:?}");
        assert_eq!(c.max_abs_err, f64::INFINITY, "{isa:?}");
    }
}

#[test]
fn identical_chunks_and_blocks_count_as_equal() {
    let x: Vec<f32> = (0..CHUNK * 2 + 77).map(|i| (i as f32).sin()).collect();
    let mut y = x.clone();
    y[CHUNK + 5] = f32::from_bits(y[CHUNK + 5].to_bits() + 2);
    check_same::<F32>(&x, &x, "identical");
    check_same::<F32>(&x, &y, "one element off");
}

#[test]
fn branch_free_bucket_matches_ulp_bucket() {
    let mut values: Vec<u64> = (0..5000).collect();
    for s in 0..64 {
        let p = 1u64 << s;
        values.extend([p - 1, p, p + 1]);
    }
    values.push(u64::MAX);
    for d in values {
        assert_eq!(bucket(d) as usize, ulp_bucket(d), "{d}");
        if let Ok(d32) = u32::try_from(d) {
            assert_eq!(bucket(d32) as usize, ulp_bucket(d), "{d} as u32");
        }
    }
}

#[test]
fn branch_free_rounding_matches_the_reference() {
    let mut rng = Rng(5);
    let mut xs = vec![
        0.0,
        -0.0,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        -f64::MAX,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NAN,
        -f64::NAN,
        65504.0,
        65519.999,
        65520.0,
    ];
    for _ in 0..200_000 {
        xs.push(f64::from_bits(rng.next()));
    }
    for d in [DType::F16, DType::Bf16] {
        let (e, m) = d.layout();
        // every pattern, the midpoints to its successor and their neighbours
        for bits in 0..u64::from(u16::MAX) {
            let (v, w) = (value_reference(d, bits), value_reference(d, bits + 1));
            let mid = 0.5 * (v + w);
            xs.extend([
                v,
                mid,
                f64::from_bits(mid.to_bits() + 1),
                f64::from_bits(mid.to_bits().wrapping_sub(1)),
            ]);
        }
        for &x in &xs {
            let (got, want) = (round_f64_to_bits(x, e, m), round_reference(x, e, m));
            assert_eq!(got, want, "{d:?} {x:e} ({:#x})", x.to_bits());
        }
    }
}

#[test]
fn f16_conversion_is_exact_for_every_pattern() {
    for bits in 0..=u16::MAX {
        let (got, want) = (f16_to_f64(bits), f16_to_f32_slow(bits));
        if want.is_nan() {
            assert!(got.is_nan(), "{bits:#x}");
            assert_eq!(got.is_sign_negative(), want.is_sign_negative(), "{bits:#x}");
            // the payload moves to the top of the float64 fraction
            assert_eq!(
                (got.to_bits() >> 42) & 0x3ff,
                u64::from(bits & 0x3ff),
                "{bits:#x}"
            );
        } else {
            assert_eq!(got.to_bits(), f64::from(want).to_bits(), "{bits:#x}");
        }
    }
    assert_eq!(f64::from(bf16_to_f32(0x3f80)), 1.0);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    #[test]
    fn kernels_match_the_reference_on_arbitrary_f32_pairs(
        pairs in proptest::collection::vec((proptest::prelude::any::<u32>(), 0u32..64, 0u8..4), 0..2600)
    ) {
        // the partner: same bits, a few ULP up, or unrelated bits
        let a: Vec<f32> = pairs.iter().map(|&(x, _, _)| f32::from_bits(x)).collect();
        let b: Vec<f32> = pairs
            .iter()
            .map(|&(x, step, how)| match how {
                0 => f32::from_bits(x),
                1 | 2 => f32::from_bits(x.wrapping_add(step)),
                _ => f32::from_bits(x.rotate_left(step)),
            })
            .collect();
        check_same::<F32>(&a, &b, "proptest fp32");
    }

    #[test]
    fn kernels_match_the_reference_on_arbitrary_bf16_outputs(
        pairs in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<f64>()), 0..2600)
    ) {
        let out: Vec<u16> = pairs.iter().map(|&(x, _)| x).collect();
        let r: Vec<f64> = pairs.iter().map(|&(_, v)| v).collect();
        check_reference::<Bf16>(&out, &r, "proptest bf16 vs ref");
    }
}

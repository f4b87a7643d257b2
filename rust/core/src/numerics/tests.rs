// Exact float equality is the point of these tests: bits and maxima must match exactly.
#![allow(clippy::float_cmp)]

use super::float::{f16_to_f32_slow, round_f64_to_bits};
use super::*;
use proptest::prelude::*;

const ALL: [DType; 4] = [DType::F64, DType::F32, DType::F16, DType::Bf16];

/// (+0, smallest subnormal, largest subnormal, smallest normal, 1.0, max finite, +inf, a NaN)
fn landmarks(d: DType) -> [u64; 8] {
    let (e, m) = d.layout();
    let exp_all = ((1u64 << e) - 1) << m;
    let one = ((1u64 << (e - 1)) - 1) << m;
    [
        0,
        1,
        (1u64 << m) - 1,
        1u64 << m,
        one,
        exp_all - 1,
        exp_all,
        exp_all | 1,
    ]
}

fn sign(d: DType) -> u64 {
    let (e, m) = d.layout();
    1u64 << (e + m)
}

#[test]
fn ulp_known_pairs_all_dtypes() {
    for d in ALL {
        let [zero, tiny, big_sub, min_norm, one, max, inf, nan] = landmarks(d);
        let s = sign(d);
        assert_eq!(ulp_distance(d, one, one + 1), Some(1), "{d:?} adjacent");
        assert_eq!(ulp_distance(d, one + 1, one), Some(1), "{d:?} symmetric");
        assert_eq!(ulp_distance(d, zero, s | zero), Some(0), "{d:?} +0 vs -0");
        assert_eq!(
            ulp_distance(d, tiny, s | tiny),
            Some(2),
            "{d:?} across zero"
        );
        assert_eq!(
            ulp_distance(d, zero, tiny),
            Some(1),
            "{d:?} zero to subnormal"
        );
        assert_eq!(
            ulp_distance(d, big_sub, min_norm),
            Some(1),
            "{d:?} subnormal to normal"
        );
        assert_eq!(ulp_distance(d, max, inf), Some(1), "{d:?} max to inf");
        assert_eq!(ulp_distance(d, inf, inf), Some(0), "{d:?} inf vs inf");
        assert_eq!(
            ulp_distance(d, s | inf, inf),
            Some(2 * (inf & !s)),
            "{d:?} -inf vs inf"
        );
        assert_eq!(ulp_distance(d, nan, nan | 2), Some(0), "{d:?} NaN vs NaN");
        assert_eq!(ulp_distance(d, nan, one), None, "{d:?} NaN vs number");
        assert_eq!(
            ulp_distance(d, s | one, one),
            Some(2 * one),
            "{d:?} -1 vs 1"
        );
        assert!(d.is_nan_bits(nan) && !d.is_nan_bits(inf) && d.is_inf_bits(s | inf));
        assert_eq!(d.bits_to_f64(one), 1.0);
        assert!(d.bits_to_f64(inf).is_infinite());
    }
}

#[test]
fn f16_and_bf16_rounding_roundtrips_every_pattern() {
    for d in [DType::F16, DType::Bf16] {
        for bits in 0..=u64::from(u16::MAX) {
            if d.is_nan_bits(bits) {
                assert!(d.is_nan_bits(d.round_bits(d.bits_to_f64(bits))));
                continue;
            }
            assert_eq!(d.round_bits(d.bits_to_f64(bits)), bits, "{d:?} {bits:#x}");
        }
    }
    for bits in 0..=u16::MAX {
        let (a, b) = (f16_to_f32_slow(bits), super::float::f16_to_f32(bits));
        assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()));
    }
}

#[test]
fn rounding_ties_to_even_underflow_and_overflow() {
    for d in [DType::F16, DType::Bf16, DType::F32] {
        let one = landmarks(d)[4];
        let (lo, hi, hi2) = (
            d.bits_to_f64(one),
            d.bits_to_f64(one + 1),
            d.bits_to_f64(one + 2),
        );
        // midpoint of 1 and next: ties to the even (1.0); midpoint of next and next-next: to next-next
        assert_eq!(d.round_bits(0.5 * (lo + hi)), one, "{d:?}");
        assert_eq!(d.round_bits(0.5 * (hi + hi2)), one + 2, "{d:?}");
        assert_eq!(
            d.round_bits(0.5 * (lo + hi) * (1.0 + 1e-12)),
            one + 1,
            "{d:?}"
        );
        let [_, tiny, _, _, _, max, inf, _] = landmarks(d);
        let t = d.bits_to_f64(tiny);
        assert_eq!(
            d.round_bits(0.5 * t),
            0,
            "{d:?} half the smallest subnormal ties to 0"
        );
        assert_eq!(d.round_bits(0.75 * t), tiny, "{d:?}");
        assert_eq!(d.round_bits(-0.75 * t), sign(d) | tiny, "{d:?}");
        assert_eq!(
            d.round_bits(d.bits_to_f64(max) * 1.5),
            inf,
            "{d:?} overflow"
        );
        assert_eq!(d.round_bits(f64::NEG_INFINITY), sign(d) | inf, "{d:?}");
    }
    // 65520 is the f16 overflow threshold (halfway between 65504 and 2^16)
    assert_eq!(round_f64_to_bits(65519.0, 5, 10), 0x7bff);
    assert_eq!(round_f64_to_bits(65520.0, 5, 10), 0x7c00);
}

#[test]
fn buckets_and_labels() {
    let labels = ulp_bucket_labels();
    assert_eq!(labels.len(), HIST_BUCKETS);
    assert_eq!(&labels[..6], ["0", "1", "2", "3-4", "5-8", "9-16"]);
    assert_eq!(labels[HIST_BUCKETS - 1], ">1048576");
    for (d, b) in [
        (0, 0),
        (1, 1),
        (2, 2),
        (3, 3),
        (4, 3),
        (5, 4),
        (8, 4),
        (9, 5),
        (16, 5),
    ] {
        assert_eq!(ulp_bucket(d), b, "{d}");
    }
    assert_eq!(ulp_bucket(1 << 20), HIST_BUCKETS - 2);
    assert_eq!(ulp_bucket((1 << 20) + 1), HIST_BUCKETS - 1);
    assert_eq!(ulp_bucket(u64::MAX), HIST_BUCKETS - 1);
}

const TOL: Tolerance = Tolerance::new(1e-3, 1e-5);

/// Deterministic values in [-2, 2) (also used by `agreement_tests`).
pub(super) fn lcg(n: usize, seed: u64) -> Vec<f64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((s >> 11) as f64 / (1u64 << 53) as f64) * 4.0 - 2.0
        })
        .collect()
}

#[test]
fn perturbed_output_is_classified() {
    let reference = lcg(300_000, 7);
    let mut out: Vec<f32> = reference.iter().map(|&r| r as f32).collect();
    let exact = compare_to_reference(Buffer::F32(&out), &reference, TOL).unwrap();
    assert_eq!(exact.ulp_max, 0);
    assert_eq!(exact.bitwise_equal, out.len());
    assert_eq!(exact.mismatches, 0);
    assert!(exact.max_rel_err <= f64::from(f32::EPSILON) / 2.0);

    out[1234] = f32::from_bits(out[1234].to_bits() + 3);
    out[250_000] = f32::NAN;
    let c = compare_to_reference(Buffer::F32(&out), &reference, TOL).unwrap();
    assert_eq!(c.ulp_max, 3);
    assert_eq!(c.ulp_hist[3], 1, "3 ULP lands in the 3-4 bucket");
    assert_eq!(c.ulp_hist[0] as usize, out.len() - 2);
    assert_eq!(c.nan_mismatch, 1);
    assert_eq!(c.inf_mismatch, 0);
    assert_eq!(c.mismatches, 1, "3 ULP is inside rtol=1e-3; the NaN is not");
    assert_eq!(c.first_mismatch, Some(250_000));
    assert_eq!(c.matched, out.len() - 1);
    assert_eq!(c.bitwise_equal, out.len() - 2);
    assert!((c.ulp_mean - 3.0 / (out.len() - 1) as f64).abs() < 1e-15);

    let tight = compare_to_reference(Buffer::F32(&out), &reference, Tolerance::new(0.0, 0.0));
    let tight = tight.unwrap();
    // zero tolerance against the unrounded reference: every rounded value fails
    let inexact = reference
        .iter()
        .filter(|&&r| f64::from(r as f32) != r)
        .count();
    assert_eq!(
        tight.mismatches, inexact,
        "both perturbed references are inexact in f32"
    );
    assert!(tight.first_mismatch.unwrap() <= 1234);
}

#[test]
fn inf_patterns_and_overflowing_reference() {
    let reference = [1.0e6, 1.0e6, f64::INFINITY, -1.0, f64::NAN];
    let inf = 0x7c00u16;
    let one = 0x3c00u16;
    // 1e6 overflows float16: an infinity is the correctly rounded answer
    let out = [inf, one, inf, 0xbc00, 0x7e00];
    let c = compare_to_reference(Buffer::F16(&out), &reference, TOL).unwrap();
    assert_eq!(c.inf_mismatch, 1);
    assert_eq!(c.nan_mismatch, 0);
    assert_eq!(c.mismatches, 1);
    assert_eq!(c.first_mismatch, Some(1));
    assert_eq!(c.matched, 4);
    assert_eq!(c.ulp_max, 0);
}

#[test]
fn metrics_match_a_naive_loop() {
    let reference = lcg(200_003, 3);
    let out: Vec<f64> = reference
        .iter()
        .enumerate()
        .map(|(i, r)| r * (1.0 + (i % 7) as f64 * 3e-4))
        .collect();
    let c = compare_to_reference(Buffer::F64(&out), &reference, TOL).unwrap();
    let mut max_abs = 0.0f64;
    let mut max_rel = 0.0f64;
    let mut outside = 0;
    for (o, r) in out.iter().zip(&reference) {
        max_abs = max_abs.max((o - r).abs());
        max_rel = max_rel.max((o - r).abs() / r.abs());
        outside += usize::from((o - r).abs() > TOL.atol + TOL.rtol * r.abs());
    }
    assert_eq!(c.max_abs_err, max_abs);
    assert_eq!(c.max_rel_err, max_rel);
    assert_eq!(c.mismatches, outside);
    assert!(outside > 0);
}

#[test]
fn same_dtype_compare_and_errors() {
    let a: Vec<u16> = (0..1000u16).map(|i| 0x3c00 + i).collect();
    let mut b = a.clone();
    assert!(compare(Buffer::Bf16(&a), Buffer::Bf16(&b), TOL)
        .unwrap()
        .all_bitwise_equal());
    b[10] += 5;
    let c = compare(Buffer::Bf16(&a), Buffer::Bf16(&b), TOL).unwrap();
    assert!(!c.all_bitwise_equal());
    assert_eq!(c.ulp_max, 5);
    let d = ulp_distances(Buffer::Bf16(&a), Buffer::Bf16(&b)).unwrap();
    assert_eq!(d.iter().sum::<u64>(), 5);
    assert!(compare(Buffer::F16(&a), Buffer::Bf16(&b), TOL).is_err());
    assert!(compare(Buffer::F16(&a), Buffer::F16(&b[..5]), TOL).is_err());
    let bad = Tolerance::new(-1.0, 0.0);
    assert!(compare(Buffer::F16(&a), Buffer::F16(&b), bad).is_err());
    let nan = [0x7fc0u16];
    let num = [0x3f80u16];
    assert_eq!(
        ulp_distances(Buffer::Bf16(&nan), Buffer::Bf16(&num)).unwrap(),
        [u64::MAX]
    );
}

#[test]
fn hash_is_stable_and_sensitive() {
    let data: Vec<u8> = (0..(3 * hash::BLOCK + 13))
        .map(|i| (i * 31 % 251) as u8)
        .collect();
    let h = hash64(&data);
    let serial = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(
        serial.install(|| hash64(&data)),
        h,
        "thread count must not matter"
    );
    let mut flipped = data.clone();
    flipped[2 * hash::BLOCK + 5] ^= 1;
    assert_ne!(hash64(&flipped), h);
    assert_ne!(hash64(&data[..data.len() - 1]), h);
    assert_ne!(hash64(&[]), hash64(&[0]));
}

#[test]
fn fingerprint_samples_positions_and_detects_constants() {
    let x: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
    let f = fingerprint(Buffer::F32(&x), 16);
    assert_eq!(f.positions.len(), 32);
    assert_eq!(f.positions[0], 0);
    assert_eq!(f.positions[15], 999);
    assert_eq!(f.positions, sample_positions(1000, 16));
    for (p, b) in f.positions.iter().zip(&f.bits) {
        assert_eq!(u64::from(x[*p].to_bits()), *b);
    }
    assert!(!f.all_equal);
    assert_eq!(f.hash, hash_buffer(Buffer::F32(&x)));
    let c = vec![2.5f64; 100];
    let g = fingerprint(Buffer::F64(&c), 4);
    assert!(g.all_equal);
    assert_eq!((g.nan_count, g.inf_count), (0, 0));
    assert!(fingerprint(Buffer::F64(&[]), 4).positions.is_empty());
}

proptest! {
    #[test]
    fn ulp_distance_counts_steps_f32(a in any::<u32>(), step in 0u32..1000) {
        let x = f32::from_bits(a);
        prop_assume!(x.is_finite() && x >= 0.0);
        let b = a.saturating_add(step);
        prop_assume!(f32::from_bits(b).is_finite());
        prop_assert_eq!(ulp_distance(DType::F32, u64::from(a), u64::from(b)), Some(u64::from(b - a)));
    }

    #[test]
    fn ulp_order_matches_value_order(a in any::<u16>(), b in any::<u16>()) {
        let d = DType::Bf16;
        let (x, y) = (d.bits_to_f64(u64::from(a)), d.bits_to_f64(u64::from(b)));
        prop_assume!(!x.is_nan() && !y.is_nan());
        let (ox, oy) = (d.ordered(u64::from(a)), d.ordered(u64::from(b)));
        prop_assert_eq!(x.partial_cmp(&y), ox.partial_cmp(&oy));
    }

    #[test]
    fn f16_rounding_is_nearest(x in -70000.0f64..70000.0) {
        let d = DType::F16;
        let r = d.round_bits(x);
        let v = d.bits_to_f64(r);
        prop_assume!(v.is_finite());
        // neither neighbour is strictly closer
        for nb in [r.wrapping_sub(1), r + 1] {
            let w = d.bits_to_f64(nb);
            if w.is_finite() && (nb & 0x7fff) < 0x7c00 && (nb >> 15) == (r >> 15) {
                prop_assert!((w - x).abs() >= (v - x).abs());
            }
        }
    }
}

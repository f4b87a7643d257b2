//! The figures at every scale (`cosine`, `rel_rmse`, small values, `ulp_frac`):
//! known values, plain float64 sums, and bit-identical results whatever the
//! thread count and instruction set.

// Exact float equality is the point of several tests here.
#![allow(clippy::float_cmp)]

use super::compare::{against_f64, same_dtype, CHUNK};
use super::float::{Bf16, F32};
use super::isa::Isa;
use super::*;

use super::tests::lcg as values;

const TOL: Tolerance = Tolerance::new(1e-3, 1e-5).with_small(1.0 / 256.0, 1e-4, 1);

#[test]
fn a_scaled_output_shows_in_rel_rmse_not_in_cosine() {
    let reference = values(100_003, 1);
    let out: Vec<f64> = reference.iter().map(|r| r * 1.05).collect();
    let c = compare_to_reference(Buffer::F64(&out), &reference, TOL).unwrap();
    assert!((c.rel_rmse - 0.05).abs() < 1e-12, "{}", c.rel_rmse);
    assert!((1.0 - c.cosine).abs() < 1e-12, "{}", c.cosine);
    let flipped: Vec<f64> = reference.iter().map(|r| -r).collect();
    let c = compare_to_reference(Buffer::F64(&flipped), &reference, TOL).unwrap();
    assert_eq!(c.cosine, -1.0);
    assert!((c.rel_rmse - 2.0).abs() < 1e-12);
}

#[test]
fn cosine_and_rel_rmse_match_plain_float64_sums() {
    let reference = values(300_001, 2);
    let noise = values(reference.len(), 3);
    let out: Vec<f32> = reference
        .iter()
        .zip(&noise)
        .map(|(r, e)| (r + 1e-3 * e) as f32)
        .collect();
    let c = compare_to_reference(Buffer::F32(&out), &reference, TOL).unwrap();
    let (mut e2, mut r2, mut o2, mut or) = (0.0, 0.0, 0.0, 0.0);
    for (&o, &r) in out.iter().zip(&reference) {
        let o = f64::from(o);
        e2 += (o - r) * (o - r);
        r2 += r * r;
        o2 += o * o;
        or += o * r;
    }
    let cosine = or / (o2 * r2).sqrt();
    let rel_rmse = (e2 / r2).sqrt();
    // the plain sequential sums carry rounding errors of up to n * 2^-53 relative
    assert!(
        (c.cosine - cosine).abs() < 1e-11,
        "{} vs {cosine}",
        c.cosine
    );
    assert!(
        (c.rel_rmse / rel_rmse - 1.0).abs() < 1e-10,
        "{} vs {rel_rmse}",
        c.rel_rmse
    );
    assert!(c.rel_rmse > 1e-4 && c.cosine < 1.0);
}

#[test]
fn zero_vectors_and_non_finite_pairs() {
    let zeros = [0.0f64; 5];
    let ones = [1.0f64; 5];
    let c = compare_to_reference(Buffer::F64(&zeros), &zeros, TOL).unwrap();
    assert_eq!((c.cosine, c.rel_rmse), (1.0, 0.0));
    let c = compare_to_reference(Buffer::F64(&zeros), &ones, TOL).unwrap();
    assert_eq!((c.cosine, c.rel_rmse), (0.0, 1.0));
    let c = compare_to_reference(Buffer::F64(&ones), &zeros, TOL).unwrap();
    assert_eq!((c.cosine, c.rel_rmse), (0.0, f64::INFINITY));
    // a NaN or unmatched infinity is left out of the sums (and counted as a mismatch)
    let out = [1.0, 2.0, f64::NAN, f64::INFINITY];
    let reference = [1.0, 2.0, 3.0, 4.0];
    let c = compare_to_reference(Buffer::F64(&out), &reference, TOL).unwrap();
    assert_eq!((c.cosine, c.rel_rmse), (1.0, 0.0));
    assert_eq!((c.nan_mismatch, c.inf_mismatch), (1, 1));
    assert_eq!(
        c.ulp_frac(),
        0.5,
        "undefined distances count as beyond the threshold"
    );
}

#[test]
fn small_values_are_judged_by_absolute_error() {
    // |ref| < 1/256: 1e-3 (error 5e-5: passes 1e-4), -2e-3 (error 2e-4: fails),
    // 0 (error 1e-5: passes); large: 1.0 (error 1e-2: outside rtol 1e-3) and
    // 0.5 (error 1e-4: inside).
    let reference = [1e-3, -2e-3, 0.0, 1.0, 0.5];
    let out = [1e-3 + 5e-5, -2e-3 + 2e-4, 1e-5, 1.01, 0.5001];
    let c = compare_to_reference(Buffer::F64(&out), &reference, TOL).unwrap();
    assert_eq!(c.small, 3);
    assert_eq!(c.small_mismatches, 1);
    assert!((c.small_max_abs_err - 2e-4).abs() < 1e-15);
    assert_eq!(c.large_mismatches, 1);
    // the tolerance rule over all elements is unchanged: both small errors
    // above atol + rtol * |ref| (about 1e-5) count, as does the large one
    assert_eq!(c.mismatches, 3);
    let none = compare_to_reference(Buffer::F64(&out), &reference, Tolerance::new(1e-3, 1e-5));
    let none = none.unwrap();
    assert_eq!(
        (none.small, none.small_mismatches, none.large_mismatches),
        (0, 0, 3)
    );
}

#[test]
fn ulp_frac_counts_pairs_beyond_the_threshold() {
    let reference = values(10_000, 4);
    let mut out: Vec<f32> = reference.iter().map(|&r| r as f32).collect();
    for (i, step) in [(10, 1u32), (20, 2), (30, 3), (40, 32), (50, 33), (60, 5000)] {
        out[i] = f32::from_bits(out[i].to_bits() + step);
    }
    let n = out.len() as f64;
    for (threshold, over) in [
        (0, 6),
        (1, 5),
        (2, 4),
        (4, 3),
        (32, 2),
        (64, 1),
        (1 << 20, 0),
    ] {
        let tol = Tolerance::new(1.0, 1.0).with_small(0.0, 0.0, threshold);
        let c = compare_to_reference(Buffer::F32(&out), &reference, tol).unwrap();
        assert_eq!(c.ulp_over, over, "threshold {threshold}");
        assert_eq!(c.ulp_frac(), over as f64 / n);
        assert_eq!(c.ulp_threshold, threshold);
    }
    for bad in [3, 5, 48, (1 << 20) + 1, 1 << 21] {
        let tol = Tolerance::new(1.0, 1.0).with_small(0.0, 0.0, bad);
        assert!(compare_to_reference(Buffer::F32(&out), &reference, tol).is_err());
    }
    let tol = Tolerance::new(1.0, 1.0).with_small(f64::NAN, 0.0, 1);
    assert!(compare_to_reference(Buffer::F32(&out), &reference, tol).is_err());
}

/// Asserts equality with every float field compared bit for bit.
fn assert_bit_identical(a: &Comparison, b: &Comparison, what: &str) {
    assert_eq!(a, b, "{what}");
    for (x, y) in [
        (a.cosine, b.cosine),
        (a.rel_rmse, b.rel_rmse),
        (a.ulp_mean, b.ulp_mean),
        (a.small_max_abs_err, b.small_max_abs_err),
    ] {
        assert_eq!(x.to_bits(), y.to_bits(), "{what}");
    }
}

#[test]
fn figures_are_bit_identical_across_thread_counts_and_instruction_sets() {
    let n = 3 * CHUNK + 1000 + 5; // whole chunks, a partial block and a ragged lane group
    let reference = values(n, 5);
    let noise = values(n, 6);
    let out: Vec<f32> = reference
        .iter()
        .zip(&noise)
        .map(|(r, e)| (r * (1.0 + 1e-2 * e)) as f32)
        .collect();
    let bf: Vec<u16> = out.iter().map(|x| (x.to_bits() >> 16) as u16).collect();
    let mut other = bf.clone();
    other[CHUNK + 7] ^= 1;
    let pool = |k| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(k)
            .build()
            .unwrap()
    };
    let (one, four) = (pool(1), pool(4));
    let base_f32 = one.install(|| against_f64::<F32>(Isa::Baseline, &out, &reference, TOL));
    let base_bf16 = one.install(|| same_dtype::<Bf16>(Isa::Baseline, &bf, &other, TOL));
    for isa in Isa::ALL.into_iter().filter(|i| i.supported()) {
        for (threads, p) in [(1, &one), (4, &four)] {
            let what = format!("{isa:?}, {threads} threads");
            let c = p.install(|| against_f64::<F32>(isa, &out, &reference, TOL));
            assert_bit_identical(&c, &base_f32, &what);
            let c = p.install(|| same_dtype::<Bf16>(isa, &bf, &other, TOL));
            assert_bit_identical(&c, &base_bf16, &what);
        }
    }
    assert!(base_f32.rel_rmse > 1e-3 && base_f32.cosine < 1.0);
    assert!(base_bf16.small > 0 && base_bf16.cosine < 1.0);
}

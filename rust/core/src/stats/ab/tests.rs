// Exact float comparisons are intended: U statistics are exact half-integers.
#![allow(clippy::float_cmp)]

// Reference values were computed with scipy 1.x (`scipy.special.erfc`,
// `scipy.stats.mannwhitneyu(..., method="asymptotic")`).
use proptest::prelude::*;

use super::*;
use crate::Error;

fn rel_close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * a.abs().max(b.abs())
}

#[test]
fn erfc_matches_reference_values_across_both_regimes() {
    let cases = [
        (0.0, 1.0),
        (0.1, 0.887_537_083_981_715_2),
        (0.5, 0.479_500_122_186_953_5),
        (1.0, 0.157_299_207_050_285_16),
        (2.0, 0.004_677_734_981_047_266),
        (2.49, 0.000_429_287_867_733_913_03),
        (2.5, 0.000_406_952_017_444_958_86),
        (3.0, 2.209_049_699_858_544_5e-5),
        (5.0, 1.537_459_794_428_034_7e-12),
        (10.0, 2.088_487_583_762_544_6e-45),
        (26.0, 5.663_192_408_856_145e-296),
    ];
    for (x, want) in cases {
        let got = erfc(x);
        assert!(
            rel_close(got, want, 1e-12),
            "erfc({x}) = {got}, want {want}"
        );
        assert!(rel_close(erfc(-x), 2.0 - want, 1e-15), "erfc(-{x})");
    }
    assert!(erfc(f64::NAN).is_nan());
    assert!(rel_close(normal_sf(1.959_963_984_540_054), 0.025, 1e-12));
    assert!(rel_close(
        normal_sf(-1.0),
        1.0 - 0.158_655_253_931_457_05,
        1e-14
    ));
}

#[test]
fn mann_whitney_matches_scipy_on_small_samples() {
    let r = mann_whitney_u(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]).unwrap();
    assert_eq!(r.u, 0.0);
    assert!(
        rel_close(r.p_value, 0.080_855_598_370_052_24, 1e-12),
        "{r:?}"
    );
    assert!(r.z < 0.0 && r.effect == 0.0);
    // With ties across and within the samples.
    let r = mann_whitney_u(&[1.0, 2.0, 2.0, 3.0, 5.0], &[2.0, 3.0, 3.0, 4.0]).unwrap();
    assert_eq!(r.u, 7.0);
    assert!(
        rel_close(r.p_value, 0.526_168_477_756_143_3, 1e-12),
        "{r:?}"
    );
}

#[test]
fn mann_whitney_all_tied_gives_p_one() {
    let r = mann_whitney_u(&[2.0; 5], &[2.0; 7]).unwrap();
    assert_eq!((r.u, r.z, r.p_value, r.effect), (17.5, 0.0, 1.0, 0.5));
    assert_eq!(mann_whitney_u(&[], &[1.0]), Err(Error::Empty));
    assert_eq!(
        mann_whitney_u(&[1.0], &[f64::NAN]),
        Err(Error::NonFinite { index: 0 })
    );
}

fn spread(n: usize, scale: f64, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|i| scale * (1.0 + 0.01 * ((i as f64) * 0.7 + phase).sin()))
        .collect()
}

#[test]
fn compare_detects_a_clear_slowdown_and_speedup() {
    let a = spread(200, 1e-3, 0.0);
    let cfg = CompareConfig::default();
    let slow = compare(&a, &spread(200, 1.1e-3, 0.3), &cfg).unwrap();
    assert_eq!(slow.verdict, Verdict::Slower);
    assert!(slow.ci_low > 1.02 && slow.ci_low <= 1.1 && 1.1 <= slow.ci_high * 1.001);
    assert!(slow.p_value < 1e-10 && slow.effect > 0.99);
    let fast = compare(&a, &spread(200, 0.9e-3, 0.3), &cfg).unwrap();
    assert_eq!(fast.verdict, Verdict::Faster);
    let same = compare(&a, &spread(200, 1e-3, 0.3), &cfg).unwrap();
    assert_eq!(same.verdict, Verdict::NoChange);
}

#[test]
fn compare_change_within_threshold_is_no_change() {
    // A 1% shift is highly significant here but below the 2% threshold.
    let a = spread(500, 1e-3, 0.0);
    let b = spread(500, 1.01e-3, 0.1);
    let r = compare(&a, &b, &CompareConfig::default()).unwrap();
    assert!(r.p_value < 1e-6 && r.ci_low > 1.0);
    assert_eq!(r.verdict, Verdict::NoChange);
    let strict = CompareConfig {
        threshold: 0.0,
        ..CompareConfig::default()
    };
    assert_eq!(compare(&a, &b, &strict).unwrap().verdict, Verdict::Slower);
}

#[test]
fn verdict_rule_needs_both_the_interval_and_the_test() {
    assert_eq!(
        Verdict::decide(1.05, 1.1, 0.01, 0.02, 0.05),
        Verdict::Slower
    );
    assert_eq!(
        Verdict::decide(1.05, 1.1, 0.2, 0.02, 0.05),
        Verdict::NoChange
    );
    assert_eq!(
        Verdict::decide(1.01, 1.1, 0.01, 0.02, 0.05),
        Verdict::NoChange
    );
    assert_eq!(
        Verdict::decide(0.9, 0.97, 0.01, 0.02, 0.05),
        Verdict::Faster
    );
    assert_eq!(
        Verdict::decide(0.9, 0.99, 0.01, 0.02, 0.05),
        Verdict::NoChange
    );
    assert_eq!(Verdict::Slower.as_str(), "slower");
}

#[test]
fn compare_rejects_bad_configuration() {
    let a = [1.0, 2.0];
    for cfg in [
        CompareConfig {
            threshold: -0.1,
            ..CompareConfig::default()
        },
        CompareConfig {
            alpha: 1.0,
            ..CompareConfig::default()
        },
        CompareConfig {
            resamples: 0,
            ..CompareConfig::default()
        },
        CompareConfig {
            confidence: 0.0,
            ..CompareConfig::default()
        },
    ] {
        assert!(matches!(
            compare(&a, &a, &cfg),
            Err(Error::InvalidArgument(_))
        ));
    }
}

proptest! {
    #[test]
    fn mann_whitney_is_antisymmetric(
        a in prop::collection::vec((0u8..20).prop_map(f64::from), 1..60),
        b in prop::collection::vec((0u8..20).prop_map(f64::from), 1..60),
    ) {
        let ab = mann_whitney_u(&a, &b).unwrap();
        let ba = mann_whitney_u(&b, &a).unwrap();
        let pairs = (a.len() * b.len()) as f64;
        prop_assert!((ab.u + ba.u - pairs).abs() < 1e-9);
        prop_assert!((ab.p_value - ba.p_value).abs() < 1e-12);
        prop_assert!((ab.z + ba.z).abs() < 1e-9);
        prop_assert!((0.0..=1.0).contains(&ab.p_value));
    }

    #[test]
    fn compare_verdict_flips_when_swapped(
        shift in 0.8..1.25_f64,
        n in 20usize..120,
    ) {
        let a = spread(n, 1e-3, 0.0);
        let b = spread(n, 1e-3 * shift, 0.4);
        let cfg = CompareConfig { resamples: 500, ..CompareConfig::default() };
        let ab = compare(&a, &b, &cfg).unwrap();
        let ba = compare(&b, &a, &cfg).unwrap();
        let flipped = match ab.verdict {
            Verdict::Slower => Verdict::Faster,
            Verdict::Faster => Verdict::Slower,
            Verdict::NoChange => Verdict::NoChange,
        };
        // The bootstrap intervals of r and 1/r differ by resampling noise,
        // so allow disagreement only near the decision boundary.
        let margin = (ab.ci_low - 1.02).abs().min((ab.ci_high - 1.0 / 1.02).abs());
        prop_assert!(ba.verdict == flipped || margin < 0.01, "{ab:?} {ba:?}");
    }
}

#[test]
fn compare_log_var_interval_is_the_sides_variances_added() {
    let a: Vec<f64> = (0..50).map(|i| 1.0 + 0.001 * f64::from(i)).collect();
    let same = compare_log_var(
        &[&a],
        &[&a],
        (0.01, 0.03),
        (None, None),
        &CompareConfig::default(),
    )
    .unwrap();
    let z = 1.959_963_984_540_054;
    assert!((same.ratio - 1.0).abs() < 1e-12);
    assert!((same.ci_high - (z * 0.04_f64.sqrt()).exp()).abs() < 1e-6);
    assert!((same.ci_low * same.ci_high - 1.0).abs() < 1e-9);
    assert_eq!(same.verdict, Verdict::NoChange);
    let slow: Vec<f64> = a.iter().map(|x| 1.3 * x).collect();
    let c = compare_log_var(
        &[&a],
        &[&slow],
        (1e-4, 1e-4),
        (None, None),
        &CompareConfig::default(),
    )
    .unwrap();
    assert_eq!(c.verdict, Verdict::Slower);
    // a variance wide enough to hold 1.3 is no verdict
    let wide = compare_log_var(
        &[&a],
        &[&slow],
        (0.05, 0.05),
        (None, None),
        &CompareConfig::default(),
    )
    .unwrap();
    assert_eq!(wide.verdict, Verdict::NoChange);
    assert!(compare_log_var(
        &[&a],
        &[&a],
        (-1.0, 0.0),
        (None, None),
        &CompareConfig::default()
    )
    .is_err());
    assert!(compare_log_var(
        &[&a],
        &[&a],
        (f64::NAN, 0.0),
        (None, None),
        &CompareConfig::default()
    )
    .is_err());
    // by round: a slow round with many samples does not move a side's median
    let b_rounds = [a.clone(), a.clone(), vec![2.0; 500]];
    let c = compare_log_var(
        std::slice::from_ref(&a),
        &b_rounds,
        (1e-4, 1e-4),
        (None, None),
        &CompareConfig::default(),
    )
    .unwrap();
    assert!((c.ratio - 1.0).abs() < 0.05, "{}", c.ratio);
    // a side measured in an episode 30% slower than its usual level: the ratio's interval
    // spans the usual level too, and the verdict waits
    let usual = Some(crate::stats::median_sorted(&a));
    let c = compare_log_var(
        &[&a],
        &[&slow],
        (1e-4, 1e-4),
        (None, usual),
        &CompareConfig::default(),
    )
    .unwrap();
    assert!(c.ci_low < 1.0 && c.ci_high > 1.3, "{c:?}");
    assert_eq!(c.verdict, Verdict::NoChange);
}

// Exact float comparisons are intended: these values are computed exactly.
#![allow(clippy::float_cmp)]

use proptest::prelude::*;

use super::bootstrap::{bootstrap_ci, bootstrap_ratio_ci, Statistic};
use super::ci::{median_ci, median_ci_ranks};
use super::*;
use crate::Error;

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + a.abs().max(b.abs()))
}

/// Exact binomial(n, 1/2) cdf by direct summation (small n only).
fn binom_half_cdf(n: usize, k: usize) -> f64 {
    let mut c = 1.0_f64; // C(n, 0)
    let mut sum = 0.0;
    for j in 0..=k {
        if j > 0 {
            c = c * (n - j + 1) as f64 / j as f64;
        }
        sum += c;
    }
    sum / 2f64.powi(i32::try_from(n).unwrap())
}

#[test]
fn validation_reports_empty_and_non_finite() {
    assert_eq!(summarize(&[]), Err(Error::Empty));
    assert_eq!(
        summarize(&[1.0, f64::NAN]),
        Err(Error::NonFinite { index: 1 })
    );
    assert_eq!(
        median_ci(&[f64::INFINITY], 0.95),
        Err(Error::NonFinite { index: 0 })
    );
    assert!(matches!(
        median_ci(&[1.0], 1.0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn summary_matches_numpy_on_fixed_data() {
    // numpy: np.percentile(x, [5, 25, 50, 75, 95, 99]) with x = 1..=10.
    let x: Vec<f64> = (1..=10).map(f64::from).collect();
    let s = summarize(&x).unwrap();
    assert_eq!(s.n, 10);
    assert!(close(s.mean, 5.5, 1e-15));
    assert!(close(s.std, 3.027_650_354_097_491_7, 1e-15));
    assert!(close(s.p5, 1.45, 1e-15));
    assert!(close(s.q1, 3.25, 1e-15));
    assert!(close(s.median, 5.5, 1e-15));
    assert!(close(s.q3, 7.75, 1e-15));
    assert!(close(s.p95, 9.55, 1e-15));
    assert!(close(s.p99, 9.91, 1e-15));
    assert!(close(s.iqr, 4.5, 1e-15));
}

#[test]
fn single_and_constant_samples() {
    let s = summarize(&[2.0]).unwrap();
    assert_eq!((s.std, s.cv, s.median, s.iqr), (0.0, 0.0, 2.0, 0.0));
    assert_eq!(median_ci(&[2.0], 0.95).unwrap(), (2.0, 2.0));
    let a = analyze(&[1e-3; 100], 0.95).unwrap();
    assert_eq!(a.summary.std, 0.0);
    assert_eq!((a.ci_low, a.ci_high, a.rel_ci), (1e-3, 1e-3, 0.0));
    assert_eq!(a.summary.cv, 0.0);
    assert_eq!(a.outliers.fraction, 0.0);
    assert_eq!(a.drift, 0.0);
}

#[test]
fn median_ci_ranks_match_textbook_values() {
    assert_eq!(median_ci_ranks(5, 0.95), None);
    assert_eq!(median_ci_ranks(6, 0.95), Some((0, 5)));
    assert_eq!(median_ci_ranks(10, 0.95), Some((1, 8)));
    assert_eq!(median_ci_ranks(100, 0.95), Some((39, 60)));
}

#[test]
fn median_ci_ranks_match_exact_binomial_for_small_n() {
    for n in 1..=300 {
        for &conf in &[0.8, 0.9, 0.95, 0.99] {
            let half_alpha = (1.0 - conf) / 2.0;
            let want = (0..n)
                .take_while(|&k| binom_half_cdf(n, k) <= half_alpha)
                .last();
            let got = median_ci_ranks(n, conf).map(|(lo, _)| lo);
            assert_eq!(got, want, "n={n} conf={conf}");
        }
    }
}

#[test]
fn median_ci_ranks_large_n_is_fast_and_close_to_normal_approximation() {
    let n = 10_000_000;
    let t = std::time::Instant::now();
    let (lo, hi) = median_ci_ranks(n, 0.95).unwrap();
    assert!(t.elapsed().as_secs_f64() < 0.5);
    assert_eq!(hi, n - 1 - lo);
    let normal = n as f64 / 2.0 - 1.959_964 * (n as f64).sqrt() / 2.0;
    assert!((lo as f64 - normal).abs() < 3.0, "lo={lo} normal={normal}");
}

#[test]
fn outliers_counted_by_hand() {
    // 1..=20 plus two extremes: q1 = 5.25, q3 = 15.75, iqr = 10.5, so the
    // severe fences are -26.25 and 47.25.
    let mut x: Vec<f64> = (1..=20).map(f64::from).collect();
    x.push(100.0); // severe high
    x.push(-100.0); // severe low
    let o = outliers(&x).unwrap();
    assert_eq!(
        (o.low_severe, o.low_mild, o.high_mild, o.high_severe),
        (1, 0, 0, 1)
    );
    assert!(close(o.fraction, 2.0 / 22.0, 1e-15));
}

#[test]
fn drift_compares_thirds() {
    let x = [1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0];
    assert!(close(drift(&x).unwrap(), 1.0, 1e-15));
    assert_eq!(drift(&[1.0, 5.0]).unwrap(), 0.0);
}

#[test]
fn bootstrap_is_deterministic_and_sane() {
    let x: Vec<f64> = (0..1001).map(|i| 1.0 + f64::from(i % 97) * 0.01).collect();
    let a = bootstrap_ci(&x, Statistic::Median, 2000, 0.95, 7).unwrap();
    let b = bootstrap_ci(&x, Statistic::Median, 2000, 0.95, 7).unwrap();
    assert_eq!(a, b);
    let med = summarize(&x).unwrap().median;
    assert!(a.0 <= med && med <= a.1, "{a:?} {med}");
    let m = bootstrap_ci(&x, Statistic::Mean, 2000, 0.95, 7).unwrap();
    let mean = summarize(&x).unwrap().mean;
    assert!(m.0 < mean && mean < m.1);
    assert_eq!(
        bootstrap_ci(&[4.0], Statistic::Median, 10, 0.9, 0).unwrap(),
        (4.0, 4.0)
    );
}

#[test]
fn bootstrap_is_independent_of_thread_count() {
    let x: Vec<f64> = (0..500).map(|i| f64::from(i).sin() + 2.0).collect();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| bootstrap_ci(&x, Statistic::Median, 1000, 0.95, 3).unwrap())
    };
    assert_eq!(run(1), run(3));
}

#[test]
fn bootstrap_ratio_brackets_true_ratio() {
    let a: Vec<f64> = (0..400).map(|i| 1.0 + f64::from(i % 13) * 0.01).collect();
    let b: Vec<f64> = a.iter().map(|v| v * 1.5).collect();
    let (lo, hi) = bootstrap_ratio_ci(&a, &b, Statistic::Median, 2000, 0.95, 1).unwrap();
    assert!(lo <= 1.5 && 1.5 <= hi, "({lo}, {hi})");
    assert!(hi - lo < 0.2);
    assert!(matches!(
        bootstrap_ratio_ci(&[0.0], &b, Statistic::Median, 10, 0.95, 1),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn statistic_parses_names() {
    assert_eq!(Statistic::parse("median"), Ok(Statistic::Median));
    assert_eq!(Statistic::parse("mean"), Ok(Statistic::Mean));
    assert!(Statistic::parse("mode").is_err());
}

fn samples_strategy() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1e6..1e6_f64, 1..300)
}

/// Samples with many ties (to stress selection) or continuous values.
fn tied_or_continuous() -> impl Strategy<Value = Vec<f64>> {
    prop_oneof![
        prop::collection::vec((0u8..5).prop_map(f64::from), 1..400),
        prop::collection::vec(-1e3..1e3_f64, 1..400),
    ]
}

proptest! {
    #[test]
    fn selection_agrees_with_full_sort(x in tied_or_continuous()) {
        let mut sorted = x.clone();
        sorted.sort_unstable_by(f64::total_cmp);
        let by_sort = summary::summarize_sorted(&sorted);
        let s = summarize(&x).unwrap();
        // The mean/std sums run in a different order; the rest is exact.
        prop_assert!(close(s.mean, by_sort.mean, 1e-12) && close(s.std, by_sort.std, 1e-9));
        prop_assert_eq!(
            (s.min, s.max, s.p5, s.q1, s.median, s.q3, s.p95, s.p99),
            (by_sort.min, by_sort.max, by_sort.p5, by_sort.q1, by_sort.median,
             by_sort.q3, by_sort.p95, by_sort.p99)
        );
        let a = analyze(&x, 0.95).unwrap();
        prop_assert_eq!((a.ci_low, a.ci_high), ci::median_ci_sorted(&sorted, 0.95));
        let o = outliers(&x).unwrap();
        prop_assert_eq!(a.outliers, o);
        prop_assert_eq!(o, outliers::count_outliers(&sorted, by_sort.q1, by_sort.q3));
    }

    #[test]
    fn quantiles_are_monotone_and_bounded(x in samples_strategy()) {
        let s = summarize(&x).unwrap();
        let qs = [s.min, s.p5, s.q1, s.median, s.q3, s.p95, s.p99, s.max];
        prop_assert!(qs.windows(2).all(|w| w[0] <= w[1]), "{qs:?}");
        prop_assert!(s.std >= 0.0 && s.iqr >= 0.0);
    }

    #[test]
    fn median_ci_contains_median(x in samples_strategy(), conf in 0.5..0.999_f64) {
        let a = analyze(&x, conf).unwrap();
        prop_assert!(a.ci_low <= a.summary.median && a.summary.median <= a.ci_high);
        prop_assert!(a.summary.min <= a.ci_low && a.ci_high <= a.summary.max);
        prop_assert!(a.rel_ci >= 0.0);
    }

    #[test]
    fn higher_confidence_gives_wider_ranks(n in 1usize..5000) {
        let narrow = median_ci_ranks(n, 0.9);
        let wide = median_ci_ranks(n, 0.99);
        if let (Some((l1, _)), Some((l2, _))) = (narrow, wide) {
            prop_assert!(l2 <= l1);
        }
        if narrow.is_none() {
            prop_assert!(wide.is_none());
        }
    }

    #[test]
    fn bootstrap_same_seed_same_interval(x in samples_strategy(), seed in any::<u64>()) {
        let a = bootstrap_ci(&x, Statistic::Median, 200, 0.95, seed).unwrap();
        let b = bootstrap_ci(&x, Statistic::Median, 200, 0.95, seed).unwrap();
        prop_assert_eq!(a, b);
        let s = summarize(&x).unwrap();
        prop_assert!(s.min <= a.0 && a.0 <= a.1 && a.1 <= s.max);
    }

    #[test]
    fn outlier_fraction_in_unit_interval(x in samples_strategy()) {
        let o = outliers(&x).unwrap();
        prop_assert!((0.0..=1.0).contains(&o.fraction));
    }
}

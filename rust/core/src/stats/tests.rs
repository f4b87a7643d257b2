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

// ------------------------------------------------------ hierarchical bootstrap

/// Normal deviates by Box–Muller from a seeded generator.
struct Gauss(rng::Xoshiro256PlusPlus);

impl Gauss {
    fn new(seed: u64) -> Self {
        Self(rng::Xoshiro256PlusPlus::from_seed_stream(seed, 0))
    }
    fn next(&mut self) -> f64 {
        let u1 = 1.0 - self.0.next_f64();
        let u2 = self.0.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `k` runs of `n` samples: run `r` has median `scale * (1 + between * z_r)`
/// and relative within-run noise `within`.
fn runs_of(
    g: &mut Gauss,
    k: usize,
    n: usize,
    scale: f64,
    between: f64,
    within: f64,
) -> Vec<Vec<f64>> {
    (0..k)
        .map(|_| {
            let level = scale * (1.0 + between * g.next());
            (0..n).map(|_| level * (1.0 + within * g.next())).collect()
        })
        .collect()
}

fn pooled(runs: &[Vec<f64>]) -> Vec<f64> {
    runs.concat()
}

#[test]
fn run_group_pools_sorts_and_keeps_each_run() {
    let runs = vec![
        vec![3.0, 1.0, 2.0],
        vec![2.0, 10.0],
        vec![0.5, 4.0, 4.0, 6.0],
    ];
    let g = RunGroup::new(&runs).unwrap();
    let mut all = pooled(&runs);
    all.sort_unstable_by(f64::total_cmp);
    assert_eq!(g.pooled_sorted(), &all[..]);
    assert_eq!(g.n_runs(), 3);
    assert_eq!(g.run_medians(), &[2.0, 6.0, 4.0]);
    assert_eq!(g.median(), 3.0);
    // (6 - 2) / 4
    assert_eq!(g.spread(), Some(1.0));
    assert_eq!(RunGroup::new(&[vec![1.0, 5.0]]).unwrap().spread(), None);
}

#[test]
fn run_group_rejects_bad_input_naming_the_run() {
    let none: [Vec<f64>; 0] = [];
    assert!(matches!(
        RunGroup::new(&none),
        Err(Error::InvalidArgument(_))
    ));
    let err = RunGroup::new(&[vec![1.0], vec![]]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.starts_with("run 1: no samples")),
        "{err}"
    );
    let err = RunGroup::new(&[vec![1.0], vec![2.0, f64::NAN]]).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.starts_with("run 1: sample 1")),
        "{err}"
    );
    // One run: the one-sample errors, unchanged.
    assert_eq!(
        RunGroup::new(&[Vec::<f64>::new()]).unwrap_err(),
        Error::Empty
    );
    assert_eq!(
        RunGroup::new(&[vec![f64::INFINITY]]).unwrap_err(),
        Error::NonFinite { index: 0 }
    );
    let a = RunGroup::new(&[vec![1.0], vec![0.0, 2.0]]).unwrap();
    let b = RunGroup::new(&[vec![1.0]]).unwrap();
    assert!(matches!(
        hierarchical_ratio_ci(&a, &b, Statistic::Median, 10, 0.95, 0),
        Err(Error::InvalidArgument(_))
    ));
    for (resamples, confidence) in [(0, 0.95), (10, 1.0)] {
        assert!(matches!(
            hierarchical_ratio_ci(&b, &b, Statistic::Median, resamples, confidence, 0),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn hierarchical_is_wider_than_pooled_when_run_medians_differ() {
    let mut g = Gauss::new(11);
    // Runs 3% apart (between) with 1% noise inside each run.
    let a = runs_of(&mut g, 3, 400, 1e-3, 0.03, 0.01);
    let b = runs_of(&mut g, 3, 400, 1e-3, 0.03, 0.01);
    let (ga, gb) = (RunGroup::new(&a).unwrap(), RunGroup::new(&b).unwrap());
    assert!(ga.spread().unwrap() > 0.01 && gb.spread().unwrap() > 0.01);
    let (hl, hh) = hierarchical_ratio_ci(&ga, &gb, Statistic::Median, 4000, 0.95, 5).unwrap();
    let (pl, ph) =
        bootstrap_ratio_ci(&pooled(&a), &pooled(&b), Statistic::Median, 4000, 0.95, 5).unwrap();
    assert!(
        hh - hl > 3.0 * (ph - pl),
        "hierarchical ({hl}, {hh}) pooled ({pl}, {ph})"
    );
    // Both intervals are around the same point estimate.
    let ratio = gb.median() / ga.median();
    assert!(hl <= ratio && ratio <= hh && pl <= ratio && ratio <= ph);
    // Runs that agree: the two levels add little to the pooled width.
    let a = runs_of(&mut g, 3, 400, 1e-3, 0.0, 0.01);
    let b = runs_of(&mut g, 3, 400, 1e-3, 0.0, 0.01);
    let (ga, gb) = (RunGroup::new(&a).unwrap(), RunGroup::new(&b).unwrap());
    let (hl, hh) = hierarchical_ratio_ci(&ga, &gb, Statistic::Median, 4000, 0.95, 5).unwrap();
    let (pl, ph) =
        bootstrap_ratio_ci(&pooled(&a), &pooled(&b), Statistic::Median, 4000, 0.95, 5).unwrap();
    let w = (hh - hl) / (ph - pl);
    assert!(
        (0.8..2.0).contains(&w),
        "width ratio {w}: ({hl}, {hh}) vs ({pl}, {ph})"
    );
}

#[test]
fn hierarchical_covers_the_truth_where_pooling_does_not() {
    // A/A experiments with 2% between-run noise: the true ratio is 1.
    let mut g = Gauss::new(2024);
    let (trials, mut covered_h, mut covered_p) = (60, 0, 0);
    for t in 0..trials {
        let a = runs_of(&mut g, 5, 200, 1e-3, 0.02, 0.01);
        let b = runs_of(&mut g, 5, 200, 1e-3, 0.02, 0.01);
        let (ga, gb) = (RunGroup::new(&a).unwrap(), RunGroup::new(&b).unwrap());
        let (hl, hh) = hierarchical_ratio_ci(&ga, &gb, Statistic::Median, 1000, 0.95, t).unwrap();
        let (pl, ph) =
            bootstrap_ratio_ci(&pooled(&a), &pooled(&b), Statistic::Median, 1000, 0.95, t).unwrap();
        covered_h += usize::from(hl <= 1.0 && 1.0 <= hh);
        covered_p += usize::from(pl <= 1.0 && 1.0 <= ph);
    }
    // Nominal 95%.
    assert!(
        covered_h >= 52,
        "hierarchical covered {covered_h} of {trials}"
    );
    assert!(covered_p <= 30, "pooled covered {covered_p} of {trials}");
    // Three runs per side: the few-runs inflation keeps the coverage up.
    let mut covered = 0;
    for t in 0..trials {
        let a = RunGroup::new(&runs_of(&mut g, 3, 200, 1e-3, 0.02, 0.005)).unwrap();
        let b = RunGroup::new(&runs_of(&mut g, 3, 200, 1e-3, 0.02, 0.005)).unwrap();
        let (lo, hi) = hierarchical_ratio_ci(&a, &b, Statistic::Median, 1000, 0.95, t).unwrap();
        covered += usize::from(lo <= 1.0 && 1.0 <= hi);
    }
    assert!(covered >= 52, "three runs covered {covered} of {trials}");
}

#[test]
fn normal_and_student_quantiles_match_scipy() {
    // scipy.stats.norm.ppf((1 + c) / 2) and scipy.stats.t.ppf((1 + c) / 2, nu).
    let z = [
        (0.95, 1.959_963_984_540_054),
        (0.99, 2.575_829_303_548_900_4),
    ];
    for (c, want) in z {
        let got = student::normal_central_quantile(c).unwrap();
        assert!(close(got, want, 1e-12), "z({c}) = {got}");
    }
    let t = [
        (0.95, 1, 12.706_204_736_174_694),
        (0.95, 2, 4.302_652_729_749_462),
        (0.95, 3, 3.182_446_305_283_707_8),
        (0.95, 4, 2.776_445_105_197_793_4),
        (0.95, 5, 2.570_581_835_636_314_6),
        (0.95, 8, 2.306_004_135_204_166),
        (0.95, 20, 2.085_963_447_265_864),
        (0.95, 100, 1.983_971_518_523_551_8),
        (0.9, 4, 2.131_846_786_326_649_5),
        (0.99, 1, 63.656_741_162_871_526),
        (0.99, 3, 5.840_909_309_733_355),
        (0.5, 1, 1.0),
        (0.5, 2, 0.816_496_580_927_726_1),
    ];
    for (c, nu, want) in t {
        let got = student::student_central_quantile(c, nu).unwrap();
        assert!(close(got, want, 1e-12), "t({c}, {nu}) = {got}, want {want}");
    }
    assert!(student::student_central_quantile(0.95, 0).is_err());
    assert!(student::student_central_quantile(1.0, 3).is_err());
    assert!(student::normal_central_quantile(0.0).is_err());
    // The factors of the module docs.
    let (c3, _) = run_factors(3, 3, 0.95).unwrap();
    assert!(close(c3, 1.734_948_667_482_408_2, 1e-12), "{c3}");
    assert_eq!(run_factors(1, 1, 0.95).unwrap(), (1.0, 1.0));
    let (c2, c1) = run_factors(2, 1, 0.95).unwrap();
    assert!(close(c2, 9.168_172_071_490_575, 1e-12) && c1 == 1.0, "{c2}");
}

#[test]
fn few_runs_are_inflated_on_the_log_scale() {
    // Two constant runs at 1 and 4 (geometric mean 2) against one run: the
    // pool holds 2 * 2^(-c) and 2 * 2^c with c = sqrt(2) t_1 / z. Drawn runs
    // give 2*2^(-c) (p = 1/4), the mean of both (1/2), 2*2^c (1/4), so the
    // 95% interval of 1 / median is exactly [2^(-1-c), 2^(c-1)].
    let a = RunGroup::new(&[vec![1.0; 51], vec![4.0; 51]]).unwrap();
    let b = RunGroup::new(&[vec![1.0; 7]]).unwrap();
    let (lo, hi) = hierarchical_ratio_ci(&a, &b, Statistic::Median, 4000, 0.95, 1).unwrap();
    let c = 9.168_172_071_490_575;
    assert!(close(lo, 2f64.powf(-1.0 - c), 1e-9), "{lo}");
    assert!(close(hi, 2f64.powf(c - 1.0), 1e-9), "{hi}");
    // The point estimates are the samples as measured.
    assert_eq!((a.median(), a.run_medians()), (2.5, &[1.0, 4.0][..]));
    assert_eq!(a.spread(), Some(1.2));
    // A run median that is not positive: nothing is rescaled, so the
    // interval of b/a with the groups swapped spans exactly the two runs.
    let neg = RunGroup::new(&[vec![-1.0; 51], vec![4.0; 51]]).unwrap();
    let one = RunGroup::new(&[vec![2.0; 5]]).unwrap();
    let (lo, hi) = hierarchical_ratio_ci(&one, &neg, Statistic::Median, 4000, 0.95, 1).unwrap();
    assert_eq!((lo, hi), (-0.5, 2.0));
}

#[test]
fn hierarchical_is_independent_of_thread_count() {
    let mut g = Gauss::new(3);
    let a = RunGroup::new(&runs_of(&mut g, 4, 301, 1.0, 0.02, 0.01)).unwrap();
    let b = RunGroup::new(&runs_of(&mut g, 2, 250, 1.0, 0.02, 0.01)).unwrap();
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| hierarchical_ratio_ci(&a, &b, Statistic::Median, 1000, 0.95, 9).unwrap())
    };
    assert_eq!(run(1), run(3));
    let m = hierarchical_ratio_ci(&a, &b, Statistic::Mean, 1000, 0.95, 9).unwrap();
    assert!(m.0 < m.1 && m.0 > 0.8 && m.1 < 1.25, "{m:?}");
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

    #[test]
    fn hierarchical_with_one_run_is_the_one_sample_bootstrap(
        a in prop::collection::vec(0.1..1e3_f64, 1..300),
        b in prop::collection::vec(-1e3..1e3_f64, 1..300),
        seed in any::<u64>(),
        mean in any::<bool>(),
    ) {
        let statistic = if mean { Statistic::Mean } else { Statistic::Median };
        let (ga, gb) = (RunGroup::new(&[&a[..]]).unwrap(), RunGroup::new(&[&b[..]]).unwrap());
        let h = hierarchical_ratio_ci(&ga, &gb, statistic, 300, 0.9, seed).unwrap();
        let p = bootstrap_ratio_ci(&a, &b, statistic, 300, 0.9, seed).unwrap();
        // Bit for bit: the same draws in the same order.
        prop_assert_eq!(h.0.to_bits(), p.0.to_bits());
        prop_assert_eq!(h.1.to_bits(), p.1.to_bits());
    }
}

// ------------------------------------------------- one group (rounds of a run)

#[test]
fn one_group_of_one_run_is_the_ordinary_bootstrap() {
    let mut g = Gauss::new(3);
    let run = runs_of(&mut g, 1, 301, 1e-3, 0.0, 0.02);
    let group = RunGroup::new(&run).unwrap();
    for statistic in [Statistic::Median, Statistic::Mean] {
        assert_eq!(
            hierarchical_ci(&group, statistic, 2000, 0.95, 7).unwrap(),
            bootstrap_ci(&run[0], statistic, 2000, 0.95, 7).unwrap()
        );
    }
    assert_eq!(group_factor(1, 0.95).unwrap(), 1.0);
    // sqrt(3 / 2) * t(0.975, 2) / z(0.975) = 1.2247 * 4.3027 / 1.9600
    assert!(close(group_factor(3, 0.95).unwrap(), 2.6887, 1e-4));
    assert!(group_factor(3, 1.5).is_err());
    assert!(hierarchical_ci(&group, Statistic::Median, 0, 0.95, 7).is_err());
}

#[test]
fn rounds_interval_covers_the_truth_where_one_round_does_not() {
    // Three rounds whose levels differ by 3% (process states), 1% noise within.
    let mut g = Gauss::new(77);
    let (trials, mut covered, mut covered_one) = (80, 0, 0);
    for t in 0..trials {
        let rounds = runs_of(&mut g, 3, 300, 1e-3, 0.03, 0.01);
        let a = analyze_rounds(&rounds, 0.95, 1000, t).unwrap();
        covered += usize::from(a.pooled.ci_low <= 1e-3 && 1e-3 <= a.pooled.ci_high);
        let one = analyze(&rounds[0], 0.95).unwrap();
        covered_one += usize::from(one.ci_low <= 1e-3 && 1e-3 <= one.ci_high);
    }
    assert!(covered >= 72, "rounds covered {covered} of {trials}");
    assert!(
        covered_one <= 30,
        "one round covered {covered_one} of {trials}"
    );
}

#[test]
fn analyze_rounds_pools_the_summary_and_reports_the_spread() {
    let rounds = vec![
        vec![1.0, 3.0, 2.0],
        vec![4.0, 5.0, 6.0],
        vec![2.5, 2.0, 3.0],
    ];
    let a = analyze_rounds(&rounds, 0.95, 500, 1).unwrap();
    let flat = analyze(&rounds.concat(), 0.95).unwrap();
    assert_eq!(a.pooled.summary, flat.summary);
    assert_eq!(a.pooled.drift, flat.drift);
    assert_eq!(a.round_medians, vec![2.0, 5.0, 2.5]);
    // (5 - 2) / 2.5
    assert!(close(a.spread.unwrap(), 1.2, 1e-12));
    assert!(
        a.pooled.ci_low <= a.pooled.summary.median && a.pooled.summary.median <= a.pooled.ci_high
    );
    assert_eq!(
        analyze_rounds(&rounds[..1], 0.95, 500, 1).unwrap().spread,
        None
    );
    let err = analyze_rounds(&[vec![1.0], vec![]], 0.95, 500, 1).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.starts_with("run 1")),
        "{err}"
    );
}

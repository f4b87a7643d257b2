use std::time::{Duration, Instant};

use super::*;
use crate::stats::rng::Xoshiro256PlusPlus;
use crate::Error;

/// Fake workload: `k × per_iter` seconds, times `(1 + noise × u)` with `u`
/// uniform in [-1, 1); returns instantly.
fn fake(per_iter: f64, noise: f64, seed: u64) -> impl FnMut(u64) -> crate::Result<f64> {
    let mut rng = Xoshiro256PlusPlus::from_seed_stream(seed, 0);
    move |k| Ok(k as f64 * per_iter * (1.0 + noise * (2.0 * rng.next_f64() - 1.0)))
}

fn quick() -> SamplerConfig {
    SamplerConfig {
        warmup_s: 0.01,
        max_time_s: 1.0,
        ..SamplerConfig::default()
    }
}

#[test]
fn exact_fake_converges_at_min_samples() {
    let r = Sampler::new(quick())
        .unwrap()
        .run(&mut fake(1e-4, 0.0, 0))
        .unwrap();
    assert!(r.converged);
    assert_eq!(r.stop_reason, StopReason::Converged);
    assert_eq!(r.samples.len(), 10);
    assert!((r.median_s - 1e-4).abs() < 1e-15);
    assert!(r.rel_ci.abs() < 1e-12);
    // k: one sample must last >= 1 ms at 0.1 ms per iteration.
    assert!(r.k >= 10 && r.k <= 12, "k = {}", r.k);
    assert!(r.warmup_iters >= 1);
}

#[test]
fn noisy_fake_converges_near_truth() {
    let r = Sampler::new(quick())
        .unwrap()
        .run(&mut fake(2e-6, 0.05, 1))
        .unwrap();
    assert!(r.converged, "{r:?}");
    assert!(r.rel_ci <= 0.01);
    assert!((r.median_s / 2e-6 - 1.0).abs() < 0.01);
    assert!(r.ci_low_s <= r.median_s && r.median_s <= r.ci_high_s);
    assert!(r.k as f64 * 2e-6 >= 1e-3 * 0.9);
}

#[test]
fn impossible_target_stops_on_time_budget() {
    let cfg = SamplerConfig {
        target_rel_ci: 0.0,
        max_time_s: 0.2,
        ..quick()
    };
    let r = Sampler::new(cfg)
        .unwrap()
        .run(&mut fake(1e-3, 0.1, 2))
        .unwrap();
    assert_eq!(r.stop_reason, StopReason::TimeBudget);
    assert!(!r.converged);
    // 0.2 s of reported time at >= 1 ms per sample.
    assert!(
        r.samples.len() >= 100 && r.samples.len() <= 210,
        "{}",
        r.samples.len()
    );
}

#[test]
fn max_samples_stops_sampling() {
    let cfg = SamplerConfig {
        target_rel_ci: 0.0,
        min_samples: 5,
        max_samples: 20,
        ..quick()
    };
    let r = Sampler::new(cfg)
        .unwrap()
        .run(&mut fake(1e-3, 0.1, 3))
        .unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxSamples);
    assert_eq!(r.samples.len(), 20);
}

#[test]
fn single_sample_has_infinite_rel_ci() {
    let cfg = SamplerConfig {
        min_samples: 1,
        max_samples: 1,
        ..quick()
    };
    let r = Sampler::new(cfg)
        .unwrap()
        .run(&mut fake(1e-3, 0.0, 0))
        .unwrap();
    assert_eq!(r.samples.len(), 1);
    assert!(r.rel_ci.is_infinite() && !r.converged);
    assert!(r.ci_low_s.is_infinite() && r.ci_high_s.is_infinite());
}

#[test]
fn too_few_samples_for_the_confidence_never_converge() {
    // 5 equal samples: zero-width (min, max), but no 95% interval exists.
    let cfg = SamplerConfig {
        min_samples: 2,
        max_samples: 5,
        ..quick()
    };
    let r = Sampler::new(cfg)
        .unwrap()
        .run(&mut fake(1e-3, 0.0, 0))
        .unwrap();
    assert_eq!(r.stop_reason, StopReason::MaxSamples);
}

#[test]
fn warm_up_runs_at_least_one_iteration() {
    let cfg = SamplerConfig {
        warmup_s: 0.0,
        ..quick()
    };
    let r = Sampler::new(cfg)
        .unwrap()
        .run(&mut fake(1e-3, 0.0, 0))
        .unwrap();
    assert_eq!(r.warmup_iters, 1);
}

#[test]
fn warm_up_grows_batches_within_budget() {
    let mut calls = Vec::new();
    let mut w = |k: u64| {
        calls.push(k);
        Ok(k as f64 * 1e-3)
    };
    let cfg = SamplerConfig {
        warmup_s: 0.1,
        ..quick()
    };
    let r = Sampler::new(cfg).unwrap().run(&mut w).unwrap();
    // 1 + 2 + 4 + 8 + 16 = 31 ms, then at most the 69 ms that still fit.
    assert_eq!(&calls[..6], &[1, 2, 4, 8, 16, 32]);
    assert!(r.warmup_iters >= 100 && r.warmup_iters <= 101);
}

#[test]
fn workload_errors_propagate() {
    let mut calls = 0;
    let mut w = |k: u64| {
        calls += 1;
        if calls == 30 {
            Err(Error::Workload("boom".into()))
        } else {
            Ok(k as f64 * 1e-3 * (1.0 + 0.01 * f64::from(calls % 7)))
        }
    };
    let err = Sampler::new(quick()).unwrap().run(&mut w).unwrap_err();
    assert_eq!(err, Error::Workload("boom".into()));
}

#[test]
fn non_finite_batch_time_is_rejected() {
    let mut w = |_k: u64| Ok(f64::NAN);
    assert!(matches!(
        Sampler::new(quick()).unwrap().run(&mut w),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn bad_settings_are_rejected() {
    let bad = [
        SamplerConfig {
            min_samples: 0,
            ..quick()
        },
        SamplerConfig {
            max_samples: 3,
            ..quick()
        },
        SamplerConfig {
            max_time_s: 0.0,
            ..quick()
        },
        SamplerConfig {
            warmup_s: f64::NAN,
            ..quick()
        },
        SamplerConfig {
            confidence: 1.0,
            ..quick()
        },
    ];
    for cfg in bad {
        assert!(
            matches!(Sampler::new(cfg), Err(Error::InvalidArgument(_))),
            "{cfg:?}"
        );
    }
}

#[test]
fn clock_resolution_is_small_and_positive() {
    let r = clock_resolution();
    assert!(r > 0.0 && r < 1e-4, "{r}");
    let o = rust_loop_overhead(100_000);
    assert!((0.0..1e-7).contains(&o), "{o}");
}

fn spin(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {}
}

#[test]
fn real_spin_workload_is_measured_within_a_few_percent() {
    let truth = 200e-6;
    let mut w = HostLoop::new(|| spin(Duration::from_secs_f64(truth)));
    let cfg = SamplerConfig {
        warmup_s: 0.05,
        max_time_s: 0.5,
        ..SamplerConfig::default()
    };
    let r = Sampler::new(cfg).unwrap().run(&mut w).unwrap();
    // Loose bound: the test machine is shared; the Python tests check 1%.
    assert!((r.median_s / truth - 1.0).abs() < 0.05, "{r:?}");
    assert!(r.k >= 5);
}

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
#[test]
fn add_chain_performs_every_addition() {
    assert_eq!(core_clock::add_chain(1), 64);
    assert_eq!(core_clock::add_chain(1000), 64_000);
}

#[test]
fn core_clock_is_a_plausible_cpu_frequency() {
    let hz = core_clock_hz(0.005, 3);
    assert_eq!(hz.is_some(), core_clock_supported());
    if let Some(hz) = hz {
        // Any core of the last 15 years, even heavily shared, runs 0.2-7 GHz.
        assert!((0.2e9..7.0e9).contains(&hz), "{hz} Hz");
    }
}

#[test]
fn min_samples_is_a_floor_under_the_time_budget() {
    // 0.2 s of budget at >= 1 ms per sample would stop near 200 samples.
    let cfg = SamplerConfig {
        target_rel_ci: 0.0,
        max_time_s: 0.2,
        min_samples: 400,
        ..quick()
    };
    let r = Sampler::new(cfg)
        .unwrap()
        .run(&mut fake(1e-3, 0.1, 2))
        .unwrap();
    assert_eq!(r.stop_reason, StopReason::TimeBudget);
    assert_eq!(r.samples.len(), 400);
}

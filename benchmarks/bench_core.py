"""Figures for the native measurement core (accelbench._core).

Run: ``python benchmarks/bench_core.py [--quick]``. Prints four tables:

1. confidence interval of the median of 10^4 seeded lognormal samples:
   Rust exact order-statistic CI and Rust bootstrap (10^5 resamples) against
   ``scipy.stats.bootstrap(method="percentile", n_resamples=100_000)``;
2. Rust ``summarize`` against the equivalent numpy pipeline on 10^6 samples;
3. per-iteration loop overhead of the Rust sampler against ``timeit``;
4. a sweep of busy-wait callables sampled with the default plan.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats as sps

from accelbench import _core as core


def best_of(fn: Callable[[], Any], repeat: int, number: int = 1) -> tuple[float, Any]:
    """Fastest mean time per call over `repeat` rounds of `number` calls, and the last result."""
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            result = fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best, result


def fmt_s(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:8.3f} {unit}"
    return f"{seconds / 1e-9:8.3f} ns"


def section(title: str) -> None:
    print(f"\n== {title} " + "=" * max(0, 74 - len(title)))


def bench_ci(n: int, resamples: int) -> None:
    section(f"1. CI of the median: n={n}, {resamples} resamples")
    x = np.random.default_rng(2024).lognormal(mean=-9.0, sigma=0.25, size=n)
    t_exact, exact = best_of(lambda: core.median_ci(x), repeat=5, number=20)
    t_boot, boot = best_of(lambda: core.bootstrap_ci(x, resamples=resamples, seed=0), repeat=3)
    # batch bounds scipy's memory (the default materialises resamples x n
    # float64 and int64 arrays at once: 16 GB here) without slowing it down.
    t0 = time.perf_counter()
    ref = sps.bootstrap(
        (x,),
        np.median,
        method="percentile",
        n_resamples=resamples,
        batch=min(resamples, 10_000),
        random_state=np.random.default_rng(0),
    ).confidence_interval
    t_scipy = time.perf_counter() - t0
    width = ref.high - ref.low
    print(
        f"{'method':<34}{'time':>12}{'speedup':>10}   {'low':>12} {'high':>12}"
        f" {'Δlow/w':>8} {'Δhigh/w':>8}"
    )
    rows = [
        ("scipy bootstrap (percentile)", t_scipy, (ref.low, ref.high)),
        ("Rust bootstrap_ci (percentile)", t_boot, boot),
        ("Rust median_ci (exact, binomial)", t_exact, exact),
    ]
    for name, t, (lo, hi) in rows:
        print(
            f"{name:<34}{fmt_s(t):>12}{t_scipy / t:>9.1f}x   {lo:12.6e} {hi:12.6e}"
            f" {(lo - ref.low) / width:+8.3f} {(hi - ref.high) / width:+8.3f}"
        )
    print(
        f"(Δ: difference to scipy's interval, in units of its width w = {width:.3e}; "
        f"median = {np.median(x):.6e})"
    )


def bench_summary(n: int) -> None:
    section(f"2. summary statistics of n={n} samples")
    x = np.random.default_rng(7).lognormal(mean=-9.0, sigma=0.25, size=n)

    def numpy_pipeline() -> tuple[float, ...]:
        q = np.percentile(x, [5, 25, 50, 75, 95, 99])
        return (
            float(np.mean(x)),
            float(np.std(x, ddof=1)),
            float(x.min()),
            float(x.max()),
            *map(float, q),
        )

    t_np, ref = best_of(numpy_pipeline, repeat=7)
    t_rs, s = best_of(lambda: core.summarize(x), repeat=7)
    t_an, _ = best_of(lambda: core.analyze(x), repeat=7)
    ours = (s.mean, s.std, s.min, s.max, s.p5, s.q1, s.median, s.q3, s.p95, s.p99)
    max_rel = max(abs(a - b) / abs(b) for a, b in zip(ours, ref, strict=True))
    print(f"{'pipeline':<58}{'time':>12}{'vs numpy':>10}")
    print(f"{'numpy mean, std, min, max, percentile x6':<58}{fmt_s(t_np):>12}{1.0:>9.2f}x")
    print(f"{'Rust summarize (same figures)':<58}{fmt_s(t_rs):>12}{t_np / t_rs:>9.2f}x")
    print(
        f"{'Rust analyze (+ exact median CI, outliers, drift)':<58}{fmt_s(t_an):>12}"
        f"{t_np / t_an:>9.2f}x"
    )
    print(f"largest relative difference to numpy: {max_rel:.1e}")


def bench_overhead(iterations: int) -> float:
    section("3. per-iteration loop overhead on an empty callable")

    def empty() -> None:
        pass

    rust = min(core.loop_overhead(iterations) for _ in range(3))
    py = min(timeit.repeat(empty, number=iterations, repeat=5)) / iterations
    print(f"{'harness':<44}{'per iteration':>14}")
    print(f"{'Rust sampler batch loop (call0 + check)':<44}{fmt_s(rust):>14}")
    print(f"{'timeit.repeat(empty, number=N)':<44}{fmt_s(py):>14}")
    print(
        f"clock resolution: {fmt_s(core.clock_resolution()).strip()}   "
        f"ratio Rust/timeit: {rust / py:.2f}"
    )
    return rust


def busy_wait(seconds: float) -> Callable[[], None]:
    perf_counter = time.perf_counter

    def spin() -> None:
        t0 = perf_counter()
        while perf_counter() - t0 < seconds:
            pass

    return spin


def bench_sweep(cases: list[float], max_time_s: float, warmup_s: float, floor: float) -> None:
    section(f"4. busy-wait sweep (target 1%, max_time_s={max_time_s}, warmup_s={warmup_s})")
    print(
        f"{'truth':>10} {'median':>11} {'err':>7} {'timeit':>11} {'rel_ci':>7} {'n':>6} {'k':>6} "
        f"{'conv':>5} {'stop':>12} {'wall':>7} {'floor':>9} {'floor%':>7}"
    )
    t_all = time.perf_counter()
    converged = 0
    errors = []
    for truth in cases:
        fn = busy_wait(truth)
        r = core.sample(fn, max_time_s=max_time_s, warmup_s=warmup_s)
        # Reference: median of 20 timeit rounds of the same k calls.
        ref = statistics.median(timeit.repeat(fn, number=r.k, repeat=20)) / r.k
        err = r.median_s / truth - 1
        errors.append(abs(err))
        converged += r.converged
        print(
            f"{fmt_s(truth):>10} {fmt_s(r.median_s):>11} {err:+7.2%} {fmt_s(ref):>11} "
            f"{r.rel_ci:7.2%} "
            f"{len(r.samples):>6} {r.k:>6} {r.converged!s:>5} {r.stop_reason:>12} "
            f"{r.elapsed_s:6.2f}s {fmt_s(floor):>9} {floor / truth:7.3%}"
        )
    total = time.perf_counter() - t_all
    print(
        f"converged: {converged}/{len(cases)}   total wall: {total:.1f} s   "
        f"median |err|: {statistics.median(errors):.2%}"
    )
    print(
        "(err: median vs the nominal busy-wait time, which the spin loop itself overshoots"
        " by up to one perf_counter() round plus the call; timeit: median of 20"
        " timeit rounds of k calls, the same overshoot; floor: loop overhead per"
        " iteration)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    if args.quick:
        bench_ci(n=2_000, resamples=5_000)
        bench_summary(n=100_000)
        floor = bench_overhead(iterations=100_000)
        bench_sweep([5e-6, 100e-6, 2e-3], max_time_s=1.0, warmup_s=0.1, floor=floor)
    else:
        bench_ci(n=10_000, resamples=100_000)
        bench_summary(n=1_000_000)
        floor = bench_overhead(iterations=1_000_000)
        sweep = [2e-6, 5e-6, 20e-6, 100e-6, 1e-3, 5e-3, 20e-3]
        bench_sweep(sweep, max_time_s=5.0, warmup_s=0.5, floor=floor)


if __name__ == "__main__":
    main()

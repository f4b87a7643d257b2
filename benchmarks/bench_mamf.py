"""bf16 matmul: best shape of a mamf-finder-style sweep vs accelbench on that shape.

Run: ``python benchmarks/bench_mamf.py [--dtype bf16] [--quick]`` on a CUDA/ROCm GPU.

Baseline: a plain torch loop in the style of stas00/ml-engineering's
mamf-finder (maximum achievable matmul FLOPS): for each shape, 50 warm-up
launches, then the mean of N launches timed by one ``torch.cuda.Event`` pair
(N = 100, or fewer for shapes over 0.2 s). The sweep is guided, not
exhaustive: square sizes 1024..16384 step 1024 first, then M, N, K around the
best square (halves, doubles and a K series). Layout as accelbench's matmul
family: ``A[M,K] @ B[K,N]`` row-major into a preallocated ``C``, inputs
standard normal (mamf-finder transposes B; the layout changes the cuBLAS
kernel, so both sides here use the same one).

The best shape is then measured by the plain loop again and by accelbench
(``measure_case``, the path of ``accelbench run``: adaptive sampler, median,
device events) twice: with burst settings as short as the plain loop, and
with its default settings, whose seconds of continuous load let the board's
power cap lower the clocks (telemetry printed beside). Ratios are printed.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from _gpu_common import accelbench_row, matmul_case
from accelbench.devices import resolve_device
from accelbench.workloads.base import torch_dtype


def plain_loop(m: int, n: int, k: int, dtype: torch.dtype, iters: int = 100,
               warmup: int = 50) -> float:
    """Mean seconds per matmul, mamf-finder style (events around the whole loop)."""
    a = torch.randn(m, k, device="cuda", dtype=torch.float32).to(dtype)
    b = torch.randn(k, n, device="cuda", dtype=torch.float32).to(dtype)
    c = torch.empty(m, n, device="cuda", dtype=dtype)
    for _ in range(warmup):
        torch.matmul(a, b, out=c)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    torch.matmul(a, b, out=c)
    end.record()
    end.synchronize()
    one = start.elapsed_time(end) * 1e-3
    n_iter = max(10, min(iters, int(0.2 / max(one, 1e-9))))
    start.record()
    for _ in range(n_iter):
        torch.matmul(a, b, out=c)
    end.record()
    end.synchronize()
    return float(start.elapsed_time(end)) * 1e-3 / n_iter


def tflops(m: int, n: int, k: int, seconds: float) -> float:
    return 2 * m * n * k / seconds / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--quick", action="store_true", help="coarser sweep")
    args = parser.parse_args()
    dtype = torch_dtype(args.dtype)
    device = resolve_device("cuda")
    print(f"device: {device.name}; torch {torch.__version__}; dtype {args.dtype}")
    results: dict[tuple[int, int, int], float] = {}
    t0 = time.perf_counter()
    step = 2048 if args.quick else 1024
    for s in range(step, 16384 + 1, step):
        results[(s, s, s)] = plain_loop(s, s, s, dtype)
    m0 = max(results, key=lambda shape: tflops(*shape, results[shape]))[0]
    sides = sorted({x for x in (m0 // 2, m0, 2 * m0) if 1024 <= x <= 16384})
    ks = sorted({x for x in (m0 // 2, m0, 2 * m0, 4096, 8192, 12288, 13312, 16384)
                 if 1024 <= x <= 16384})
    for m, n, k in itertools.product(sides, sides, ks):
        if (m, n, k) not in results:
            results[(m, n, k)] = plain_loop(m, n, k, dtype)
    elapsed = time.perf_counter() - t0
    ranked = sorted(results, key=lambda shape: -tflops(*shape, results[shape]))
    print(f"sweep: {len(results)} shapes in {elapsed:.0f} s; top 5 (plain loop, mean of N):")
    for shape in ranked[:5]:
        print(f"  M={shape[0]:>5} N={shape[1]:>5} K={shape[2]:>5}  "
              f"{tflops(*shape, results[shape]):7.1f} TFLOP/s")
    best = ranked[0]
    sweep_tf = tflops(*best, results[best])
    case = matmul_case(*best, dtype=args.dtype)
    time.sleep(2.0)  # let the clocks recover between the sweep and the comparison
    again = tflops(*best, plain_loop(*best, dtype))
    # Burst settings: about as long as the plain loop's 50 + 100 launches, so
    # both see the same (boost) clocks; default settings: 0.5 s warm-up and up
    # to 3 s of samples, long enough for the board's power cap to act.
    burst = accelbench_row(case, device, warmup=0.01, max_case_time=0.03, min_samples=10,
                           target_rel_ci=0.005)
    time.sleep(2.0)
    default = accelbench_row(case, device)
    print(f"best shape M={best[0]} N={best[1]} K={best[2]}:")
    print(f"  sweep (plain loop, mean)      {sweep_tf:7.1f} TFLOP/s")
    print(f"  plain loop again              {again:7.1f} TFLOP/s")
    for label, row in (("accelbench burst settings", burst), ("accelbench default", default)):
        ours = float(row["tflops"])
        print(f"  {label:<28}  {ours:7.1f} TFLOP/s  (median of {row['n_samples']} samples x "
              f"{row['iters_per_sample']}, CI {row['rel_ci'] * 100:.2f}%; "
              f"/sweep {ours / sweep_tf:.4f}, /plain again {ours / again:.4f}; "
              f"SM {row.get('sm_clock_mhz')} MHz, {row.get('power_w'):.0f} W, "
              f"{row.get('temp_c')} C, throttled {row.get('throttled_frac'):.2f})")


if __name__ == "__main__":
    main()

"""bf16 matmul: best shape of a mamf-finder-style sweep vs accelbench on that shape.

Run: ``python benchmarks/bench_mamf.py [--device auto] [--dtype bf16] [--quick]``.

Baseline: a plain torch loop in the style of stas00/ml-engineering's
mamf-finder (maximum achievable matmul FLOPS): for each shape, warm-up
launches (50 on a GPU, fewer when one launch is long: at least 0.2 s or 3
launches), then the mean of N launches timed by one event pair (CUDA/ROCm)
or the host clock between two synchronisations (other devices); N = 100, or
fewer for shapes over 0.2 s (at least 10). The sweep is guided, not
exhaustive: square sizes first (GPU 1024..16384 step 1024; CPU 256..4096
step 256), then M, N, K around the best square (halves, doubles and a K
series). Layout as accelbench's matmul family: ``A[M,K] @ B[K,N]`` row-major
into a preallocated ``C``, inputs standard normal (mamf-finder transposes B;
the layout changes the BLAS kernel, so both sides here use the same one).

The best shape is then measured by the plain loop again and by accelbench
(``measure_case``, the path of ``accelbench run``: adaptive sampler, median)
twice: with burst settings as short as the plain loop, and with its default
settings, whose seconds of continuous load let a GPU's power cap lower the
clocks (telemetry printed beside where the device reports it). Ratios are
printed; the target is accelbench within 2% of the sweep.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from _device_common import (
    accelbench_row,
    device_argument,
    fmt_opt,
    is_cuda,
    matmul_case,
    open_device,
    plain_seconds,
)
from accelbench.devices import Device
from accelbench.workloads.base import torch_dtype


def plain_loop(device: Device, m: int, n: int, k: int, dtype: torch.dtype) -> float:
    """Mean seconds per matmul, mamf-finder style (one clock pair around the whole loop)."""
    tdev = device.torch_device
    a = torch.randn(m, k, device=tdev, dtype=torch.float32).to(dtype)
    b = torch.randn(k, n, device=tdev, dtype=torch.float32).to(dtype)
    c = torch.empty(m, n, device=tdev, dtype=dtype)

    def mm() -> None:
        torch.matmul(a, b, out=c)

    one = plain_seconds(device, mm, 1)
    warmup = max(3, min(50, int(0.2 / max(one, 1e-9))))
    plain_seconds(device, mm, warmup)
    n_iter = max(10, min(100, int(0.2 / max(one, 1e-9))))
    return plain_seconds(device, mm, n_iter) / n_iter


def tflops(m: int, n: int, k: int, seconds: float) -> float:
    return 2 * m * n * k / seconds / 1e12


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    device_argument(parser)
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--quick", action="store_true", help="coarser sweep (double step)")
    parser.add_argument("--max-size", type=int, default=None,
                        help="largest M/N/K of the sweep (default GPU 16384, CPU 4096)")
    args = parser.parse_args()
    dtype = torch_dtype(args.dtype)
    device = open_device(args.device, args.imports)
    gpu = device.spec != "cpu"
    top = args.max_size or (16384 if gpu else 4096)
    step = (1024 if gpu else 256) * (2 if args.quick else 1)
    low = step
    print(f"dtype {args.dtype}; sweep {low}..{top} step {step}; plain loop timed by "
          f"{'events' if is_cuda(device) else 'the host clock'}")
    results: dict[tuple[int, int, int], float] = {}
    t0 = time.perf_counter()
    for s in range(low, top + 1, step):
        results[(s, s, s)] = plain_loop(device, s, s, s, dtype)
    m0 = max(results, key=lambda shape: tflops(*shape, results[shape]))[0]
    sides = sorted({x for x in (m0 // 2, m0, 2 * m0) if low <= x <= top})
    k_series = (top // 4, top // 2, 3 * top // 4, top)
    ks = sorted({x for x in (m0 // 2, m0, 2 * m0, *k_series) if low <= x <= top})
    for m, n, k in itertools.product(sides, sides, ks):
        if (m, n, k) not in results:
            results[(m, n, k)] = plain_loop(device, m, n, k, dtype)
    elapsed = time.perf_counter() - t0
    ranked = sorted(results, key=lambda shape: -tflops(*shape, results[shape]))
    print(f"sweep: {len(results)} shapes in {elapsed:.0f} s; top 5 (plain loop, mean of N):")
    for shape in ranked[:5]:
        print(f"  M={shape[0]:>5} N={shape[1]:>5} K={shape[2]:>5}  "
              f"{tflops(*shape, results[shape]):9.3f} TFLOP/s")
    best = ranked[0]
    sweep_tf = tflops(*best, results[best])
    case = matmul_case(*best, dtype=args.dtype)
    time.sleep(2.0)  # let the clocks recover between the sweep and the comparison
    again = tflops(*best, plain_loop(device, *best, dtype))
    # Burst settings: about as long as the plain loop's launches, so both see
    # the same (boost) clocks; default settings: 0.5 s warm-up and up to 3 s
    # of samples, long enough for a board's power cap to act.
    one = results[best]
    burst = accelbench_row(case, device, warmup=min(0.2, 50 * one),
                           max_case_time=max(0.03, 10 * one), min_samples=10,
                           target_rel_ci=0.005, check=False)
    time.sleep(2.0)
    default = accelbench_row(case, device, check=False)
    print(f"best shape M={best[0]} N={best[1]} K={best[2]}:")
    print(f"  sweep (plain loop, mean)      {sweep_tf:9.3f} TFLOP/s")
    print(f"  plain loop again              {again:9.3f} TFLOP/s")
    for label, row in (("accelbench burst settings", burst), ("accelbench default", default)):
        ours = float(row["tflops"])
        print(f"  {label:<28}  {ours:9.3f} TFLOP/s  (median of {row['n_samples']} samples x "
              f"{row['iters_per_sample']}, CI {row['rel_ci'] * 100:.2f}%; "
              f"/sweep {ours / sweep_tf:.4f}, /plain again {ours / again:.4f}; "
              f"clock {fmt_opt(row.get('sm_clock_mhz'), '.0f', ' MHz')}, "
              f"{fmt_opt(row.get('power_w'), '.0f', ' W')}, "
              f"{fmt_opt(row.get('temp_c'), '.0f', ' C')}, "
              f"throttled {fmt_opt(row.get('throttled_frac'), '.2f')})")


if __name__ == "__main__":
    main()

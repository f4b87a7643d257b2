"""accelbench's all_reduce busbw next to a plain torch.distributed timing loop (CPU, gloo).

Run: ``python benchmarks/bench_collectives.py [--ranks 2] [--sizes 1KiB,64KiB,1MiB,16MiB]``.

In the same invocation, for every size:

* **accelbench**: ``accelbench run --device cpu --world-size N`` on a suite of
  ``all_reduce sum in-place`` cases (adaptive sampler on rank 0, lock-step
  batches, barrier before every sample, slowest rank's median);
* **baseline**: a bare loop in a world spawned with ``torch.multiprocessing``:
  a few warm-up calls, then ``reps`` times barrier + ``iters`` all_reduce calls
  timed with ``time.perf_counter``; per rank the median time per call, the
  case time is the slowest rank's.

Both report busbw = size / time * 2(n-1)/n (nccl-tests). The ratio column
(baseline time / accelbench time) shows what our harness costs or saves:
close to 1 means its control messages and plan do not distort the figure.
"""

from __future__ import annotations

import argparse
import datetime
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import accelbench
from accelbench.workloads.collectives import bus_factor, fmt_size, parse_size


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _baseline_rank(rank: int, n: int, port: int, sizes: list[int], reps: int,
                   out: Any) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // n))
    dist.init_process_group("gloo", rank=rank, world_size=n,
                            timeout=datetime.timedelta(seconds=120))
    results = []
    for size in sizes:
        x = torch.ones(size // 4, dtype=torch.float32)
        for _ in range(5):
            dist.all_reduce(x)
        # iterations per rep so that a rep lasts ~1 ms or more (decided by rank 0)
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(x)
        probe = torch.tensor([time.perf_counter() - t0], dtype=torch.float64)
        dist.broadcast(probe, 0)
        iters = max(1, int(1e-3 / max(float(probe[0]), 1e-7)))
        per_call = []
        for _ in range(reps):
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(iters):
                dist.all_reduce(x)
            per_call.append((time.perf_counter() - t0) / iters)
        median = torch.tensor([statistics.median(per_call)], dtype=torch.float64)
        dist.all_reduce(median, op=dist.ReduceOp.MAX)
        results.append(float(median[0]))
    if rank == 0:
        out.put(results)
    dist.destroy_process_group()


def baseline(n: int, sizes: list[int], reps: int) -> list[float]:
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_baseline_rank, args=(n, _port(), sizes, reps, queue), nprocs=n,
                       start_method="spawn")
    return list(queue.get())


def via_accelbench(n: int, sizes: list[int], max_case_time: float) -> dict[int, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        suite = Path(tmp) / "allreduce.toml"
        listed = ", ".join(str(s) for s in sizes)
        suite.write_text(f'family = "collectives"\n[[case]]\nop = "all_reduce"\n'
                         f'reduce = "sum"\nsizes = [{listed}]\ndtypes = ["fp32"]\n')
        cmd = [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite",
               str(suite), "--world-size", str(n), "--out", tmp, "--quiet",
               "--max-case-time", str(max_case_time), "--warmup", "0.2"]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"accelbench failed:\n{proc.stderr}")
        run = next(p for p in Path(tmp).iterdir() if p.is_dir())
        frame = accelbench.load(run)
    return {int(r["bytes"]): r for r in frame.to_dict("records")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ranks", type=int, default=2)
    ap.add_argument("--sizes", default="1KiB,16KiB,256KiB,4MiB,16MiB")
    ap.add_argument("--reps", type=int, default=50, help="baseline repetitions per size")
    ap.add_argument("--max-case-time", type=float, default=2.0)
    args = ap.parse_args()
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    n = args.ranks
    factor = bus_factor("all_reduce", n)
    t0 = time.perf_counter()
    ours = via_accelbench(n, sizes, args.max_case_time)
    t1 = time.perf_counter()
    base = baseline(n, sizes, args.reps)
    t2 = time.perf_counter()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"all_reduce sum fp32, gloo on CPU, {n} ranks (busbw factor {factor:g}); "
          f"accelbench {t1 - t0:.1f} s wall, baseline {t2 - t1:.1f} s wall; "
          f"{os.cpu_count()} CPUs, load average {load}")
    print(f"{'size':>8} | {'accelbench':>11} {'busbw GB/s':>10} {'±CI':>6} {'skew':>5} | "
          f"{'baseline':>11} {'busbw GB/s':>10} | {'base/ours':>9}")
    for size, b in zip(sizes, base, strict=True):
        row = ours[size]
        t = float(row["median_s"])
        print(f"{fmt_size(size):>8} | {t * 1e6:>8.1f} µs {float(row['busbw_gbps']):>10.4f} "
              f"{100 * float(row['rel_ci']):>5.1f}% {float(row['rank_skew']):>5.2f} | "
              f"{b * 1e6:>8.1f} µs {size / b / 1e9 * factor:>10.4f} | {b / t:>9.2f}")


if __name__ == "__main__":
    main()

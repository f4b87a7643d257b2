"""Cost of running cases in a supervised worker process instead of in-process.

Run: ``python benchmarks/bench_isolation.py [--cases N] [--quick-suite]``. Prints:

1. worker start-up: spawn ``python -m accelbench.runner.worker``, import PyTorch,
   open the device, answer "ready" (paid once per run and after each crash);
2. per-case wall time through ``InProcessExecutor`` (the baseline, measured
   in the same run) and ``IsolatedExecutor``, interleaved, for (a) a case
   that returns at once (a shape refused as too large for the device: the
   round trip is pure protocol: pickling the case and the row, two socket
   messages, two context switches) and (b) a tiny real matmul with settings
   that stop sampling after the minimum number of samples;
3. with ``--quick-suite``: wall time of ``accelbench run --suite quick`` on
   the CPU with and without ``--no-isolation``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from accelbench.devices import CpuDevice
from accelbench.measure.core import Settings
from accelbench.runner.isolation import InProcessExecutor, IsolatedExecutor
from accelbench.workloads.matmul import FAMILY


def fmt(seconds: float) -> str:
    return f"{seconds * 1e3:8.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40, help="cases per executor")
    parser.add_argument("--quick-suite", action="store_true", help="also time the quick suite")
    args = parser.parse_args()

    device = CpuDevice()
    # converge as soon as min_samples are drawn: the case costs ~the same every time
    settings = Settings(warmup=0.001, max_case_time=0.05, target_rel_ci=10.0, min_samples=5)
    cases = FAMILY.expand({"name": "bench", "size": 32, "dtypes": ["fp32"]}, "bench")
    case = cases[0]

    starts = []
    for _ in range(3):
        iso = IsolatedExecutor(device, settings, "bench", timeout=60)
        t0 = time.perf_counter()
        iso._start()
        starts.append(time.perf_counter() - t0)
        iso.close()
    print("1. worker start-up (spawn, import torch, open device, ready), 3 starts")
    print(f"   median {fmt(statistics.median(starts))}   min {fmt(min(starts))}")

    inproc = InProcessExecutor(device, settings, "bench")
    iso = IsolatedExecutor(device, settings, "bench", timeout=60)
    refused = FAMILY.expand({"name": "huge", "size": 10**6, "dtypes": ["fp32"]}, "bench")[0]
    for label, item, status in (("(a) refused at once", refused, "unsupported"),
                                ("(b) tiny matmul 32^3 fp32", case, "ok")):
        iso.run(item)  # worker started outside the timed loop
        inproc.run(item)
        t_in: list[float] = []
        t_iso: list[float] = []
        for _ in range(args.cases):
            for executor, sink in ((inproc, t_in), (iso, t_iso)):
                t0 = time.perf_counter()
                outcome = executor.run(item)
                sink.append(time.perf_counter() - t0)
                assert outcome.status == status, outcome.row.get("error")
        m_in, m_iso = statistics.median(t_in), statistics.median(t_iso)
        print(f"2{label}, {args.cases} cases each (interleaved), median wall per case")
        print(f"   in-process (baseline) {fmt(m_in)}   isolated {fmt(m_iso)}   "
              f"overhead {fmt(m_iso - m_in)}")
    iso.close()

    if args.quick_suite:
        print("3. accelbench run --device cpu --suite quick (14 cases), wall time")
        for label, extra in (("in-process (--no-isolation)", ["--no-isolation"]),
                             ("isolated (default)", [])):
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "accelbench", "run", "--device", "cpu",
                                "--suite", "quick", "--out", out, "-q", *extra], check=True)
                print(f"   {label:<28} {time.perf_counter() - t0:6.1f} s")


if __name__ == "__main__":
    main()

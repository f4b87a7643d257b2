"""accelbench's device-event medians vs kernel durations from the profiler (CUPTI).

Run: ``python benchmarks/bench_event_vs_profiler.py`` on a CUDA/ROCm GPU.

Baseline: ``torch.profiler.profile(activities=[ProfilerActivity.CUDA])``
around 50 launches of each case; the device durations of the kernels each
launch ran (CUPTI activity records), summed per launch, median over launches.
Measured: accelbench's batch timer (``Device.timer``) under the Rust sampler,
as ``accelbench run`` does: eager launches (event pair around k back-to-back
launches: includes the device's gap between dependent launches) and graph
replay (the gap mostly removed). The ratio event/profiler is printed; the
gap is a real per-launch cost, so small kernels are expected to differ in
eager mode by about a microsecond.
"""

from __future__ import annotations

import statistics
import warnings
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from accelbench import _core
from accelbench.devices import resolve_device


def profiled(fn: Callable[[], object], launches: int = 50) -> float:
    """Median per-launch sum of kernel device durations, seconds."""
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    marks = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(launches):
                fn()
            torch.cuda.synchronize()
        kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
    per_launch = len(kernels) // launches
    if per_launch == 0:
        raise RuntimeError("profiler saw no kernels")
    kernels.sort(key=lambda e: e.time_range.start)
    for i in range(launches):
        group = kernels[i * per_launch:(i + 1) * per_launch]
        marks.append(sum(e.device_time for e in group) * 1e-6)
    return statistics.median(marks)


def timed(device: object, fn: Callable[[], object], graph: bool) -> float:
    timer, batch = device.timer(fn, graph=graph)  # type: ignore[attr-defined]
    result = _core.sample(timer, batch=batch, warmup_s=0.3, max_time_s=2.0, target_rel_ci=0.005)
    return float(result.median_s)


def main() -> None:
    device = resolve_device("cuda")
    print(f"device: {device.name}; torch {torch.__version__}")
    bf = torch.bfloat16
    cases: list[tuple[str, Callable[[], object]]] = []
    for m, n, k in ((1, 8192, 8192), (1024, 1024, 1024), (4096, 4096, 4096),
                    (8192, 8192, 8192)):
        a = torch.randn(m, k, device="cuda").to(bf)
        b = torch.randn(k, n, device="cuda").to(bf)
        c = torch.empty(m, n, device="cuda", dtype=bf)
        cases.append((f"matmul bf16 {m}x{n}x{k}",
                      lambda a=a, b=b, c=c: torch.matmul(a, b, out=c)))
    src = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    cases.append(("copy 256 MiB", lambda: dst.copy_(src)))
    cycles = int(torch.cuda.get_device_properties(0).clock_rate * 1e3 * 50e-6)
    cases.append(("spin ~50 us", lambda: torch.cuda._sleep(cycles)))
    print(f"{'case':<28}{'profiler':>12}{'events':>12}{'ratio':>8}{'graph ev.':>12}{'ratio':>8}")
    for name, fn in cases:
        ref = profiled(fn)
        eager = timed(device, fn, False)
        graph = timed(device, fn, True)
        print(f"{name:<28}{ref * 1e6:10.2f}us{eager * 1e6:10.2f}us{eager / ref:8.4f}"
              f"{graph * 1e6:10.2f}us{graph / ref:8.4f}")


if __name__ == "__main__":
    main()

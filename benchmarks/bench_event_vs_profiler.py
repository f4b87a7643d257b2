"""accelbench's timer vs the kernel durations torch.profiler records, on the same launches.

Run: ``python benchmarks/bench_event_vs_profiler.py [--device auto]``.

Baseline: ``torch.profiler.profile``. On CUDA/ROCm its device activity
records (CUPTI/roctracer): the device durations of the kernels, summed per
launch. On the CPU its operator records: the wall time of each top-level
operator (``aten::matmul``, ``aten::copy_``, ...), summed per launch.
Measured: accelbench's batch timer (``Device.timer``: an event pair around k
back-to-back launches on a GPU, the host clock on the CPU), eager and (CUDA
only) graph replay, on the *same* launches the profiler records (see
:func:`same_launches`), after a second of sampling so clocks are steady.
Events include the device's gap between dependent launches (about 1-2 us
eager, less in a graph), which kernel durations leave out, so short kernels
are expected to differ by it; on the CPU the timer includes the Python call
of each launch, which operator records leave out.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from _device_common import device_argument, is_cuda, open_device
from accelbench import _core
from accelbench.devices import Device


def _profiled_seconds(prof: profile, on_device: bool) -> float:
    """Total kernel (GPU) or top-level operator (CPU) time in the profile, in seconds."""
    if on_device:
        kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
        total_us = sum(e.device_time for e in kernels)
    else:
        kernels = [e for e in prof.events()
                   if e.device_type.name == "CPU" and e.cpu_parent is None
                   and e.name.startswith("aten::")]
        total_us = sum(e.cpu_time_total for e in kernels)
    if not kernels:
        raise RuntimeError("profiler saw no kernels")
    return float(total_us) * 1e-6


def host_batch(fn: Callable[[], object]) -> Callable[[int], float]:
    """Seconds for k calls of ``fn`` on the host clock (what the sampler does for a CPU kernel)."""
    def timed(k: int) -> float:
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        return time.perf_counter() - t0
    return timed


def same_launches(device: Device, fn: Callable[[], object], graph: bool,
                  batches: int = 5) -> tuple[float, float, float]:
    """(timer per launch, profiler per launch, sampler median): the first two on the same launches.

    The timer first runs under the Rust sampler for ~1 s (steady clocks; its
    median is what ``accelbench run`` reports); then ``batches`` batches of k
    launches (about 10 ms each) run under the profiler, and the timer's
    reading of each batch is compared with the profiler's durations inside
    it: two clocks on exactly the same launches, so only the timing method
    differs.
    """
    on_device = is_cuda(device)
    timer, batch = device.timer(fn, graph=graph)
    result = _core.sample(timer, batch=batch, warmup_s=0.3, max_time_s=1.0, target_rel_ci=0.005)
    k = max(1, round(0.01 / result.median_s))
    activities = [ProfilerActivity.CUDA] if on_device else [ProfilerActivity.CPU]
    if not batch:  # a plain callable: the sampler times it with the host clock
        timer = host_batch(timer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=activities) as prof:
            timed = [timer(k) for _ in range(batches)]
            device.synchronize()
    iters = getattr(timer, "iters", 1)
    launches = batches * (iters * -(-k // iters) if graph else k)
    return sum(timed) / (batches * k), _profiled_seconds(prof, on_device) / launches, \
        float(result.median_s)


def cases(device: Device) -> list[tuple[str, Callable[[], object]]]:
    """Matmuls from GEMV to large, a big copy and (CUDA) a spin kernel of known length."""
    tdev = device.torch_device
    gpu = is_cuda(device)
    dtype = torch.bfloat16 if gpu else torch.float32
    shapes = ((1, 8192, 8192), (1024, 1024, 1024), (4096, 4096, 4096), (8192, 8192, 8192)) \
        if gpu else ((1, 4096, 4096), (256, 256, 256), (1024, 1024, 1024), (2048, 2048, 2048))
    out: list[tuple[str, Callable[[], object]]] = []
    for m, n, k in shapes:
        a = torch.randn(m, k, device=tdev).to(dtype)
        b = torch.randn(k, n, device=tdev).to(dtype)
        c = torch.empty(m, n, device=tdev, dtype=dtype)
        out.append((f"matmul {str(dtype)[6:]} {m}x{n}x{k}",
                    lambda a=a, b=b, c=c: torch.matmul(a, b, out=c)))
    mib = 256 if gpu else 64
    src = torch.empty(mib * 2**20, dtype=torch.uint8, device=tdev)
    dst = torch.empty_like(src)
    out.append((f"copy {mib} MiB", lambda: dst.copy_(src)))
    if gpu:
        cycles = int(torch.cuda.get_device_properties(device.torch_device).clock_rate * 1e3 * 50e-6)
        out.append(("spin ~50 us", lambda: torch.cuda._sleep(cycles)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    device_argument(parser)
    args = parser.parse_args()
    device = open_device(args.device, args.imports)
    modes = (False, True) if is_cuda(device) else (False,)
    ref = "CUPTI" if is_cuda(device) else "ops"
    print(f"per launch, us: timer and profiler ({ref}) on the same launches; "
          "median = sampler's median")
    print(f"{'case':<30}{'mode':<7}{'timer':>10}{ref:>10}{'ratio':>8}{'median':>10}")
    for name, fn in cases(device):
        for graph in modes:
            ours, theirs, median = same_launches(device, fn, graph)
            print(f"{name:<30}{'graph' if graph else 'eager':<7}{ours * 1e6:10.2f}"
                  f"{theirs * 1e6:10.2f}{ours / theirs:8.4f}{median * 1e6:10.2f}")


if __name__ == "__main__":
    main()

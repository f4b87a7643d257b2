"""accelbench's device-event medians vs kernel durations from the profiler (CUPTI).

Run: ``python benchmarks/bench_event_vs_profiler.py`` on a CUDA/ROCm GPU.

Baseline: ``torch.profiler.profile(activities=[ProfilerActivity.CUDA])``
(CUPTI activity records): the device durations of the kernels, summed per
launch. Measured: accelbench's batch timer (``Device.timer``), eager (event
pair around k back-to-back launches) and graph replay, on the *same*
launches the profiler records (see :func:`same_launches`), after a second
of sampling so clocks are steady. Events include the device's gap between
dependent launches (about 1-2 us eager, less in a graph), which CUPTI's
kernel durations leave out, so short kernels are expected to differ by it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from accelbench import _core
from accelbench.devices import resolve_device


def same_launches(device: object, fn: Callable[[], object], graph: bool,
                  batches: int = 5) -> tuple[float, float, float]:
    """(event per launch, profiler per launch, sampler median): the first two on the same launches.

    The timer first runs under the Rust sampler for ~1 s (steady clocks; its
    median is what ``accelbench run`` reports); then ``batches`` batches of k
    launches (about 10 ms each) run under the profiler, and the event time of
    each batch is compared with the sum of the CUPTI kernel durations inside
    it: two clocks on exactly the same launches, so only the timing method
    differs.
    """
    timer, batch = device.timer(fn, graph=graph)  # type: ignore[attr-defined]
    result = _core.sample(timer, batch=batch, warmup_s=0.3, max_time_s=1.0, target_rel_ci=0.005)
    k = max(1, round(0.01 / result.median_s))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            event_s = [timer(k) for _ in range(batches)]
            torch.cuda.synchronize()
        kernels = [e for e in prof.events() if e.device_type.name == "CUDA"]
    if not kernels:
        raise RuntimeError("profiler saw no kernels")
    launches = batches * (timer.iters * -(-k // timer.iters) if graph else k)  # type: ignore[attr-defined]
    cupti = sum(e.device_time for e in kernels) * 1e-6 / launches
    return sum(event_s) / (batches * k), cupti, float(result.median_s)


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
    print("per launch, us: events and CUPTI on the same launches; median = sampler's median")
    print(f"{'case':<26}{'mode':<7}{'events':>10}{'CUPTI':>10}{'ratio':>8}{'median':>10}")
    for name, fn in cases:
        for graph in (False, True):
            ev, ref, median = same_launches(device, fn, graph)
            print(f"{name:<26}{'graph' if graph else 'eager':<7}{ev * 1e6:10.2f}{ref * 1e6:10.2f}"
                  f"{ev / ref:8.4f}{median * 1e6:10.2f}")


if __name__ == "__main__":
    main()

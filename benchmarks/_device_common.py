"""Shared helpers of the device benchmarks (bench_mamf, bench_modes, bench_event_vs_profiler).

Each script takes ``--device`` (``auto``, ``cpu``, ``cuda``, ``xpu``, ...), so
the same method runs on every backend: on a GPU it checks the device-side
timing, on the CPU it checks the host-timed path and the cold-cache flush.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from accelbench.devices import Device, resolve_device
from accelbench.devices.backends import import_backends
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.workloads.base import Case


def matmul_case(m: int, n: int, k: int, dtype: str = "bf16") -> Case:
    return Case("matmul", f"bench M={m} N={n} K={k}", dtype, (("M", m), ("N", n), ("K", k)))


def accelbench_row(case: Case, device: Device, **settings: Any) -> dict[str, Any]:
    """The result row accelbench records for ``case`` (same path as ``accelbench run``)."""
    base = {"warmup": 0.5, "max_case_time": 3.0, "target_rel_ci": 0.005}
    outcome = measure_case(case, device, Settings(**{**base, **settings}), "bench")
    if outcome.status != "ok":
        raise RuntimeError(f"{case.case}: {outcome.row.get('error')}")
    return outcome.row


def device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto",
                        help="auto (best available), cpu, cuda, cuda:1, xpu, mps, or a "
                             "PrivateUse1 backend (npu, mlu, musa: see --import)")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="PACKAGE", help="import a backend package first (torch_npu)")


def open_device(spec: str, imports: list[str] | None = None) -> Device:
    """Resolve ``--device`` (after ``--import``) and print the line every benchmark starts with."""
    import_backends(imports or [])
    device = resolve_device(spec)
    print(f"device: {device.name} ({device.spec}); torch {torch.__version__}; "
          f"last-level cache {device.llc_bytes() / 2**20:.0f} MiB")
    return device


def is_cuda(device: Device) -> bool:
    """True for NVIDIA and ROCm devices (torch's ``cuda`` backend)."""
    return device.torch_device.type == "cuda"


def plain_seconds(device: Device, fn: Any, n: int) -> float:
    """Seconds for ``n`` back-to-back calls of ``fn``: one event pair on CUDA, else the host clock.

    This is the plain timing loop of the baselines (no sampler, no statistics):
    on CUDA/ROCm a ``torch.cuda.Event`` pair around the loop, elsewhere
    ``time.perf_counter`` between two device synchronisations.
    """
    if is_cuda(device):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(n):
            fn()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end)) * 1e-3
    device.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    device.synchronize()
    return time.perf_counter() - t0


def fmt_opt(value: Any, spec: str, unit: str = "") -> str:
    """Format a telemetry value that may be missing (no NVML/amdsmi, or a CPU)."""
    if value is None or (isinstance(value, float) and value != value):
        return "n/a"
    return f"{value:{spec}}{unit}"

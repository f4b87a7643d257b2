"""Cold vs warm cache on a memory-bound case, and graph replay vs eager on a tiny kernel.

Run: ``python benchmarks/bench_modes.py [--device auto]``.

Each line is accelbench's own measurement (``measure_case``, as ``accelbench
run --cache ... [--graph]``). The baseline of each mode is the default mode
(warm cache, eager launches) measured in the same run:

* a GEMV (M=1), the memory-bound core of decode, bf16 on accelerators and
  fp32 on the CPU (this PyTorch's CPU bf16 GEMV has a fixed cost of ~8 ms per
  call, so it is not memory-bound there): one weight that fits
  the last-level cache (at most 1/4 of it: 4096x4096, 32 MiB, on an H100's
  50 MB L2), so warm repeats read it from the cache and cold ones from
  device memory, and one at least 4x the cache (8192x8192 on an H100), so
  both read device memory and cold/warm should be close to 1;
* on devices with graphs (CUDA/ROCm), each GEMV also in graph mode (cold:
  rotating input copies of >= 2x the cache), and a 64x64x64 bf16 matmul
  (~2 us of work) eager vs graph: eager launches are limited by the host's
  launch rate (``host_submit_s``), graph replay removes it.
"""

from __future__ import annotations

import argparse
import math

from _device_common import accelbench_row, device_argument, is_cuda, matmul_case, open_device
from accelbench.workloads.base import torch_dtype


def line(label: str, row: dict[str, object]) -> None:
    gbps = row.get("gbps")
    submit = row.get("host_submit_s")
    print(f"{label:<46}{float(row['median_s']) * 1e6:10.2f} us"  # type: ignore[arg-type]
          f"{float(gbps) if gbps else 0:9.1f} GB/s  {row['timing_method']:<24}"  # type: ignore[arg-type]
          f"submit {float(submit) * 1e6 if submit else 0:6.2f} us  "  # type: ignore[arg-type]
          f"cold_bytes {row.get('cold_bytes')}")


def ratio(a: dict[str, object], b: dict[str, object]) -> float:
    return float(a["median_s"]) / float(b["median_s"])  # type: ignore[arg-type]


def gemv_sides(llc_bytes: int, itemsize: int) -> tuple[int, int]:
    """Square weights: the largest power-of-two side fitting 1/4 of the cache, and one >= 4x it."""
    fit = 2 ** int(math.log2(math.sqrt(llc_bytes / 4 / itemsize)))
    big = 2 ** math.ceil(math.log2(math.sqrt(llc_bytes * 4 / itemsize)))
    return fit, big


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    device_argument(parser)
    parser.add_argument("--dtype", default=None, help="GEMV dtype (default: bf16; fp32 on cpu)")
    args = parser.parse_args()
    device = open_device(args.device, args.imports)
    graphs = is_cuda(device)
    dtype = args.dtype or ("fp32" if device.spec == "cpu" else "bf16")
    itemsize = torch_dtype(dtype).itemsize
    for n in gemv_sides(device.llc_bytes(), itemsize):
        case = matmul_case(1, n, n, dtype)
        weight = f"{dtype} {itemsize * n * n / 2**20:.0f} MiB weight"
        warm = accelbench_row(case, device)
        cold = accelbench_row(case, device, cache="cold")
        line(f"GEMV 1x{n}x{n} warm ({weight})", warm)
        line(f"GEMV 1x{n}x{n} cold", cold)
        print(f"  cold/warm = {ratio(cold, warm):.3f}")
        if graphs:
            warm_graph = accelbench_row(case, device, graph=True)
            cold_graph = accelbench_row(case, device, cache="cold", graph=True)
            line(f"GEMV 1x{n}x{n} warm graph", warm_graph)
            line(f"GEMV 1x{n}x{n} cold graph (rotating copies)", cold_graph)
            print(f"  cold graph/warm graph = {ratio(cold_graph, warm_graph):.3f}")
    if graphs:
        tiny = matmul_case(64, 64, 64)
        eager = accelbench_row(tiny, device)
        graph = accelbench_row(tiny, device, graph=True)
        line("matmul 64x64x64 eager", eager)
        line("matmul 64x64x64 graph", graph)
        print(f"  graph/eager = {ratio(graph, eager):.3f}")


if __name__ == "__main__":
    main()

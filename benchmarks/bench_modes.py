"""Cold vs warm cache on a memory-bound case, and graph replay vs eager on a tiny kernel.

Run: ``python benchmarks/bench_modes.py`` on a CUDA/ROCm GPU.

Each line is accelbench's own measurement (``measure_case``, as ``accelbench
run --cache ... [--graph]``). The baseline of each mode is the default mode
(warm cache, eager launches) measured in the same run:

* decode-attention-sized GEMV (bf16, M=1): a 4096x4096 weight (32 MiB) fits
  the H100's 50 MB L2, so warm repeats read it from L2 and cold ones from
  HBM; an 8192x8192 weight (128 MiB) does not fit, so both read HBM;
* a 64x64x64 bf16 matmul (~2 us of work): eager launches are limited by the
  host's launch rate (``host_submit_s``), graph replay removes it.
"""

from __future__ import annotations

import torch

from _gpu_common import accelbench_row, matmul_case
from accelbench.devices import resolve_device


def line(label: str, row: dict[str, object]) -> None:
    gbps = row.get("gbps")
    submit = row.get("host_submit_s")
    print(f"{label:<44}{float(row['median_s']) * 1e6:10.2f} us"  # type: ignore[arg-type]
          f"{float(gbps) if gbps else 0:9.0f} GB/s  {row['timing_method']:<24}"  # type: ignore[arg-type]
          f"submit {float(submit) * 1e6 if submit else 0:6.2f} us  "  # type: ignore[arg-type]
          f"cold_bytes {row.get('cold_bytes')}")


def main() -> None:
    device = resolve_device("cuda")
    print(f"device: {device.name}; L2 {device.facts.get('llc_bytes')} B; torch {torch.__version__}")
    for n in (4096, 8192):
        case = matmul_case(1, n, n)
        warm = accelbench_row(case, device)
        cold = accelbench_row(case, device, cache="cold")
        cold_graph = accelbench_row(case, device, cache="cold", graph=True)
        warm_graph = accelbench_row(case, device, graph=True)
        line(f"GEMV 1x{n}x{n} warm", warm)
        line(f"GEMV 1x{n}x{n} cold", cold)
        line(f"GEMV 1x{n}x{n} warm graph", warm_graph)
        line(f"GEMV 1x{n}x{n} cold graph (rotating copies)", cold_graph)
        print(f"  cold/warm = {float(cold['median_s']) / float(warm['median_s']):.3f}; "  # type: ignore[arg-type]
              f"cold graph/warm graph = "
              f"{float(cold_graph['median_s']) / float(warm_graph['median_s']):.3f}")  # type: ignore[arg-type]
    tiny = matmul_case(64, 64, 64)
    eager = accelbench_row(tiny, device)
    graph = accelbench_row(tiny, device, graph=True)
    line("matmul 64x64x64 eager", eager)
    line("matmul 64x64x64 graph", graph)
    print(f"  graph/eager = {float(graph['median_s']) / float(eager['median_s']):.3f}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

"""MoE expert GEMMs: torch._grouped_mm vs the per-expert loop vs one dense matmul, same FLOPs.

Run: ``python benchmarks/bench_moe.py [--device auto] [--tokens 128,4096] [--scale 1]``.

For one DeepSeek-V3 layer (hidden 7168, expert intermediate 2048, 256
experts, top-8) and one Mixtral-8x7B layer (4096, 14336, 8 experts, top-2),
at two token counts T, each projection of the layer (gate_up, down) is
measured three ways in the same run, on the same routing (``--routing``,
default skewed: Zipf s=1.2):

* ``grouped_mm``: the ``moe`` family's ``torch._grouped_mm`` case;
* ``loop``: the ``moe`` family's per-expert ``torch.matmul`` loop case;
* ``dense``: one ``torch.matmul`` of ``[T*topk, K] @ [K, N]`` (the ``matmul``
  family), the same FLOPs with a single weight matrix: what the layer would
  cost if routing did not split the work.

Each is timed twice: by accelbench's measurement step (``measure_case``, the
path of ``accelbench run``: adaptive sampler, median, float64 check) and by
``torch.utils.benchmark``'s ``blocked_autorange`` (median) on the same
prepared kernel. The table prints both medians, TFLOP/s from accelbench's,
and the ratios loop/grouped and dense/grouped (above 1: grouped is faster).

On a CPU the full DeepSeek-V3 expert weights (256 x 7168 x 4096 bf16, 15 GB
for gate_up once every expert has tokens) do not fit a small host, and each
launch takes seconds: the defaults there are T = 16 and 128 and ``--scale 4``
(hidden and intermediate divided by 4; experts, top-k and T unchanged), and
the header says so. On a GPU the defaults are T = 128 and 4096, full size.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
import torch.utils.benchmark as tub

from _device_common import accelbench_row, device_argument, matmul_case, open_device
from accelbench.devices import Device
from accelbench.workloads.base import Case
from accelbench.workloads.moe import FAMILY as MOE
from accelbench.workloads.moe import MoeSpec

#: name -> (hidden, intermediate, experts, top-k)
LAYERS: dict[str, tuple[int, int, int, int]] = {
    "deepseek-v3": (7168, 2048, 256, 8),
    "mixtral-8x7b": (4096, 14336, 8, 2),
}


def moe_cases(name: str, tokens: int, scale: int, routing: str, dtype: str) -> list[Case]:
    hidden, inter, experts, topk = LAYERS[name]
    entry = {"name": name, "hidden": hidden // scale, "inter": inter // scale,
             "experts": experts, "topk": topk, "tokens": tokens, "routing": routing,
             "dtypes": [dtype]}
    return MOE.expand(entry, "bench_moe")


def tub_median(case: Case, device: Device, min_run_time: float) -> float:
    """``blocked_autorange`` median of the case's kernel, inputs built by its family."""
    from accelbench.workloads import get_family

    prepared = get_family(case.kernel).prepare(case, device)
    device.synchronize()

    def fn() -> None:
        prepared.fn()
        device.synchronize()

    # Timer runs single-threaded unless told: give it the threads accelbench's cases use.
    timer = tub.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def measure(case: Case, device: Device, settings: dict[str, Any],
            min_run_time: float) -> tuple[dict[str, Any], float]:
    return accelbench_row(case, device, **settings), tub_median(case, device, min_run_time)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    device_argument(parser)
    parser.add_argument("--tokens", default=None,
                        help="two token counts, comma-separated (default GPU 128,4096; CPU 16,128)")
    parser.add_argument("--scale", type=int, default=None,
                        help="divide hidden and intermediate sizes by this (default GPU 1, CPU 4)")
    parser.add_argument("--routing", default="skewed", choices=["balanced", "skewed"])
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--max-case-time", type=float, default=2.0)
    parser.add_argument("--warmup", type=float, default=0.3)
    parser.add_argument("--min-run-time", type=float, default=0.5,
                        help="blocked_autorange's min_run_time, seconds")
    args = parser.parse_args()
    device = open_device(args.device, args.imports)
    cpu = device.spec == "cpu"
    tokens = [int(t) for t in (args.tokens or ("16,128" if cpu else "128,4096")).split(",")]
    scale = args.scale or (4 if cpu else 1)
    settings = {"warmup": args.warmup, "max_case_time": args.max_case_time,
                "target_rel_ci": 0.01}
    print(f"routing {args.routing}, {args.dtype}, T = {tokens}, scale 1/{scale}"
          + (" (hidden and intermediate reduced: not the full layers)" if scale > 1 else ""))
    head = (f"{'case':<44}{'impl':<11}{'accelbench':>12}{'t.u.b':>12}{'TFLOP/s':>9}"
            f"{'/grouped':>10}")
    print(head)
    print("-" * len(head))
    for name in LAYERS:
        for t in tokens:
            for case in moe_cases(name, t, scale, args.routing, args.dtype):
                spec = MoeSpec.of(case)
                if spec.impl != "grouped_mm":
                    continue
                loop = next(c for c in moe_cases(name, t, scale, args.routing, args.dtype)
                            if c.case == case.case.replace("grouped_mm", "loop"))
                dense = matmul_case(t * spec.topk, spec.n, spec.k, args.dtype)
                rows = {impl: measure(c, device, settings, args.min_run_time)
                        for impl, c in (("grouped_mm", case), ("loop", loop), ("dense", dense))}
                base = float(rows["grouped_mm"][0]["median_s"])
                label = case.case.replace(" grouped_mm", "")
                for impl, (row, tub_s) in rows.items():
                    med = float(row["median_s"])
                    print(f"{label:<44}{impl:<11}{med * 1e3:10.3f}ms{tub_s * 1e3:10.3f}ms"
                          f"{float(row['tflops']):9.3g}{med / base:10.2f}")
                    label = ""
    print("/grouped: median over the grouped_mm median of the same projection "
          "(loop > 1: the grouped GEMM is faster than the loop).")


if __name__ == "__main__":
    main()

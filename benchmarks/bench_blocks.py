"""Eager vs torch.compile on model blocks: speed-up, compile time and break-even, same run.

Run: ``python benchmarks/bench_blocks.py [--device auto] [--tokens 128] [--dtype bf16]
[--blocks rmsnorm,swiglu,...]``.

For one shape of every block of the catalog (``kernels/blocks.toml``, the
given token count; the first entry of each block that has it), both cases of
the pair are measured by accelbench's own path (``measure_case``, as ``accelbench
run``), eager first, in one process and one private compile cache, so the
eager median is the baseline of the compiled one, measured in the same run.
Each line: eager and compiled medians, speed-up (eager / compiled), GB/s of
both (TFLOP/s for SwiGLU and the decoder layer), ``compile_s``, the calls after
which compiling pays for itself, and the compiled result's largest ULP
distance from eager. A compile failure prints its status and reason.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from _device_common import device_argument, open_device
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.runner.compile_cache import private_compile_cache
from accelbench.workloads.base import Case
from accelbench.workloads.block_ops import BLOCKS
from accelbench.workloads.catalog import catalog_dir, load_family_file

COMPUTE_BOUND = ("swiglu", "decoder_layer")


def pairs(tokens: int, dtype: str, names: list[str]) -> list[tuple[Case, Case]]:
    """(eager, compiled) of the first catalog shape of each named block at ``tokens``."""
    cases = [c for c in load_family_file(catalog_dir() / "blocks.toml")
             if c.param("T") == tokens and c.dtype == dtype]
    out = []
    for block in names:
        mine = [c for c in cases if c.param("block") == block]
        eager = [c for c in mine if c.param("mode") == "eager"]
        if eager:
            base = eager[0].case.rpartition(" ")[0]
            (compiled,) = [c for c in mine if c.case == f"{base} compiled"]
            out.append((eager[0], compiled))
    return out


def rate(row: dict[str, Any], block: str) -> str:
    if block in COMPUTE_BOUND:
        return f"{float(row.get('tflops') or 0):8.3f} TFLOP/s"
    return f"{float(row.get('gbps') or 0):8.1f} GB/s   "


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    device_argument(parser)
    parser.add_argument("--tokens", type=int, default=128, help="token count T (default 128)")
    parser.add_argument("--dtype", default="bf16")
    parser.add_argument("--max-case-time", type=float, default=3.0)
    parser.add_argument("--blocks", default=",".join(BLOCKS),
                        help=f"comma-separated blocks (default: all of {', '.join(BLOCKS)})")
    args = parser.parse_args()
    names = [b.strip() for b in args.blocks.split(",") if b.strip()]
    unknown = [b for b in names if b not in BLOCKS]
    if unknown:
        raise SystemExit(f"unknown block(s) {', '.join(unknown)} (known: {', '.join(BLOCKS)})")
    device = open_device(args.device, args.imports)
    settings = Settings(warmup=0.5, max_case_time=args.max_case_time, target_rel_ci=0.01)
    chosen = pairs(args.tokens, args.dtype, names)
    if not chosen:
        raise SystemExit(f"no block of the catalog has T={args.tokens} in {args.dtype}")
    with private_compile_cache("bench"):
        for eager_case, compiled_case in chosen:
            block = str(eager_case.param("block"))
            eager = measure_case(eager_case, device, settings, "bench").row
            compiled = measure_case(compiled_case, device, settings, "bench").row
            name = eager_case.case.rpartition(" ")[0]
            if eager["status"] != "ok" or compiled["status"] != "ok":
                print(f"{name:<36} eager {eager['status']}, compiled {compiled['status']}: "
                      f"{compiled.get('error') or eager.get('error')}")
                continue
            e, c = float(eager["median_s"]), float(compiled["median_s"])
            compile_s = float(compiled["compile_s"])
            breakeven = compile_s / (e - c) if e > c else math.inf
            print(f"{name:<36} eager {e * 1e6:10.1f} us {rate(eager, block)}  compiled "
                  f"{c * 1e6:10.1f} us {rate(compiled, block)}  x{e / c:5.2f}  compile "
                  f"{compile_s:6.2f} s  break-even {breakeven:10.3g} calls  "
                  f"ULP vs eager {compiled['vs_eager_ulp_max']:.0f}")


if __name__ == "__main__":
    main()

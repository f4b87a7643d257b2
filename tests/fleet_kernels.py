"""A test-only user-defined family for fleet worlds: a kernel slow or wrong on one RANK.

Each launch adds two small tensors and then waits until ``base_us``
microseconds have passed since it started (``factor`` times that on the rank
whose ``RANK`` is ``slow_rank``), so its duration is set by the catalog and
not by how busy the shared test machine is. On the rank ``wrong_rank`` one
output element is off by one, as a faulty device would compute it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any

import torch

from accelbench.workloads.base import Case, Prepared, check_fields


class FleetFamily:
    name = "fleetk"
    default_dtypes: tuple[str, ...] = ("fp32",)

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        fields = ("name", "base_us", "slow_rank", "factor", "wrong_rank")
        check_fields(entry, fields, where, required=("name",))
        params = (("base_us", float(entry.get("base_us", 2000.0))),
                  ("slow_rank", int(entry.get("slow_rank", -1))),
                  ("factor", float(entry.get("factor", 1.3))),
                  ("wrong_rank", int(entry.get("wrong_rank", -1))))
        return [Case(kernel=self.name, case=str(entry["name"]), dtype="fp32", params=params,
                     source=where)]

    def prepare(self, case: Case, device: Any) -> Prepared:
        rank = int(os.environ.get("RANK", "0"))
        duration = case.param("base_us") * 1e-6
        if rank == case.param("slow_rank"):
            duration *= case.param("factor")
        gen = torch.Generator().manual_seed(case.seed)
        x = torch.randn(1024, generator=gen).to(device.torch_device)
        out = torch.empty_like(x)
        wrong = rank == case.param("wrong_rank")

        def run() -> torch.Tensor:
            t0 = time.perf_counter()
            torch.add(x, x, out=out)
            if wrong:
                out[7] += 1.0
            left = duration - (time.perf_counter() - t0)
            if left > 0:
                time.sleep(left)
            return out

        return Prepared(fn=run, flops=1024.0, bytes=3 * 1024 * 4.0, output=lambda: out,
                        host_timing=True)


FAMILY = FleetFamily()

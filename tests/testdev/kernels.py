"""A kernel family for the testdev backend: ``x * x`` through its ``mul`` kernel.

``first`` sets the first element of ``x``; :data:`tests.testdev.backend.CRASH_MAGIC`
(-7777.0) makes testdev's mul segfault *inside the C++ kernel*, the way a
young backend's kernel crashes. Catalogs load it as
``family = "tests.testdev.kernels:FAMILY"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from accelbench.workloads.base import Case, Prepared, check_fields

N = 4096


class MulFamily:
    name = "testdev_mul"
    default_dtypes: tuple[str, ...] = ("fp32",)

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, ("name", "first"), where, required=("name", "first"))
        params: tuple[tuple[str, Any], ...] = (("first", float(entry["first"])),)
        return [Case(kernel=self.name, case=str(entry["name"]), dtype="fp32", params=params,
                     source=where)]

    def prepare(self, case: Case, device: Any) -> Prepared:
        host = torch.linspace(1.0, 2.0, N)
        host[0] = case.param("first")
        x = host.to(device.torch_device)
        out = torch.empty_like(x)

        def run() -> object:
            return torch.mul(x, x, out=out)

        return Prepared(fn=run, flops=float(N), bytes=8.0 * N, output=lambda: out,
                        reference=lambda: host.double() * host.double())


FAMILY = MulFamily()

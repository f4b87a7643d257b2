"""A test-only kernel family that injects faults: segfault, abort, hang, raise, allocate, exit.

Loaded by catalogs in this folder as ``family = "faulty_kernels:FAMILY"`` (a
module next to the catalog file), exactly as a user-defined family is. Each
catalog entry picks a ``mode``; healthy cases (``mode = "ok"``) add two small
tensors, so they run in well under a second.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Mapping
from typing import Any

import torch

from accelbench.errors import CatalogError
from accelbench.workloads.base import Case, Prepared, check_fields, dtypes_of

MODES = ("ok", "segfault", "abort", "hang", "raise", "alloc", "exit")


class FaultyFamily:
    """Cases whose kernel misbehaves in a chosen way, in the kernel itself (not in prepare)."""

    name = "faulty"
    default_dtypes: tuple[str, ...] = ("fp32",)

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        fields = ("name", "mode", "alloc_gib", "dtypes")
        check_fields(entry, fields, where, required=("name", "mode"))
        mode = entry["mode"]
        if mode not in MODES:
            raise CatalogError(f"{where}: field 'mode' must be one of {', '.join(MODES)}")
        params: tuple[tuple[str, Any], ...] = (("mode", mode),)
        if "alloc_gib" in entry:
            params += (("alloc_gib", float(entry["alloc_gib"])),)
        return [
            Case(kernel=self.name, case=str(entry["name"]), dtype=d, params=params, source=where)
            for d in dtypes_of(entry, self.default_dtypes, where)
        ]

    def prepare(self, case: Case, device: Any) -> Prepared:
        mode = case.param("mode")
        x = torch.ones(256, device=device.torch_device)
        out = torch.empty_like(x)

        def run() -> object:
            if mode == "segfault":
                ctypes.string_at(0)
            elif mode == "abort":
                os.abort()
            elif mode == "hang":
                while True:
                    time.sleep(1)
            elif mode == "raise":
                raise RuntimeError("injected fault")
            elif mode == "alloc":
                gib = dict(case.params).get("alloc_gib", 16.0)
                # never touched: without a memory limit this reserves address space only
                torch.empty(int(gib * 2**30), dtype=torch.uint8)
            elif mode == "exit":
                sys.stdout.flush()
                os._exit(7)
            return torch.add(x, x, out=out)

        return Prepared(fn=run, flops=256.0, bytes=3 * 256 * 4.0)


FAMILY = FaultyFamily()

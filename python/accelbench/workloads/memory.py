"""Memory bandwidth: device-to-device copy and host<->device transfers.

``copy`` runs ``dst.copy_(src)`` between two buffers in device memory (on the
CPU: two buffers in host memory, i.e. a memcpy through PyTorch). It reads and
writes every byte once, so ``bytes = 2 * size`` (read + written), the
convention of STREAM's Copy and of most GPU copy benchmarks; sizes well above
the last-level cache measure DRAM/HBM bandwidth, small ones the cache.

``h2d`` and ``d2h`` copy ``size`` bytes between host and device memory,
``pageable`` (ordinary host memory, staged by the driver) or ``pinned``
(page-locked host memory, copied by DMA with ``non_blocking=True``). A transfer
crosses the link once, so ``bytes = size`` (the convention of bandwidthTest and
SuperBench's host-to-device figure). The CPU has no separate device memory:
there these cases are ``unsupported`` with that reason; a backend that cannot
pin memory makes the pinned cases unsupported with its error.

Sizes are given in MiB in ``kernels/memory.toml``; the buffer holds
``size / itemsize`` elements of the case's dtype, filled with standard-normal
values drawn on the CPU from the case seed. ``output()`` is the destination
buffer and ``reference()`` the source in float64: a copy must be exact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from accelbench.errors import CatalogError, UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    dtypes_of,
    positive_ints,
    torch_dtype,
)

__all__ = ["FAMILY", "OPS", "MemoryFamily", "copy_bytes"]

#: Operations and the host-memory kinds they accept.
OPS: dict[str, tuple[str, ...]] = {"copy": ("device",), "h2d": ("pageable", "pinned"),
                                   "d2h": ("pageable", "pinned")}
MIB = 1 << 20


def copy_bytes(op: str, size: int) -> int:
    """Bytes counted for one launch: read + written for ``copy``, the size once for transfers."""
    return 2 * size if op == "copy" else size


class MemoryFamily:
    """The memory kernel family (copy bandwidth and host<->device transfers)."""

    name = "memory"
    default_dtypes: tuple[str, ...] = ("fp32",)
    _fields = ("name", "op", "host_memory", "mib", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, self._fields, where, required=("name", "op", "mib"))
        op = entry["op"]
        if op not in OPS:
            raise CatalogError(f"{where}: field 'op' must be one of {', '.join(OPS)}, got {op!r}")
        raw = entry.get("host_memory", list(OPS[op]) if op != "copy" else "device")
        kinds = raw if isinstance(raw, list) else [raw]
        for kind in kinds:
            if kind not in OPS[op]:
                raise CatalogError(f"{where}: field 'host_memory' for {op} must be one of "
                                   f"{', '.join(OPS[op])}, got {kind!r}")
        base = str(entry["name"])
        cases = []
        for kind in kinds:
            for mib in positive_ints(entry, "mib", where):
                label = f"{base} {mib} MiB" if op == "copy" else f"{base} {kind} {mib} MiB"
                for dtype in dtypes_of(entry, self.default_dtypes, where):
                    cases.append(Case(
                        kernel=self.name, case=label, dtype=dtype,
                        params=(("op", op), ("memory", kind), ("bytes", mib * MIB)),
                        source=where,
                    ))
        return cases

    def prepare(self, case: Case, device: Any) -> Prepared:
        op, kind, size = case.param("op"), case.param("memory"), int(case.param("bytes"))
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        if op != "copy" and device.backend == "cpu":
            raise UnsupportedError(
                "the cpu has no separate device memory: host<->device transfers do not apply")
        itemsize = torch.finfo(dtype).bits // 8
        numel = size // itemsize
        capacity = device.memory_bytes()
        need = 2 * size if op == "copy" else size
        if capacity is not None and need > 0.8 * capacity:
            raise UnsupportedError(f"needs {need / 2**30:.1f} GiB, "
                                   f"device has {capacity / 2**30:.1f} GiB")
        gen = torch.Generator().manual_seed(case.seed)
        host = torch.randn(numel, generator=gen, dtype=torch.float32).to(dtype)
        tdev = device.torch_device
        pinned = kind == "pinned"
        if pinned:
            try:
                host = host.pin_memory()
            except (RuntimeError, NotImplementedError) as exc:
                raise UnsupportedError(
                    f"pinned host memory unavailable: {str(exc).splitlines()[0][:200]}"
                ) from None
        if op == "copy":
            src = host.to(tdev)
            dst = torch.empty_like(src)
        elif op == "h2d":
            src, dst = host, torch.empty(numel, dtype=dtype, device=tdev)
        else:
            src = host.to(tdev)
            dst = torch.empty(numel, dtype=dtype, pin_memory=pinned)

        def run() -> torch.Tensor:
            return dst.copy_(src, non_blocking=pinned)

        reference_src = host

        return Prepared(
            fn=run,
            flops=None,
            bytes=float(copy_bytes(op, numel * itemsize)),
            output=lambda: dst,
            reference=lambda: reference_src.double(),
        )


FAMILY = MemoryFamily()

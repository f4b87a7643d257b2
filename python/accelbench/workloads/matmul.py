"""Dense matrix multiplication: ``C[M,N] = A[M,K] @ B[K,N]`` through ``torch.matmul``.

FLOPs are exactly ``2*M*N*K`` (one multiply and one add per term of each dot
product). Bytes are the minimum traffic, reading A and B and writing C once:
``(M*K + K*N + M*N) * itemsize``.

The float64 reference is computed on the CPU from the same (rounded) inputs.
Its cost is bounded: when ``M*N*K`` exceeds :data:`REFERENCE_MAX_MACS`, only
a fixed, evenly spaced subset of rows is computed (``A[rows] @ B`` gives
exactly those rows of C) and ``Prepared.reference_slice`` names
them, so the check compares those rows only. ``reduction_length`` is K (the
tolerance grows like sqrt(K), see :mod:`accelbench.numerics.tensors`).

Catalog entries (``kernels/matmul.toml``) take either ``size`` (square sweep,
M=N=K) or ``n`` and ``k`` with ``tokens`` or ``m`` (the rows of the
activation: the token count of an LLM projection). Every list is a sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from accelbench.errors import CatalogError, UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    dtypes_of,
    positive_ints,
    sweep,
    torch_dtype,
)

__all__ = [
    "FAMILY",
    "REFERENCE_MAX_MACS",
    "MatmulFamily",
    "matmul_bytes",
    "matmul_flops",
    "reference_rows",
]

#: Multiply-adds the float64 CPU reference may cost (about a second on one core).
REFERENCE_MAX_MACS = 1 << 28


def reference_rows(m: int, n: int, k: int) -> torch.Tensor | None:
    """Rows of C the reference computes: all (None) or an evenly spaced subset."""
    if m * n * k <= REFERENCE_MAX_MACS:
        return None
    count = max(1, min(m, REFERENCE_MAX_MACS // (n * k)))
    rows: torch.Tensor = torch.unique(torch.linspace(0, m - 1, count).round().long())
    return rows


def matmul_flops(m: int, n: int, k: int) -> int:
    """Exact FLOP count of one ``[M,K] @ [K,N]`` product: 2*M*N*K."""
    return 2 * m * n * k


def matmul_bytes(m: int, n: int, k: int, itemsize: int) -> int:
    """Bytes read (A, B) and written (C) at least once."""
    return (m * k + k * n + m * n) * itemsize


def random_input(shape: tuple[int, ...], dtype: torch.dtype, gen: torch.Generator) -> torch.Tensor:
    """Standard-normal values drawn on the CPU in float32, then cast: identical on every device."""
    return torch.randn(shape, generator=gen, dtype=torch.float32).to(dtype)


class MatmulFamily:
    """The matmul kernel family."""

    name = "matmul"
    default_dtypes: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp64")
    _fields = ("name", "model", "size", "m", "tokens", "n", "k", "dtypes", "description")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, self._fields, where, required=("name",))
        base = str(entry["name"])
        model = entry.get("model")
        dtypes = dtypes_of(entry, self.default_dtypes, where)
        shapes: list[tuple[str, int, int, int]] = []
        if "size" in entry:
            if any(f in entry for f in ("m", "n", "k", "tokens")):
                raise CatalogError(f"{where}: 'size' (square) excludes 'm', 'n', 'k', 'tokens'")
            for s in positive_ints(entry, "size", where):
                shapes.append((f"{base} {s}", s, s, s))
        else:
            for f in ("n", "k"):
                if f not in entry:
                    raise CatalogError(f"{where}: missing field {f!r} (or give 'size')")
            if ("tokens" in entry) == ("m" in entry):
                raise CatalogError(f"{where}: give exactly one of 'tokens' or 'm'")
            row_key = "tokens" if "tokens" in entry else "m"
            label = "T" if row_key == "tokens" else "M"
            axes = {
                "m": positive_ints(entry, row_key, where),
                "n": positive_ints(entry, "n", where),
                "k": positive_ints(entry, "k", where),
            }
            multi = [key for key in ("n", "k") if len(axes[key]) > 1]
            for combo in sweep(axes):
                m, n, k = combo["m"], combo["n"], combo["k"]
                suffix = " ".join([f"{label}={m}"] + [f"{x.upper()}={combo[x]}" for x in multi])
                shapes.append((f"{base} {suffix}", m, n, k))
        return [
            Case(
                kernel=self.name,
                case=name,
                dtype=dtype,
                params=(("M", m), ("N", n), ("K", k)),
                model=str(model) if model else None,
                source=where,
            )
            for name, m, n, k in shapes
            for dtype in dtypes
        ]

    def prepare(self, case: Case, device: Any) -> Prepared:
        m, n, k = case.param("M"), case.param("N"), case.param("K")
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        itemsize = torch.finfo(dtype).bits // 8
        need = matmul_bytes(m, n, k, itemsize)
        # Inputs are generated on the host: the host copy costs as much again.
        capacity = device.memory_bytes()
        if capacity is not None and need > 0.8 * capacity:
            raise UnsupportedError(
                f"needs {need / 2**30:.1f} GiB, device has {capacity / 2**30:.1f} GiB"
            )
        tdev = device.torch_device
        try:
            probe = torch.ones((2, 2), dtype=dtype, device=tdev)
            torch.matmul(probe, probe)
        except (RuntimeError, TypeError) as exc:
            raise UnsupportedError(f"matmul in {case.dtype} not supported: {exc}") from None
        gen = torch.Generator().manual_seed(case.seed)
        a_host = random_input((m, k), dtype, gen)
        b_host = random_input((k, n), dtype, gen)
        a = a_host.to(tdev)
        b = b_host.to(tdev)
        c = torch.empty((m, n), dtype=dtype, device=tdev)

        def run() -> torch.Tensor:
            return torch.matmul(a, b, out=c)

        rows = reference_rows(m, n, k)

        def reference() -> torch.Tensor:
            a_ref = a_host if rows is None else a_host[rows]
            return a_ref.double() @ b_host.double()

        def clone() -> Callable[[], object]:
            a2, b2, c2 = a.clone(), b.clone(), torch.empty_like(c)
            return lambda: torch.matmul(a2, b2, out=c2)

        return Prepared(
            fn=run,
            flops=float(matmul_flops(m, n, k)),
            bytes=float(need),
            output=lambda: c,
            reference=reference,
            clone=clone,
            reduction_length=k,
            reference_slice=rows,
        )


FAMILY = MatmulFamily()

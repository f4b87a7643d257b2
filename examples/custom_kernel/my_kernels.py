"""A user-defined kernel family: row-wise softmax over an LLM vocabulary.

accelbench loads this module when a catalog file says
``family = "my_kernels:FAMILY"`` (the module is looked up next to the catalog
file first, then on ``sys.path``). ``FAMILY`` is an instance providing the
``Family`` interface of ``accelbench.workloads.base``: ``name``,
``default_dtypes``, ``expand(entry, where)`` and ``prepare(case, device)``.

Softmax is memory-bound: it reads the logits once and writes the
probabilities once, so bytes = 2 * rows * cols * itemsize and the result is
read as GB/s. Its FLOP count depends on how ``exp`` is implemented, so none is
claimed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from accelbench.errors import UnsupportedError
from accelbench.workloads.base import (
    Case,
    Prepared,
    check_fields,
    dtypes_of,
    positive_ints,
    sweep,
    torch_dtype,
)


class SoftmaxFamily:
    """``torch.softmax(x, dim=-1)`` on a ``[rows, cols]`` tensor."""

    name = "softmax"
    default_dtypes: tuple[str, ...] = ("fp32", "bf16")

    def expand(self, entry: Mapping[str, Any], where: str) -> list[Case]:
        check_fields(entry, ("name", "model", "rows", "cols", "dtypes"), where,
                     required=("name", "rows", "cols"))
        axes = {"rows": positive_ints(entry, "rows", where),
                "cols": positive_ints(entry, "cols", where)}
        model = entry.get("model")
        return [
            Case(kernel=self.name, case=f"{entry['name']} rows={combo['rows']}", dtype=dtype,
                 params=(("rows", combo["rows"]), ("cols", combo["cols"])),
                 model=str(model) if model else None, source=where)
            for combo in sweep(axes)
            for dtype in dtypes_of(entry, self.default_dtypes, where)
        ]

    def prepare(self, case: Case, device: Any) -> Prepared:
        rows, cols = case.param("rows"), case.param("cols")
        dtype = torch_dtype(case.dtype)
        reason = device.unsupported_dtype(dtype)
        if reason:
            raise UnsupportedError(reason)
        # inputs drawn on the host from the case seed: bit-identical on every device
        gen = torch.Generator().manual_seed(case.seed)
        x_host = torch.randn((rows, cols), generator=gen).to(dtype)
        x = x_host.to(device.torch_device)
        out = torch.empty_like(x)

        def run() -> torch.Tensor:
            return torch.softmax(x, dim=-1, out=out)

        itemsize = x.element_size()
        return Prepared(
            fn=run,
            bytes=float(2 * rows * cols * itemsize),
            output=lambda: out,
            reference=lambda: torch.softmax(x_host.double(), dim=-1),
        )


FAMILY = SoftmaxFamily()

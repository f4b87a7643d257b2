"""Sample inputs and operator outputs: moving, calling, comparing (for the operator sweep).

Shared by the eager sweep (:mod:`accelbench.ops.execute`), its compiled
counterpart (:mod:`accelbench.ops.compiled`) and the quick timing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils import _pytree

from accelbench.devices import Device
from accelbench.numerics.checks import CheckResult, _reference_check
from accelbench.numerics.tensors import int_view_dtype
from accelbench.workloads.base import DTYPES, Prepared

__all__ = ["SEED", "SampleRun", "call", "compare_outputs", "leaves", "longest_dim",
           "merge_columns", "moved", "real", "same_bits"]

#: ``torch.manual_seed`` before every call of the operator.
SEED = 0
_FLOATS = frozenset(DTYPES.values())


@dataclass
class SampleRun:
    """One sample that ran on the device: its inputs, outputs and float64 reference."""

    index: int
    sample: Any
    outputs: list[torch.Tensor]
    reference: list[torch.Tensor] | None


def leaves(out: Any) -> list[torch.Tensor]:
    """The tensors of an operator's output (numbers become 0-d tensors)."""
    leaves = []
    for leaf in _pytree.tree_leaves(out):
        if isinstance(leaf, torch.Tensor):
            leaf = leaf.detach()
            leaves.append(leaf.to_dense() if leaf.layout != torch.strided else leaf)
        elif isinstance(leaf, bool | int | float):
            leaves.append(torch.tensor(leaf))
    return leaves


def moved(sample: Any, device: torch.device, cast: torch.dtype | None = None,
           swept: torch.dtype | None = None) -> Any:
    """A copy of ``sample`` on ``device``; tensors of dtype ``swept`` cast to ``cast``."""

    def convert(t: torch.Tensor) -> torch.Tensor:
        return t.to(device, cast) if cast is not None and t.dtype == swept else t.to(device)

    def move(t: Any) -> Any:
        if not isinstance(t, torch.Tensor):
            return t
        base = t._base
        if base is not None and base.is_contiguous() and base.storage_offset() == 0 and \
                t.layout == torch.strided:
            # a view keeps its geometry over a converted copy of its base: as_strided
            # samples reach past the view's own elements
            return convert(base).clone().as_strided(t.size(), t.stride(), t.storage_offset())
        out = convert(t)
        return out.clone() if out is t else out  # fresh inputs: an operator may write them

    return sample.transform(move)


def call(fn: Callable[..., Any], sample: Any, device: Device, seed: int = SEED) -> Any:
    if device.backend == "cpu":
        torch.default_generator.manual_seed(seed)  # torch.manual_seed also seeds every backend
    else:
        torch.manual_seed(seed)
    out = fn(sample.input, *sample.args, **sample.kwargs)
    device.synchronize()
    return out


def real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t.resolve_conj()) if t.is_complex() else t


def same_bits(a: Sequence[torch.Tensor], b: Sequence[torch.Tensor]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        x, y = real(x), real(y)
        if x.shape != y.shape or x.dtype != y.dtype:
            return False
        if x.dtype in _FLOATS:
            x, y = x.contiguous().view(int_view_dtype(x.dtype)), y.contiguous().view(
                int_view_dtype(y.dtype))
        if not torch.equal(x, y):
            return False
    return True


def longest_dim(sample: Any) -> int:
    """The largest dimension of the sample's tensors: an upper bound on the length of a
    reduction along one dimension, which widens the dtype tolerance like a matmul's K."""
    sizes = [1]
    for leaf in _pytree.tree_leaves((sample.input, sample.args, sample.kwargs)):
        if isinstance(leaf, torch.Tensor) and leaf.dim():
            sizes.append(max(leaf.shape))
    return max(sizes)


def compare_outputs(outs: Sequence[torch.Tensor], refs: Sequence[torch.Tensor],
                    reduction_length: int = 1) -> tuple[list[dict[str, Any]], str | None, bool]:
    """Agreement of each output with its reference: columns, why not (or None), NaN/Inf.

    Floating outputs go through the families' comparison
    (:func:`accelbench.numerics.checks._reference_check`, the dtype tolerance
    for sums of ``reduction_length`` terms); integer and boolean outputs must
    be equal.
    """
    if len(outs) != len(refs):
        return [], f"{len(outs)} outputs, the reference has {len(refs)}", False
    columns, why, nan_inf = [], None, False
    for j, (out, ref) in enumerate(zip(outs, refs, strict=True)):
        out, ref = real(out), real(ref)
        if out.dtype in _FLOATS:
            result = CheckResult()
            ref64 = ref.to("cpu", torch.float64)
            try:
                prepared = Prepared(fn=_nothing, reference=_constant(ref64),
                                    reduction_length=reduction_length)
                _reference_check(prepared, out, result)
            except ValueError as exc:  # shapes differ
                why = why or f"output {j}: {exc}"
                continue
            columns.append(result.columns)
            if result.mismatch and why is None:
                why = f"output {j}: {result.mismatch}"
            nan_inf |= bool(result.columns.get("nan_mismatch") or
                            result.columns.get("inf_mismatch"))
        elif out.shape != ref.shape:
            why = why or f"output {j}: shape {tuple(out.shape)}, reference {tuple(ref.shape)}"
        else:
            wrong = int((out.cpu() != ref.to(out.dtype)).sum())
            if wrong and why is None:
                why = f"output {j}: {wrong} of {out.numel()} {out.dtype} elements differ"
    return columns, why, nan_inf


def _nothing() -> None:
    return None


def _constant(t: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: t


def merge_columns(into: dict[str, Any], columns: dict[str, Any]) -> None:
    """Fold one output's agreement columns into the row: the worst value of each.

    Counts (``ref_elements``, NaN/Inf mismatches) add up, ``ulp_mean`` is
    weighted by elements, a cosine keeps its minimum and every other figure
    its maximum, so figures the comparison gains later arrive here as well.
    """
    n = int(columns.get("ref_elements") or 0)
    for key, value in columns.items():
        if key == "tolerance" or not isinstance(value, int | float) or value != value:
            continue
        if key in ("ref_elements", "nan_mismatch", "inf_mismatch"):
            into[key] = into.get(key, 0) + int(value)
        elif key == "ulp_mean":
            into["_ulp_sum"] = into.get("_ulp_sum", 0.0) + float(value) * n
        elif "cosine" in key:
            into[key] = min(into.get(key, float(value)), float(value))
        else:
            into[key] = max(into.get(key, float(value)), float(value))



"""Numerical agreement helpers: tensors to numpy views, dtype-aware tolerances.

The heavy lifting (error metrics, ULP distances, hashes) is in the native
core (:func:`accelbench._core.compare_to_reference`, :func:`~accelbench._core.compare`,
:func:`~accelbench._core.fingerprint`); this module only prepares its inputs.

Tolerance rule
--------------
An element passes when ``|out - ref| <= atol + rtol * |ref|`` with::

    rtol = rtol_out[dtype] + rtol_acc[dtype] * sqrt(K)
    atol = max(atol_out[dtype], rtol * rms(ref))

=====  ==========  ==========  ========
dtype  rtol_out    rtol_acc    atol_out
=====  ==========  ==========  ========
fp64   1e-7        1e-7        1e-7
fp32   1.3e-6      1.3e-6      1e-5
fp16   1e-3        1e-4        1e-5
bf16   1.6e-2      1e-4        1e-5
=====  ==========  ==========  ========

``rtol_out`` and ``atol_out`` are ``torch.testing.assert_close``'s defaults
(a few roundings in the output dtype). ``K`` is the reduction length the
family declares (``Prepared.extra["reduction_length"]``; matmul: the inner
dimension), 1 otherwise: a sum of K terms collects K rounding errors of
random sign, whose total grows like ``sqrt(K)`` units of the *accumulation*
precision (float32 for the half types, as PyTorch accumulates them;
``rtol_acc`` of 1e-4 leaves room for split-K partial sums rounded to half
precision). The ``rms(ref)`` term judges elements that are near zero by
cancellation (a dot product of random vectors) on the scale of the output,
not on their own tiny magnitude. A family may override both with
``Prepared.extra["tolerance"] = (rtol, atol)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

__all__ = [
    "TOLERANCES",
    "Tolerance",
    "as_numpy",
    "dtype_name",
    "int_view_dtype",
    "tolerance_for",
]

#: (rtol_out, rtol_acc, atol_out) per dtype; see the module docstring.
TOLERANCES: dict[str, tuple[float, float, float]] = {
    "fp64": (1e-7, 1e-7, 1e-7),
    "fp32": (1.3e-6, 1.3e-6, 1e-5),
    "fp16": (1e-3, 1e-4, 1e-5),
    "bf16": (1.6e-2, 1e-4, 1e-5),
}

_NAMES = {
    torch.float64: "fp64",
    torch.float32: "fp32",
    torch.float16: "fp16",
    torch.bfloat16: "bf16",
}

_INT_VIEW = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


@dataclass(frozen=True)
class Tolerance:
    """``|out - ref| <= atol + rtol * |ref|``."""

    rtol: float
    atol: float

    def __str__(self) -> str:
        return f"rtol={self.rtol:.3g} atol={self.atol:.3g}"


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``'bf16'``; ValueError for dtypes the checks do not cover."""
    try:
        return _NAMES[dtype]
    except KeyError:
        raise ValueError(f"numerical checks cover fp64/fp32/fp16/bf16, not {dtype}") from None


def int_view_dtype(dtype: torch.dtype) -> torch.dtype:
    """The integer dtype of the same width (for bitwise comparisons on the device)."""
    return _INT_VIEW[dtype]


def as_numpy(tensor: torch.Tensor) -> tuple[npt.NDArray[Any], str]:
    """A CPU numpy view of ``tensor`` and its dtype name, without a copy when possible.

    A CPU contiguous tensor is shared, not copied; a device tensor is copied to
    the host once. float16 and bfloat16 come back as int16 bits (numpy has no
    bfloat16), which the native functions accept with the explicit dtype.
    """
    name = dtype_name(tensor.dtype)
    t = tensor.detach().to("cpu").contiguous()
    if name in ("fp16", "bf16"):
        t = t.view(torch.int16)
    return t.numpy(), name


def tolerance_for(
    dtype: str, reduction_length: int = 1, reference: npt.NDArray[np.float64] | None = None
) -> Tolerance:
    """The dtype-aware tolerance of the module docstring."""
    rtol_out, rtol_acc, atol_out = TOLERANCES[dtype]
    rtol = rtol_out + rtol_acc * math.sqrt(max(1, reduction_length))
    atol = atol_out
    if reference is not None and reference.size:
        finite = reference[np.isfinite(reference)]
        if finite.size:
            rms = float(np.sqrt(np.mean(np.square(finite))))
            atol = max(atol, rtol * rms)
    return Tolerance(rtol, atol)

"""Tensors to numpy views for the native numerics (error metrics, ULP distances, hashes).

The heavy lifting is in the native core
(:func:`accelbench._core.compare_to_reference`, :func:`~accelbench._core.compare`,
:func:`~accelbench._core.fingerprint`); this module only prepares its inputs.
Tolerances are in :mod:`accelbench.numerics.tolerance`.
"""

from __future__ import annotations

from typing import Any

import numpy.typing as npt
import torch

__all__ = ["as_numpy", "dtype_name", "int_view_dtype"]

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

"""Dtype-aware tolerances of the numerical checks (no torch: the read side uses them too).

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
family declares (``Prepared.reduction_length``; matmul: the inner
dimension), 1 otherwise: a sum of K terms collects K rounding errors of
random sign, whose total grows like ``sqrt(K)`` units of the *accumulation*
precision (float32 for the half types, as PyTorch accumulates them;
``rtol_acc`` of 1e-4 leaves room for split-K partial sums rounded to half
precision). The ``rms(ref)`` term judges elements that are near zero by
cancellation (a dot product of random vectors) on the scale of the output,
not on their own tiny magnitude. A family may override both with
``Prepared.tolerance = (rtol, atol)``.

The agreement figures of the same pass take two more thresholds per dtype
(:data:`AGREEMENT`): elements whose reference is below ``small`` in
magnitude are *small values*, judged by absolute error alone
(``|out - ref| <= atol``: a relative error means nothing there), and
``ulp_frac`` counts the elements more than ``ulp`` units in the last place
away. The thresholds are Ascend msprobe's (small values: 2^-8 bf16, 2^-11
fp16, 2^-14 fp32; ULP: 1 for the half types, 32 for fp32); fp64 takes fp32's.
The pass rule that uses them is :func:`accelbench.numerics.agreement.failures`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["AGREEMENT", "TOLERANCES", "Tolerance", "tolerance_for"]

#: (rtol_out, rtol_acc, atol_out) per dtype; see the module docstring.
TOLERANCES: dict[str, tuple[float, float, float]] = {
    "fp64": (1e-7, 1e-7, 1e-7),
    "fp32": (1.3e-6, 1.3e-6, 1e-5),
    "fp16": (1e-3, 1e-4, 1e-5),
    "bf16": (1.6e-2, 1e-4, 1e-5),
}

#: (small-value threshold on |ref|, ULP threshold of ulp_frac) per dtype; see the docstring.
AGREEMENT: dict[str, tuple[float, int]] = {
    "fp64": (2.0**-14, 32),
    "fp32": (2.0**-14, 32),
    "fp16": (2.0**-11, 1),
    "bf16": (2.0**-8, 1),
}


@dataclass(frozen=True)
class Tolerance:
    """``|out - ref| <= atol + rtol * |ref|``; small values (``|ref| < small``) within ``atol``."""

    rtol: float
    atol: float
    small: float = 0.0  # |ref| below this: a small value, judged by absolute error
    ulp: int = 0  # ULP threshold of ulp_frac

    @property
    def small_atol(self) -> float:
        """Absolute error a small value may have: the tolerance's ``atol``."""
        return self.atol

    def __str__(self) -> str:
        return f"rtol={self.rtol:.3g} atol={self.atol:.3g}"


def tolerance_for(
    dtype: str,
    reduction_length: int = 1,
    reference: npt.NDArray[np.float64] | None = None,
    override: tuple[float, float] | None = None,
) -> Tolerance:
    """The dtype-aware tolerance of the module docstring (``override``: a family's rtol, atol)."""
    small, ulp = AGREEMENT[dtype]
    if override is not None:
        return Tolerance(float(override[0]), float(override[1]), small, ulp)
    rtol_out, rtol_acc, atol_out = TOLERANCES[dtype]
    rtol = rtol_out + rtol_acc * math.sqrt(max(1, reduction_length))
    atol = atol_out
    if reference is not None and reference.size:
        finite = reference[np.isfinite(reference)]
        if finite.size:
            rms = float(np.sqrt(np.mean(np.square(finite))))
            atol = max(atol, rtol * rms)
    return Tolerance(rtol, atol, small, ulp)

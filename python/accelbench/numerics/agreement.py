"""The result columns of one comparison against a float64 reference, and the pass rule.

No torch: the read side may use it. One comparison
(:func:`accelbench._core.compare_to_reference`, one pass in Rust) gives every
figure; :func:`comparison_columns` turns it into the row's columns and
:func:`failures` says why it does not pass, if it does not. Every family's
reference check (:func:`accelbench.numerics.checks.check_case`) goes through
both.

**Figures that mean something at every scale** (read these first):

* ``cosine``: cosine similarity of output and reference as vectors. 1 is
  perfect; it ignores a common scale factor.
* ``rel_rmse``: RMS of the error over RMS of the reference. Unlike the
  maximum relative error, an element near zero weighs by its error, not by
  its error divided by a tiny number.
* ``ulp_frac``: share of elements more than the dtype's ULP threshold away
  from the reference rounded to the dtype (1 ULP for fp16/bf16, 32 for
  fp32); NaN/Inf mismatches count as beyond it.
* small values (``small_elements``, ``small_max_abs_err``,
  ``small_mismatches``): elements whose reference is below the dtype's
  small-value threshold, judged by absolute error.

``max_rel_err`` and ``ulp_max`` stay: on near-zero references they are
large for correct kernels (a quotient by a tiny number; a sign flip around
zero is thousands of ULP), so they describe the worst element, not the case.

**Pass rule** (:func:`failures`), per dtype through the tolerance
(:mod:`accelbench.numerics.tolerance`). A case fails when

1. the NaN/Inf pattern differs anywhere;
2. an element with ``|ref| >= small`` has ``|out - ref| > atol + rtol * |ref|``;
3. a small value has ``|out - ref| > atol``;
4. ``rel_rmse > rtol``: the error, taken over the whole output, is larger
   than the per-element relative tolerance. Rules 2-3 allow each element an
   error of ``rtol * (|ref| + rms(ref))``, so a systematic error of about
   ``rtol`` on every element (a scale off by 2% in bf16) passes them; this
   rule catches it. It also bounds the cosine: ``|out - ref| <= e * |ref|``
   implies ``cosine >= sqrt(1 - e^2)`` (0.99987 for bf16's 1.6%), so no
   separate cosine rule is needed. An all-zero reference (``rel_rmse``
   infinite as soon as there is any error) is left to rules 1-3.
"""

from __future__ import annotations

import math
from typing import Any

from accelbench import _core
from accelbench.numerics.tolerance import Tolerance

__all__ = ["comparison_columns", "failures", "worst_of"]

#: How :func:`worst_of` combines each column over several comparisons.
_WORST = {"cosine": min, "rel_rmse": max, "ulp_frac": max, "small_max_abs_err": max,
          "max_abs_err": max, "max_rel_err": max, "ulp_max": max, "ulp_mean": max,
          "mismatch_frac": max, "small_elements": sum, "small_mismatches": sum,
          "nan_mismatch": sum, "inf_mismatch": sum, "ref_elements": sum}


def comparison_columns(cmp: _core.ErrorMetrics, tol: Tolerance) -> dict[str, Any]:
    """The result columns of one comparison (names as in :mod:`accelbench.results.schema`)."""
    return {
        "cosine": cmp.cosine,
        "rel_rmse": cmp.rel_rmse,
        "ulp_frac": cmp.ulp_frac,
        "small_elements": cmp.small_elements,
        "small_max_abs_err": cmp.small_max_abs_err,
        "small_mismatches": cmp.small_mismatches,
        "max_abs_err": cmp.max_abs_err,
        "max_rel_err": cmp.max_rel_err,
        "ulp_max": float(cmp.ulp_max),
        "ulp_mean": cmp.ulp_mean,
        "mismatch_frac": cmp.mismatch_frac,
        "nan_mismatch": cmp.nan_mismatch,
        "inf_mismatch": cmp.inf_mismatch,
        "ref_elements": cmp.n,
        "tolerance": str(tol),
    }


def failures(cmp: _core.ErrorMetrics, tol: Tolerance) -> list[str]:
    """Why the comparison fails the pass rule of the module docstring (empty: it passes)."""
    reasons = []
    if cmp.nan_mismatch or cmp.inf_mismatch:
        reasons.append(f"NaN/Inf pattern differs ({cmp.nan_mismatch} NaN, "
                       f"{cmp.inf_mismatch} Inf mismatches)")
    if cmp.large_mismatches:
        reasons.append(f"{cmp.large_mismatches} of {cmp.n} elements outside {tol}")
    if cmp.small_mismatches:
        reasons.append(f"{cmp.small_mismatches} of {cmp.small_elements} small values "
                       f"(|ref| < {tol.small:.3g}) off by more than atol={tol.atol:.3g} "
                       f"(max {cmp.small_max_abs_err:.3g})")
    if not cmp.rel_rmse <= tol.rtol and cmp.rel_rmse != math.inf:  # NaN (overflow) fails
        reasons.append(f"rel_rmse {cmp.rel_rmse:.3g} above rtol={tol.rtol:.3g}")
    return reasons


def worst_of(columns: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns of several comparisons (the ranks of a collective) as one row: each figure's
    worst value (lowest cosine, highest errors), counts summed; ``tolerance`` of the first.
    Empty dicts (a comparison that could not run) are skipped."""
    columns = [c for c in columns if c]
    if not columns:
        return {}
    out: dict[str, Any] = {name: pick([c[name] for c in columns])  # type: ignore[operator]
                           for name, pick in _WORST.items()}
    out["tolerance"] = columns[0]["tolerance"]
    return out

"""Is the measured kernel computing the right thing, the same way each time?

:func:`check_case` runs after a case is sampled and fills the numerical
columns of its row:

* **Reference** (``cosine``, ``rel_rmse``, ``ulp_frac``, the small-value
  columns, ``max_abs_err``, ``max_rel_err``, ``ulp_max``, ``ulp_mean``,
  ``mismatch_frac``, ``nan_mismatch``, ``inf_mismatch``, ``tolerance``: see
  :mod:`accelbench.numerics.agreement`): the
  output of the last launch against ``Prepared.reference()``, the float64
  result computed on the CPU from the same inputs. When the reference covers
  only part of the output, ``Prepared.reference_slice`` is the index
  (anything ``tensor[idx]`` accepts) selecting that part, and only that part
  is compared (``ref_elements`` says how many). Tolerance: see
  :mod:`accelbench.numerics.tolerance`. A case that fails the pass rule of
  :mod:`accelbench.numerics.agreement` gets the status ``mismatch``.
* **Compiled against eager** (``vs_eager_max_abs_err``, ``vs_eager_max_rel_err``,
  ``vs_eager_ulp_max``, ``vs_eager_bitwise``): when the family gives
  ``Prepared.eager_output`` (the same computation op by op, same inputs), the
  output's distance from it. Reported, not judged: fusion reorders arithmetic.
* **Determinism** (``deterministic``): the kernel is launched once more on the
  same inputs and the two outputs are compared bitwise, on the device, as
  integers of the same width (so -0 vs +0 and NaN payloads count).
* **Fingerprint** (``fingerprint``): the 64-bit hash of the output bytes plus
  32 sampled elements, stored in ``fingerprints.parquet`` so that runs from
  different devices can be compared later (``accelbench consistency``).
* **Is the measurement real?** (``flags``, ``suspect``): ``reference_mismatch``
  (wrong answer), ``constant_output`` (every element equal although the
  inputs are random), ``input_insensitive`` (the same output hash after the
  case is prepared again from a different seed, i.e. from different inputs:
  the kernel ignores its inputs or never writes its output). ``suspect`` is
  true when any of these is set. Informational flags: ``no_reference``,
  ``no_output``. ``above_peak`` (throughput above the device's peak) is
  added later, where the peaks are known: the roofline annotation
  (:func:`accelbench.analysis.roofline.annotate`).

A family whose output legitimately does not depend on the input values (a
fill) sets ``Prepared.input_independent = True`` to skip the last
two input checks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from accelbench import _core
from accelbench.kinds import SUSPECT_FLAGS, Flag, join_flags
from accelbench.numerics.agreement import comparison_columns, failures
from accelbench.numerics.tensors import as_numpy, int_view_dtype
from accelbench.numerics.tolerance import tolerance_for
from accelbench.workloads import get_family
from accelbench.workloads.base import Case, Prepared

__all__ = ["ALT_INPUT_MAX_BYTES", "CheckResult", "check_case"]

#: Cases moving more bytes than this skip the second-input run (it costs a
#: second set of inputs in memory); the reference check still catches a
#: kernel that ignores its inputs.
ALT_INPUT_MAX_BYTES = 1 << 30

#: Elements sampled by the fingerprint: this many evenly spaced plus as many random.
FINGERPRINT_SAMPLES = 16


@dataclass
class CheckResult:
    """Columns to merge into the row, the fingerprint record, and a verdict."""

    columns: dict[str, Any] = field(default_factory=dict)
    fingerprint: dict[str, Any] | None = None
    mismatch: str | None = None  # why the case is a mismatch, if it is
    tolerance: tuple[float, float] | None = None  # (rtol, atol) of the reference check


def _snapshot(prepared: Prepared, device: Any) -> torch.Tensor:
    assert prepared.output is not None
    device.synchronize()
    return prepared.output().detach().clone()


def _bitwise_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    iv = int_view_dtype(a.dtype)
    return bool(torch.equal(a.contiguous().view(iv), b.contiguous().view(iv)))


def _fingerprint_record(case: Case, out: torch.Tensor) -> tuple[dict[str, Any], Any]:
    arr, name = as_numpy(out)
    fp = _core.fingerprint(arr, dtype=name, samples=FINGERPRINT_SAMPLES)
    record = {
        "key": case.key,
        "kernel": case.kernel,
        "case": case.case,
        "dtype": case.dtype,
        "shape": list(out.shape),
        "n": fp.n,
        "hash": fp.hash_hex,
        "positions": fp.positions,
        "bits": fp.bits,
        "values": [v if v == v and abs(v) != float("inf") else None for v in fp.values],
        "all_equal": fp.all_equal,
        "nan_count": fp.nan_count,
        "inf_count": fp.inf_count,
    }
    return record, fp


def _reference_check(prepared: Prepared, out: torch.Tensor, result: CheckResult) -> None:
    assert prepared.reference is not None
    ref = prepared.reference().detach().to("cpu", torch.float64).contiguous()
    idx = prepared.reference_slice
    part = out.cpu()[idx] if idx is not None else out.cpu()
    if tuple(part.shape) != tuple(ref.shape):
        raise ValueError(
            f"reference shape {tuple(ref.shape)} does not match the output part "
            f"{tuple(part.shape)} it is compared with"
        )
    arr, name = as_numpy(part)
    ref_np = ref.numpy()
    tol = tolerance_for(name, prepared.reduction_length, ref_np, override=prepared.tolerance)
    cmp = _core.compare_to_reference(
        arr, ref_np, dtype=name, rtol=tol.rtol, atol=tol.atol, small_threshold=tol.small,
        small_atol=tol.small_atol, ulp_threshold=tol.ulp,
    )
    result.columns.update(comparison_columns(cmp, tol))
    reasons = failures(cmp, tol)
    if reasons:
        i = cmp.first_mismatch
        first = ""
        if i is not None:
            o = float(part.reshape(-1)[i].double())
            r = float(ref.reshape(-1)[i])
            first = f"; first at flat index {i}: out={o!r} ref={r!r}"
        result.mismatch = (
            "; ".join(reasons) + f" (cosine {cmp.cosine:.6f}, rel_rmse {cmp.rel_rmse:.3g}, "
            f"max abs err {cmp.max_abs_err:.3g}, max ULP {cmp.ulp_max}){first}"
        )
    result.tolerance = (tol.rtol, tol.atol)


def _vs_eager(out: torch.Tensor, eager: torch.Tensor) -> dict[str, Any]:
    """Distance of an output from the eager result of the same computation on the same inputs."""
    a, name = as_numpy(out)
    b, _ = as_numpy(eager.detach().to(out.dtype))
    cmp = _core.compare(a, b, dtype=name)
    return {"vs_eager_max_abs_err": cmp.max_abs_err, "vs_eager_max_rel_err": cmp.max_rel_err,
            "vs_eager_ulp_max": float(cmp.ulp_max), "vs_eager_bitwise": cmp.identical}


def _alt_input_hash(case: Case, device: Any) -> str | None:
    """Output hash of the same kernel prepared from a different seed (different inputs)."""
    alt_case = dataclasses.replace(case, input_variant=case.input_variant + 1)
    alt = get_family(case.kernel).prepare(alt_case, device)
    if alt.output is None:
        return None
    alt.fn()
    out = _snapshot(alt, device)
    arr, name = as_numpy(out)
    return _core.fingerprint(arr, dtype=name, samples=0).hash_hex


def check_case(case: Case, prepared: Prepared, device: Any) -> CheckResult:
    """Reference, determinism, fingerprint and plausibility checks of a sampled case."""
    result = CheckResult()
    flags: list[Flag] = []
    if prepared.output is None:
        flags.append(Flag.NO_OUTPUT)
    else:
        first = _snapshot(prepared, device)
        prepared.fn()
        second = _snapshot(prepared, device)
        result.columns["deterministic"] = _bitwise_equal(first, second)
        del second
        record, fp = _fingerprint_record(case, first)
        result.columns["fingerprint"] = fp.hash_hex
        if prepared.eager_output is not None:
            result.columns.update(_vs_eager(first, prepared.eager_output))
        if prepared.reference is None:
            flags.append(Flag.NO_REFERENCE)
        else:
            _reference_check(prepared, first, result)
            if result.mismatch:
                flags.append(Flag.REFERENCE_MISMATCH)
        rtol, atol = result.tolerance or (None, None)
        record.update(rtol=rtol, atol=atol)
        result.fingerprint = record
        independent = prepared.input_independent
        if not independent:
            if fp.all_equal and fp.n > 1:
                flags.append(Flag.CONSTANT_OUTPUT)
            nbytes = prepared.bytes or 0
            if nbytes <= ALT_INPUT_MAX_BYTES:
                alt_hash = _alt_input_hash(case, device)
                if alt_hash is not None and alt_hash == fp.hash_hex:
                    flags.append(Flag.INPUT_INSENSITIVE)
    result.columns["flags"] = join_flags(flags)
    result.columns["suspect"] = any(f in SUSPECT_FLAGS for f in flags)
    return result

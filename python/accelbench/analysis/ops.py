"""Figures of an operator sweep (``accelbench ops``): support, agreement, determinism, defects.

No torch: works on the results table of a run. Definitions:

* **supported**: the operator ran on the device in that dtype (status ``ok``
  or ``mismatch``); ``operators`` is how many (operator, dtype) were swept.
  ``cuda_declared``: of those, how many OpInfo declares for CUDA (what the
  reference platform supports, when no baseline run is given), and how many
  of them are supported here.
* **consistency rate**: the share of supported (operator, dtype) whose every
  output agrees with the float64 reference on the CPU within the dtype
  tolerance; with a baseline run, the share whose two-sided verdict is
  ``agrees`` or ``shared_error`` (see :func:`judge`).
* **determinism rate**: the share of supported (operator, dtype) whose
  outputs were bitwise equal when run twice on the same inputs (operators whose
  output is uninitialised memory, ``empty``, are left out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from accelbench.kinds import OpVerdict, Status
from accelbench.results.schema import as_float

__all__ = ["RATIO_LIMIT", "DtypeFigures", "OpsSummary", "judge", "summarize"]

#: A mismatching operator is not blamed when its max abs error on the same inputs is at
#: most this many times the baseline device's (the middle level of Ascend msprobe's
#: max-error ratio limits 10 / 5 / 2).
RATIO_LIMIT = 5.0
_SUPPORTED = (Status.OK.value, Status.MISMATCH.value)


@dataclass
class DtypeFigures:
    """The summary figures of one dtype (or of all, ``dtype = "all"``)."""

    dtype: str
    operators: int
    counts: dict[str, int]
    supported: int
    consistent: int
    deterministic: int
    determinism_checked: int  # supported rows whose determinism is known (not ``empty``)
    cuda_declared: int
    cuda_declared_supported: int
    baseline_supported: int | None = None

    def rate(self, part: int) -> float:
        return part / self.supported if self.supported else float("nan")


@dataclass
class OpsSummary:
    """Per dtype and overall figures, and defect counts by kind."""

    figures: list[DtypeFigures]
    defects: dict[str, int] = field(default_factory=dict)
    baseline: str | None = None

    @property
    def overall(self) -> DtypeFigures:
        return self.figures[-1]


def _figures(dtype: str, rows: pd.DataFrame, judged: bool) -> DtypeFigures:
    status = rows["status"].astype(str)
    supported = status.isin(_SUPPORTED)
    if judged:
        good = rows["baseline_verdict"].isin((OpVerdict.AGREES.value, OpVerdict.SHARED.value))
    else:
        good = status == Status.OK.value
    cuda = rows["declared_cuda"].fillna(False).astype(bool) if "declared_cuda" in rows \
        else pd.Series(False, index=rows.index)
    det = rows["deterministic"].fillna(False).astype(bool)
    checked = rows["deterministic"].notna()
    base = None
    if judged:
        base = int(rows["baseline_status"].isin(_SUPPORTED).sum())
    return DtypeFigures(
        dtype=dtype, operators=len(rows),
        counts={s: int((status == s).sum()) for s in Status.values()},
        supported=int(supported.sum()), consistent=int((supported & good).sum()),
        deterministic=int((supported & det).sum()),
        determinism_checked=int((supported & checked).sum()), cuda_declared=int(cuda.sum()),
        cuda_declared_supported=int((cuda & supported).sum()), baseline_supported=base)


def summarize(frame: pd.DataFrame, defects: Sequence[Mapping[str, Any]] = (),
              baseline: str | None = None) -> OpsSummary:
    """Figures per dtype (in the order swept) and over all dtypes."""
    rows = frame[frame["kernel"] == "ops"]
    judged = "baseline_verdict" in rows and bool(rows["baseline_verdict"].notna().any())
    figures = [_figures(str(d), rows[rows["dtype"] == d], judged)
               for d in dict.fromkeys(rows["dtype"].astype(str))]
    figures.append(_figures("all", rows, judged))
    kinds: dict[str, int] = {}
    for d in defects:
        kinds[str(d["kind"])] = kinds.get(str(d["kind"]), 0) + 1
    return OpsSummary(figures, kinds, baseline)


def _ratio(err: Any, base: Any) -> float | None:
    a, b = as_float(err), as_float(base)
    if a is None or b is None:
        return None
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


def _verdict(status: str, base_status: str | None, ratio: float | None) -> OpVerdict:
    if status == Status.OK.value:
        return OpVerdict.AGREES
    if status == Status.MISMATCH.value:
        shared = base_status == Status.MISMATCH.value and ratio is not None and \
            ratio <= RATIO_LIMIT
        return OpVerdict.SHARED if shared else OpVerdict.WORSE
    if status == Status.UNSUPPORTED.value:
        return OpVerdict.MISSING if base_status in _SUPPORTED else OpVerdict.NOT_COMPARED
    return OpVerdict.FAILS


def judge(frame: pd.DataFrame, baseline: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with the two-sided verdict against the baseline run's same (operator, dtype).

    Both runs saw bit-identical inputs, so their errors against the float64
    reference are comparable: ``error_ratio`` = this device's max abs error /
    the baseline device's; ``baseline_verdict``: see :class:`~accelbench.kinds.OpVerdict`
    (``shared_error`` when both mismatch and the ratio is at most :data:`RATIO_LIMIT`).
    """
    base = baseline[baseline["kernel"] == "ops"].drop_duplicates(["case", "dtype"], keep="last")
    index = {(str(c), str(d)): r for c, d, r in zip(base["case"], base["dtype"],
                                                    base.to_dict("records"), strict=True)}
    statuses, ratios, verdicts = [], [], []
    for case, dtype, status, err in zip(frame["case"], frame["dtype"], frame["status"],
                                        frame["max_abs_err"], strict=True):
        b = index.get((str(case), str(dtype)))
        base_status = None if b is None else str(b["status"])
        ratio = None if b is None else _ratio(err, b.get("max_abs_err"))
        statuses.append(base_status)
        ratios.append(ratio)
        verdict = _verdict(str(status), base_status, ratio)
        if b is None and verdict not in (OpVerdict.AGREES, OpVerdict.FAILS):
            verdict = OpVerdict.NOT_COMPARED  # a mismatch or a missing op needs the other side
        verdicts.append(verdict.value)
    out = frame.copy()
    out["baseline_status"] = pd.Series(statuses, index=frame.index, dtype="string")
    out["error_ratio"] = pd.Series(ratios, index=frame.index, dtype="float64")
    out["baseline_verdict"] = pd.Series(verdicts, index=frame.index, dtype="string")
    return out
